//! SSO sessions (a signed-in browser) and authentication sessions (a sign-in in progress).

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::entity::{auth_session, grant, sso_session};
use super::rows::{NewAuthCode, insert_auth_code_in, insert_sso_session_in};
use super::{Result, Store, now};

pub use super::rows::NewSsoSession;

/// How often `last_seen_at` is refreshed: often enough for idle timeouts, rarely enough that a
/// busy browser does not write on every request.
const TOUCH_EVERY_SECS: i64 = 30;

impl Store {
    /// The live session whose cookie hashes to `token_hash`, refreshing its idle timer.
    pub async fn active_sso_session(
        &self,
        realm: &str,
        token_hash: &str,
        idle_secs: i64,
    ) -> Result<Option<sso_session::Model>> {
        let t = now();
        let Some(found) = sso_session::Entity::find()
            .filter(sso_session::Column::TokenHash.eq(token_hash))
            .filter(sso_session::Column::Realm.eq(realm))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        if !is_live(&found, idle_secs, t) {
            return Ok(None);
        }
        if t - found.last_seen_at >= TOUCH_EVERY_SECS {
            let mut active: sso_session::ActiveModel = found.clone().into();
            active.last_seen_at = Set(t);
            active.update(&self.db).await?;
        }
        Ok(Some(found))
    }

    /// The live session whose cookie hashes to `token_hash`, without touching its idle timer
    /// (a check that must not keep the session alive, as an app's session iframe polling).
    pub async fn peek_sso_session(
        &self,
        realm: &str,
        token_hash: &str,
        idle_secs: i64,
    ) -> Result<Option<sso_session::Model>> {
        let found = sso_session::Entity::find()
            .filter(sso_session::Column::TokenHash.eq(token_hash))
            .filter(sso_session::Column::Realm.eq(realm))
            .one(&self.db)
            .await?;
        Ok(found.filter(|s| is_live(s, idle_secs, now())))
    }

    /// The session with public id `sid`, if it is still live.
    pub async fn live_sso_session_by_id(&self, sid: &str, idle_secs: i64) -> Result<Option<sso_session::Model>> {
        let found = sso_session::Entity::find_by_id(sid).one(&self.db).await?;
        Ok(found.filter(|s| is_live(s, idle_secs, now())))
    }

    /// Ends a session and revokes every grant issued under it, in one transaction.
    pub async fn end_sso_session(&self, sid: &str) -> Result<()> {
        self.end_sso_sessions(&[sid.to_string()]).await
    }

    /// Ends the sessions `sids` and revokes their grants, all in one transaction.
    pub async fn end_sso_sessions(&self, sids: &[String]) -> Result<()> {
        if sids.is_empty() {
            return Ok(());
        }
        let t = now();
        let txn = self.write_txn().await?;
        sso_session::Entity::update_many()
            .col_expr(sso_session::Column::EndedAt, t.into())
            .filter(sso_session::Column::Id.is_in(sids.iter().cloned()))
            .filter(sso_session::Column::EndedAt.is_null())
            .exec(&txn)
            .await?;
        grant::Entity::update_many()
            .col_expr(grant::Column::RevokedAt, t.into())
            .filter(grant::Column::SessionId.is_in(sids.iter().cloned()))
            .filter(grant::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Replaces the user's session `old` with `new` (they signed in again in this browser): the
    /// grants issued under `old` move to `new`, so the apps stay signed in, and `old` ends. One
    /// transaction.
    pub async fn hand_over_sso_session(&self, old: &str, new: &str, user_id: &str) -> Result<()> {
        let t = now();
        let txn = self.write_txn().await?;
        grant::Entity::update_many()
            .col_expr(grant::Column::SessionId, new.into())
            .filter(grant::Column::SessionId.eq(old))
            .filter(grant::Column::UserId.eq(user_id))
            .filter(grant::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        sso_session::Entity::update_many()
            .col_expr(sso_session::Column::EndedAt, t.into())
            .filter(sso_session::Column::Id.eq(old))
            .filter(sso_session::Column::EndedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Creates the SSO session (if new) and the authorization code together: a sign-in either
    /// completes whole or not at all.
    pub async fn complete_sign_in(&self, session: Option<NewSsoSession>, code: NewAuthCode) -> Result<()> {
        let txn = self.write_txn().await?;
        if let Some(new) = session {
            insert_sso_session_in(&txn, new).await?;
        }
        insert_auth_code_in(&txn, code).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn create_auth_session(&self, model: auth_session::Model) -> Result<()> {
        auth_session::ActiveModel {
            id: Set(model.id),
            realm: Set(model.realm),
            client_id: Set(model.client_id),
            request: Set(model.request),
            state: Set(model.state),
            created_at: Set(model.created_at),
            updated_at: Set(model.updated_at),
            expires_at: Set(model.expires_at),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// The unexpired authentication session with this (hashed) id.
    pub async fn auth_session(&self, id: &str) -> Result<Option<auth_session::Model>> {
        let found = auth_session::Entity::find_by_id(id).one(&self.db).await?;
        Ok(found.filter(|s| s.expires_at > now()))
    }

    pub async fn save_auth_session_state(&self, id: &str, state: String) -> Result<()> {
        auth_session::Entity::update_many()
            .col_expr(auth_session::Column::State, state.into())
            .col_expr(auth_session::Column::UpdatedAt, now().into())
            .filter(auth_session::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn delete_auth_session(&self, id: &str) -> Result<()> {
        auth_session::Entity::delete_by_id(id).exec(&self.db).await?;
        Ok(())
    }

    /// Replaces the authentication session `old` by `new` (the same sign-in under a new id, in
    /// another browser), in one transaction; false if `old` is gone.
    pub async fn move_auth_session(&self, old: &str, new: auth_session::Model) -> Result<bool> {
        let txn = self.write_txn().await?;
        let gone = auth_session::Entity::delete_by_id(old).exec(&txn).await?.rows_affected;
        if gone != 1 {
            return Ok(false);
        }
        auth_session::ActiveModel::from(new).insert(&txn).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Deletes the authentication session, telling whether this call was the one that did:
    /// of two concurrent submissions of the last form, only one may finish the sign-in.
    pub async fn claim_auth_session(&self, id: &str) -> Result<bool> {
        Ok(auth_session::Entity::delete_by_id(id)
            .exec(&self.db)
            .await?
            .rows_affected
            == 1)
    }
}

impl Store {
    /// How many SSO sessions of `realm` are live (as [`is_live`] decides), for the metrics.
    pub async fn count_live_sso_sessions(&self, realm: &str, idle_secs: i64) -> Result<u64> {
        use sea_orm::PaginatorTrait;
        let t = now();
        Ok(sso_session::Entity::find()
            .filter(sso_session::Column::Realm.eq(realm))
            .filter(sso_session::Column::EndedAt.is_null())
            .filter(sso_session::Column::ExpiresAt.gt(t))
            .filter(sso_session::Column::LastSeenAt.gt(t - idle_secs))
            .count(&self.db)
            .await?)
    }
}

/// One live SSO session of a user, as the lists of sessions show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    /// The public session id (`sid` in tokens).
    pub id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The hard (maximum-lifetime) end.
    pub expires_at: i64,
    /// The clients signed in to under it, sorted, each once.
    pub clients: Vec<String>,
    /// It holds the grant the list was asked with (unrevoked, of the user): the session of the
    /// access token's sign-in. False in lists not asked with a grant.
    pub holds_grant: bool,
}

/// A session joined with one of its grants (none without grants): the columns lists need, in
/// the order selected (decoded by position: a by-name lookup per column was a tenth of the
/// sessions list's time). Session id, ip, user agent, created, last seen, expires; the grant's
/// client.
type SessionGrantRow = (String, Option<String>, Option<String>, i64, i64, i64, Option<String>);

/// One row of the aggregated list: [`SessionGrantRow`] and whether the grant is the one asked
/// about (`true`/`1`, `false`/`0`, or null without a grant).
type AggregatedRow = (
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    i64,
    Option<String>,
    serde_json::Value,
);

impl Store {
    /// A user's live SSO sessions, newest first, each with the clients signed in under it: one
    /// statement (the sessions joined with their grants).
    pub async fn user_sso_sessions(&self, user_id: &str, idle_secs: i64) -> Result<Vec<LiveSession>> {
        self.live_sessions(user_id, idle_secs).await
    }

    /// As [`user_sso_sessions`](Self::user_sso_sessions), only while the user is enabled and
    /// of `realm` (none otherwise): what a bearer of an access token may see, checked and read
    /// in one statement. Each session says whether it holds grant `grant_id` (unrevoked, of
    /// the user).
    ///
    /// The rows come back as one JSON array in one row: the SQLite driver hands each row of a
    /// result from its worker thread to the request's task on its own, and those hand-offs, not
    /// the query, were most of the account API's sessions list (a hot read).
    pub async fn enabled_user_live_sessions(
        &self,
        realm: &str,
        user_id: &str,
        grant_id: &str,
        idle_secs: i64,
    ) -> Result<Vec<LiveSession>> {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let t = now();
        let backend = self.db.get_database_backend();
        let row = "json_array(s.id, s.ip, s.user_agent, s.created_at, s.last_seen_at, s.expires_at, g.client_id, \
                   (g.id = $1 AND g.revoked_at IS NULL AND g.user_id = $2))";
        let from = "FROM sso_sessions s JOIN users u ON u.id = s.user_id LEFT JOIN grants g ON g.session_id = s.id \
                    WHERE s.user_id = $2 AND s.ended_at IS NULL AND s.expires_at > $3 AND s.last_seen_at > $4 \
                    AND u.enabled = TRUE AND u.realm = $5";
        let sql = match backend {
            DbBackend::Postgres => format!(
                "SELECT CAST(COALESCE(json_agg({} ORDER BY s.created_at DESC, s.id), '[]') AS TEXT) {from}",
                row.replace("json_array(", "json_build_array(")
            ),
            // SQLite numbers `$N` parameters by N, as PostgreSQL does.
            _ => format!("SELECT json_group_array({row}) {from}"),
        };
        let values = vec![
            grant_id.into(),
            user_id.into(),
            t.into(),
            (t - idle_secs).into(),
            realm.into(),
        ];
        let found = self
            .db
            .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        let text: Option<String> = match found {
            Some(r) => r.try_get_by_index(0)?,
            None => None,
        };
        let rows: Vec<AggregatedRow> = serde_json::from_str(text.as_deref().unwrap_or("[]")).map_err(|e| {
            super::StoreError::Db(sea_orm::DbErr::Custom(format!("the sessions list does not read: {e}")))
        })?;
        let mut out: Vec<LiveSession> = Vec::new();
        for (id, ip, user_agent, created_at, last_seen_at, expires_at, client, holds) in rows {
            // PostgreSQL says true, SQLite 1.
            let holds = holds.as_bool().unwrap_or(false) || holds.as_i64() == Some(1);
            let at = match out.iter().position(|l| l.id == id) {
                Some(at) => at,
                None => {
                    out.push(LiveSession {
                        id,
                        ip,
                        user_agent,
                        created_at,
                        last_seen_at,
                        expires_at,
                        clients: Vec::new(),
                        holds_grant: false,
                    });
                    out.len() - 1
                }
            };
            let session = &mut out[at];
            if let Some(client) = client
                && !session.clients.contains(&client)
            {
                session.clients.push(client);
            }
            session.holds_grant |= holds;
        }
        for l in &mut out {
            l.clients.sort();
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn live_sessions(&self, user_id: &str, idle_secs: i64) -> Result<Vec<LiveSession>> {
        use sea_orm::{JoinType, QueryOrder, QuerySelect, RelationDef};
        let t = now();
        // Built here, not declared on the entities: the session's grants.
        let session_of: RelationDef = grant::Entity::belongs_to(sso_session::Entity)
            .from(grant::Column::SessionId)
            .to(sso_session::Column::Id)
            .into();
        let rows: Vec<SessionGrantRow> = sso_session::Entity::find()
            .select_only()
            .columns([
                sso_session::Column::Id,
                sso_session::Column::Ip,
                sso_session::Column::UserAgent,
                sso_session::Column::CreatedAt,
                sso_session::Column::LastSeenAt,
                sso_session::Column::ExpiresAt,
            ])
            .column_as(grant::Column::ClientId, "grant_client_id")
            .join(JoinType::LeftJoin, session_of.rev())
            .filter(sso_session::Column::UserId.eq(user_id))
            .filter(sso_session::Column::EndedAt.is_null())
            .filter(sso_session::Column::ExpiresAt.gt(t))
            .filter(sso_session::Column::LastSeenAt.gt(t - idle_secs))
            .order_by_desc(sso_session::Column::CreatedAt)
            .order_by_asc(sso_session::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut out: Vec<LiveSession> = Vec::new();
        for (id, ip, user_agent, created_at, last_seen_at, expires_at, client) in rows {
            if out.last().is_none_or(|l| l.id != id) {
                out.push(LiveSession {
                    id,
                    ip,
                    user_agent,
                    created_at,
                    last_seen_at,
                    expires_at,
                    clients: Vec::new(),
                    holds_grant: false,
                });
            }
            let Some(last) = out.last_mut() else { continue };
            if let Some(client) = client
                && !last.clients.contains(&client)
            {
                last.clients.push(client);
            }
        }
        for l in &mut out {
            l.clients.sort();
        }
        Ok(out)
    }

    /// The SSO session with public id `sid`, live or not.
    pub async fn sso_session(&self, sid: &str) -> Result<Option<sso_session::Model>> {
        Ok(sso_session::Entity::find_by_id(sid).one(&self.db).await?)
    }

    /// Ends every session of a user and revokes every grant they hold (also those outside a
    /// session), in one transaction. Returns how many sessions were still open.
    pub async fn end_user_sso_sessions(&self, user_id: &str) -> Result<u64> {
        let txn = self.write_txn().await?;
        let ended = end_user_sessions_in(&txn, user_id, now()).await?;
        txn.commit().await?;
        Ok(ended)
    }

    /// When the user last signed in with their password (the newest session whose methods
    /// include `pwd`), in Unix seconds.
    pub async fn last_password_sign_in(&self, user_id: &str) -> Result<Option<i64>> {
        use sea_orm::QueryOrder;
        Ok(sso_session::Entity::find()
            .filter(sso_session::Column::UserId.eq(user_id))
            .filter(sso_session::Column::Amr.contains("\"pwd\""))
            .order_by_desc(sso_session::Column::AuthTime)
            .one(&self.db)
            .await?
            .map(|s| s.auth_time))
    }
}

/// Ends a user's open sessions and revokes their grants at time `t`, inside `db`'s transaction.
/// Signed out everywhere, the user's trusted devices are revoked too.
pub(super) async fn end_user_sessions_in(db: &impl sea_orm::ConnectionTrait, user_id: &str, t: i64) -> Result<u64> {
    super::entity::trusted_device::Entity::delete_many()
        .filter(super::entity::trusted_device::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    end_user_sessions_except_in(db, user_id, None, t).await
}

/// [`end_user_sessions_in`], sparing the session `keep` (if any) and the grants made in it.
pub(super) async fn end_user_sessions_except_in(
    db: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    keep: Option<&str>,
    t: i64,
) -> Result<u64> {
    let mut sessions = sso_session::Entity::update_many()
        .col_expr(sso_session::Column::EndedAt, t.into())
        .filter(sso_session::Column::UserId.eq(user_id))
        .filter(sso_session::Column::EndedAt.is_null());
    let mut grants = grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, t.into())
        .filter(grant::Column::UserId.eq(user_id))
        .filter(grant::Column::RevokedAt.is_null());
    if let Some(sid) = keep {
        sessions = sessions.filter(sso_session::Column::Id.ne(sid));
        grants = grants.filter(
            sea_orm::Condition::any()
                .add(grant::Column::SessionId.is_null())
                .add(grant::Column::SessionId.ne(sid)),
        );
    }
    let ended = sessions.exec(db).await?.rows_affected;
    grants.exec(db).await?;
    Ok(ended)
}

fn is_live(s: &sso_session::Model, idle_secs: i64, t: i64) -> bool {
    s.ended_at.is_none() && s.expires_at > t && s.last_seen_at + idle_secs > t
}

impl Store {
    /// Deletes what can no longer be used: expired sign-ins in progress, codes, refresh
    /// tokens and deny-list entries. Each is one indexed DELETE, so it never holds locks long.
    pub async fn purge_expired(&self) -> Result<u64> {
        use super::entity::{auth_code, refresh_token, revoked_token};
        let t = now();
        let mut n = auth_session::Entity::delete_many()
            .filter(auth_session::Column::ExpiresAt.lt(t))
            .exec(&self.db)
            .await?
            .rows_affected;
        // Spent and expired codes are kept an hour, so a late replay is still recognised.
        n += auth_code::Entity::delete_many()
            .filter(auth_code::Column::ExpiresAt.lt(t - 3600))
            .exec(&self.db)
            .await?
            .rows_affected;
        n += refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::ExpiresAt.lt(t))
            .exec(&self.db)
            .await?
            .rows_affected;
        n += revoked_token::Entity::delete_many()
            .filter(revoked_token::Column::ExpiresAt.lt(t))
            .exec(&self.db)
            .await?
            .rows_affected;
        n += super::brute_force::purge_idle_counters(&self.db, t).await?;
        // Sent messages are kept a week for `gatehouse mail status` and the rate limits.
        n += self.purge_outbox(t - 7 * 86_400).await?;
        n += super::entity::trusted_device::Entity::delete_many()
            .filter(super::entity::trusted_device::Column::ExpiresAt.lt(t))
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(n)
    }
}
