//! Authorization codes, grants and refresh tokens.
//!
//! A **grant** is what one authorization-code exchange (or a refresh-token family) stands on;
//! revoking it invalidates every access and refresh token issued under it. Codes and refresh
//! tokens are stored only as SHA-256 hashes. Single use is enforced by an `UPDATE … WHERE used_at
//! IS NULL` that exactly one request can win, on any node; the claiming write comes first in each
//! transaction so SQLite never has to upgrade a read lock.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, Set};

use super::entity::{auth_code, grant, refresh_token, revoked_token, sso_session, user};
use super::rows::{NewSsoSession, insert_auth_code_in, insert_sso_session_in};
use super::{Result, Store, StoreError, now};

pub use super::rows::NewAuthCode;

/// The outcome of presenting an authorization code.
#[derive(Debug)]
pub enum CodeExchange {
    /// First use: the code is now spent, and its grant id is reserved.
    Claimed(Box<auth_code::Model>),
    /// The code was used before; the grant issued by its first use has been revoked. Holds
    /// the code (whose grant id is its hash), to say whose tokens were revoked.
    Reused(Box<auth_code::Model>),
    Expired,
    Unknown,
}

/// The outcome of presenting a refresh token.
#[derive(Debug)]
pub enum RefreshRotation {
    /// The token was spent and a new one stored in its place.
    Rotated(Box<grant::Model>),
    /// The token had already been rotated: the whole family (grant, given) is now revoked.
    Reused(Box<grant::Model>),
    /// The SSO session behind the grant has ended or expired; the grant is now revoked.
    SessionEnded,
    Revoked,
    Expired,
    Unknown,
}

impl Store {
    pub async fn insert_auth_code(&self, new: NewAuthCode) -> Result<()> {
        insert_auth_code_in(&self.db, new).await
    }

    /// Spends a code. The grant created from it must use the code hash as its id (see
    /// [`Store::create_grant`]), so that a replay racing the first exchange still revokes it.
    pub async fn claim_code(&self, code_hash: &str) -> Result<CodeExchange> {
        let t = now();
        let txn = self.write_txn().await?;
        let claimed = auth_code::Entity::update_many()
            .col_expr(auth_code::Column::UsedAt, t.into())
            .col_expr(auth_code::Column::GrantId, code_hash.into())
            .filter(auth_code::Column::CodeHash.eq(code_hash))
            .filter(auth_code::Column::UsedAt.is_null())
            .filter(auth_code::Column::ExpiresAt.gt(t))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        let Some(code) = auth_code::Entity::find_by_id(code_hash).one(&txn).await? else {
            return Ok(CodeExchange::Unknown);
        };
        let outcome = if claimed {
            CodeExchange::Claimed(Box::new(code))
        } else if code.used_at.is_some() {
            // Replay: revoke whatever the first use issued, or pre-empt it if it is still
            // being issued (the revoked placeholder makes its insert fail).
            revoke_or_reserve_grant(&txn, &code, t).await?;
            CodeExchange::Reused(Box::new(code))
        } else {
            CodeExchange::Expired
        };
        txn.commit().await?;
        Ok(outcome)
    }

    /// Stores a grant and, optionally, its first refresh token, in one transaction.
    ///
    /// Tokens never outlive the SSO session they stand on: the session is touched first (on
    /// PostgreSQL that row lock orders this against a concurrent logout), and a dead session
    /// fails with [`StoreError::NotFound`]. The refresh token expires with the session at the
    /// latest.
    pub async fn create_grant(&self, g: grant::Model, refresh: Option<String>, lifetimes: Lifetimes) -> Result<()> {
        let txn = self.write_txn().await?;
        create_grant_in(&txn, g, refresh, lifetimes).await?;
        txn.commit().await?;
        Ok(())
    }

    /// A sign-in without a browser (the password grant): its session and its grant, together.
    pub async fn create_session_with_grant(
        &self,
        session: NewSsoSession,
        g: grant::Model,
        refresh: Option<String>,
        lifetimes: Lifetimes,
    ) -> Result<()> {
        let txn = self.write_txn().await?;
        insert_sso_session_in(&txn, session).await?;
        create_grant_in(&txn, g, refresh, lifetimes).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Spends refresh token `token_hash` of `grant` (the grant read by the same hash) and
    /// stores `next_hash` in its place, in one transaction. The usual case is three statements
    /// between `BEGIN` and `COMMIT`: the claim (which also checks the grant is unrevoked), the
    /// touch of the grant's SSO session as it is now (which returns its hard end), the insert.
    /// Anything else is sorted out afterwards, in the same transaction.
    pub async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        next_hash: &str,
        grant: &grant::Model,
        lifetimes: Lifetimes,
    ) -> Result<RefreshRotation> {
        let t = now();
        let txn = self.write_txn().await?;
        let outcome = if claim_refresh_of_live_grant(&txn, token_hash, &grant.id, t).await? {
            let session = match grant.session_id {
                Some(_) => touch_grant_session(&txn, &grant.id, lifetimes.sso_idle_secs, t).await?,
                None => Some((None, i64::MAX)),
            };
            match session {
                Some((session_id, end)) => {
                    insert_refresh(&txn, next_hash, &grant.id, (t + lifetimes.refresh_ttl_secs).min(end)).await?;
                    // The session may have been handed over since `grant` was read (a step-up).
                    let current = grant::Model {
                        session_id: session_id.or_else(|| grant.session_id.clone()),
                        ..grant.clone()
                    };
                    RefreshRotation::Rotated(Box::new(current))
                }
                None => {
                    revoke_grant_in(&txn, &grant.id, t).await?;
                    RefreshRotation::SessionEnded
                }
            }
        } else {
            unclaimed_refresh(&txn, token_hash, t).await?
        };
        txn.commit().await?;
        Ok(outcome)
    }

    /// The grant with this id (revoked or not).
    pub async fn grant(&self, grant_id: &str) -> Result<Option<grant::Model>> {
        Ok(grant::Entity::find_by_id(grant_id).one(&self.db).await?)
    }

    /// A refresh token that is unspent and unexpired, with its live grant (one query).
    pub async fn live_refresh_token(&self, token_hash: &str) -> Result<Option<(refresh_token::Model, grant::Model)>> {
        let of_grant = refresh_token::Entity::belongs_to(grant::Entity)
            .from(refresh_token::Column::GrantId)
            .to(grant::Column::Id)
            .into();
        let found = refresh_token::Entity::find_by_id(token_hash)
            .select_also(grant::Entity)
            .join(JoinType::InnerJoin, of_grant)
            .one(&self.db)
            .await?;
        let Some((token, Some(g))) = found else {
            return Ok(None);
        };
        if token.used_at.is_some() || token.expires_at <= now() || g.revoked_at.is_some() {
            return Ok(None);
        }
        Ok(Some((token, g)))
    }

    /// A grant with its user (none for a client's own grant), in one query: userinfo's only
    /// database read.
    pub async fn grant_with_user(&self, grant_id: &str) -> Result<Option<(grant::Model, Option<user::Model>)>> {
        let of_user = grant_user();
        Ok(grant::Entity::find_by_id(grant_id)
            .select_also(user::Entity)
            .join(JoinType::LeftJoin, of_user)
            .one(&self.db)
            .await?)
    }

    /// As [`grant_with_user`](Self::grant_with_user), only while the grant's SSO session is
    /// live (as `sessions::is_live` decides), in one statement: for APIs that act on the
    /// user's sessions, which refuse a token whose session has ended.
    pub async fn grant_with_user_in_live_session(
        &self,
        grant_id: &str,
        idle_secs: i64,
    ) -> Result<Option<(grant::Model, Option<user::Model>)>> {
        let t = now();
        let of_user = grant_user();
        // A join on the session's primary key, not `IN (SELECT … live sessions)`: SQLite would
        // build the whole list of live sessions for every request.
        let in_session = grant::Entity::belongs_to(sso_session::Entity)
            .from(grant::Column::SessionId)
            .to(sso_session::Column::Id)
            .into();
        Ok(grant::Entity::find_by_id(grant_id)
            .join(JoinType::InnerJoin, in_session)
            .filter(sso_session::Column::EndedAt.is_null())
            .filter(sso_session::Column::ExpiresAt.gt(t))
            .filter(sso_session::Column::LastSeenAt.gt(t - idle_secs))
            .select_also(user::Entity)
            .join(JoinType::LeftJoin, of_user)
            .one(&self.db)
            .await?)
    }

    /// The grant of refresh token `token_hash` (whatever the token's state) with its user, in
    /// one statement.
    pub async fn grant_with_user_of_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(grant::Model, Option<user::Model>)>> {
        let of_token: sea_orm::RelationDef = refresh_token::Entity::belongs_to(grant::Entity)
            .from(refresh_token::Column::GrantId)
            .to(grant::Column::Id)
            .into();
        let of_user = grant_user();
        Ok(grant::Entity::find()
            .join(JoinType::InnerJoin, of_token.rev())
            .filter(refresh_token::Column::TokenHash.eq(token_hash))
            .select_also(user::Entity)
            .join(JoinType::LeftJoin, of_user)
            .one(&self.db)
            .await?)
    }

    /// The grant a refresh token belongs to, whatever the token's state.
    pub async fn grant_of_refresh_token(&self, token_hash: &str) -> Result<Option<String>> {
        Ok(refresh_token::Entity::find_by_id(token_hash)
            .one(&self.db)
            .await?
            .map(|t| t.grant_id))
    }

    /// Revokes a grant and everything issued from it; true if it was live until now.
    pub async fn revoke_grant(&self, grant_id: &str) -> Result<bool> {
        revoke_grant_in(&self.db, grant_id, now()).await
    }

    /// Puts a single access token (one not tied to a grant) on the deny list until it expires.
    pub async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
        revoked_token::Entity::insert(revoked_token::ActiveModel {
            jti: Set(jti.to_string()),
            expires_at: Set(expires_at),
        })
        .on_conflict_do_nothing_on([revoked_token::Column::Jti])
        .exec(&self.db)
        .await?;
        Ok(())
    }

    pub async fn is_jti_revoked(&self, jti: &str) -> Result<bool> {
        Ok(revoked_token::Entity::find_by_id(jti).one(&self.db).await?.is_some())
    }
}

/// How long refresh tokens and the sessions behind them live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub refresh_ttl_secs: i64,
    pub sso_idle_secs: i64,
}

/// The relation from a grant to its user (none for a client's own grant), for joins.
fn grant_user() -> sea_orm::RelationDef {
    grant::Entity::belongs_to(user::Entity)
        .from(grant::Column::UserId)
        .to(user::Column::Id)
        .into()
}

/// Marks the SSO session as just used if it is still live, returning its hard end.
async fn touch_session(db: &impl ConnectionTrait, sid: &str, idle_secs: i64, t: i64) -> Result<Option<i64>> {
    let touched = sso_session::Entity::update_many()
        .col_expr(sso_session::Column::LastSeenAt, t.into())
        .filter(sso_session::Column::Id.eq(sid))
        .filter(sso_session::Column::EndedAt.is_null())
        .filter(sso_session::Column::ExpiresAt.gt(t))
        .filter(sso_session::Column::LastSeenAt.gt(t - idle_secs))
        .exec(db)
        .await?
        .rows_affected
        == 1;
    if !touched {
        return Ok(None);
    }
    Ok(sso_session::Entity::find_by_id(sid)
        .one(db)
        .await?
        .map(|s| s.expires_at))
}

/// Marks refresh token `token_hash` of grant `grant_id` used if it is unused, unexpired and its
/// grant unrevoked; whether it did. Exactly one request can win it, on any node.
async fn claim_refresh_of_live_grant(
    db: &impl ConnectionTrait,
    token_hash: &str,
    grant_id: &str,
    t: i64,
) -> Result<bool> {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let live_grant = Query::select()
        .expr(Expr::val(1))
        .from(grant::Entity)
        .and_where(
            Expr::col((grant::Entity, grant::Column::Id))
                .equals((refresh_token::Entity, refresh_token::Column::GrantId)),
        )
        .and_where(grant::Column::RevokedAt.is_null())
        .to_owned();
    Ok(refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, t.into())
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::GrantId.eq(grant_id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::ExpiresAt.gt(t))
        .filter(Expr::exists(live_grant))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Marks the SSO session grant `grant_id` now stands on as just used if it is still live, in
/// one statement; that session's id and hard end, or `None` when it has ended.
async fn touch_grant_session(
    db: &impl ConnectionTrait,
    grant_id: &str,
    idle_secs: i64,
    t: i64,
) -> Result<Option<(Option<String>, i64)>> {
    use sea_orm::sea_query::Query;
    let session_of_grant = Query::select()
        .column(grant::Column::SessionId)
        .from(grant::Entity)
        .and_where(grant::Column::Id.eq(grant_id))
        .to_owned();
    let stmt = Query::update()
        .table(sso_session::Entity)
        .value(sso_session::Column::LastSeenAt, t)
        .and_where(sso_session::Column::Id.in_subquery(session_of_grant))
        .and_where(sso_session::Column::EndedAt.is_null())
        .and_where(sso_session::Column::ExpiresAt.gt(t))
        .and_where(sso_session::Column::LastSeenAt.gt(t - idle_secs))
        .returning(Query::returning().columns([sso_session::Column::Id, sso_session::Column::ExpiresAt]))
        .to_owned();
    let Some(row) = db.query_one(&stmt).await? else {
        return Ok(None);
    };
    let id: String = row.try_get("", "id")?;
    let expires_at: i64 = row.try_get("", "expires_at")?;
    Ok(Some((Some(id), expires_at)))
}

/// Why refresh token `token_hash` could not be claimed: unknown, revoked, expired, or spent
/// before (which revokes its grant: RFC 9700 §4.14.2).
async fn unclaimed_refresh(db: &impl ConnectionTrait, token_hash: &str, t: i64) -> Result<RefreshRotation> {
    let Some(token) = refresh_token::Entity::find_by_id(token_hash).one(db).await? else {
        return Ok(RefreshRotation::Unknown);
    };
    let Some(g) = grant::Entity::find_by_id(&token.grant_id).one(db).await? else {
        return Ok(RefreshRotation::Unknown);
    };
    Ok(if g.revoked_at.is_some() {
        RefreshRotation::Revoked
    } else if token.used_at.is_some() {
        revoke_grant_in(db, &g.id, t).await?;
        RefreshRotation::Reused(Box::new(g))
    } else {
        RefreshRotation::Expired
    })
}

async fn insert_refresh(db: &impl ConnectionTrait, token_hash: &str, grant_id: &str, expires_at: i64) -> Result<()> {
    // Without `RETURNING` (or a read back): nothing of the row is needed.
    refresh_token::Entity::insert(refresh_token::ActiveModel {
        token_hash: Set(token_hash.to_string()),
        grant_id: Set(grant_id.to_string()),
        created_at: Set(now()),
        expires_at: Set(expires_at),
        used_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Revokes a grant; true if it was live until now (false: unknown or already revoked).
async fn revoke_grant_in(db: &impl ConnectionTrait, grant_id: &str, t: i64) -> Result<bool> {
    let revoked = grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, t.into())
        .filter(grant::Column::Id.eq(grant_id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected;
    Ok(revoked > 0)
}

async fn revoke_or_reserve_grant(db: &impl ConnectionTrait, code: &auth_code::Model, t: i64) -> Result<()> {
    let placeholder = grant::ActiveModel {
        id: Set(code.code_hash.clone()),
        realm: Set(code.realm.clone()),
        client_id: Set(code.client_id.clone()),
        user_id: Set(Some(code.user_id.clone())),
        session_id: Set(Some(code.session_id.clone())),
        scope: Set(String::new()),
        data: Set("{}".into()),
        created_at: Set(t),
        revoked_at: Set(Some(t)),
    };
    grant::Entity::insert(placeholder)
        .on_conflict_do_nothing_on([grant::Column::Id])
        .exec(db)
        .await?;
    revoke_grant_in(db, &code.code_hash, t).await?;
    Ok(())
}

/// Writes a grant (and its first refresh token) within `txn`, for a live session.
async fn create_grant_in(
    txn: &impl ConnectionTrait,
    g: grant::Model,
    refresh: Option<String>,
    lifetimes: Lifetimes,
) -> Result<()> {
    let t = now();
    let session_end = match &g.session_id {
        Some(sid) => touch_session(txn, sid, lifetimes.sso_idle_secs, t)
            .await?
            .ok_or_else(|| StoreError::NotFound("the sign-in session".into()))?,
        None => i64::MAX,
    };
    let grant_id = g.id.clone();
    let inserted = grant::Entity::insert(grant::ActiveModel::from(g))
        .on_conflict_do_nothing_on([grant::Column::Id])
        .exec(txn)
        .await?;
    if matches!(inserted, sea_orm::TryInsertResult::Conflicted) {
        return Err(StoreError::Conflict(format!("grant {grant_id}")));
    }
    if let Some(token_hash) = refresh {
        let expires_at = (t + lifetimes.refresh_ttl_secs).min(session_end);
        insert_refresh(txn, &token_hash, &grant_id, expires_at).await?;
    }
    Ok(())
}
