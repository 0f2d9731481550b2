//! Personal access tokens: created, listed, revoked by their user (or an admin), and looked up
//! by hash when presented. A token stops working the moment it is revoked, expires, or its user
//! is disabled or deleted.

/// What every personal access token starts with, so secret scanners can spot one.
pub const PAT_PREFIX: &str = "gtp_";

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entity::{personal_access_token as pat, user};
use super::{Result, Store, now};

#[derive(Debug, Clone)]
pub struct NewPat {
    pub realm: String,
    pub user_id: String,
    pub name: String,
    pub token_hash: String,
    pub scope: String,
    pub expires_at: i64,
}

impl Store {
    pub async fn create_pat(&self, new: NewPat) -> Result<pat::Model> {
        let model = pat::ActiveModel {
            id: Set(crate::crypto::new_id()),
            realm: Set(new.realm),
            user_id: Set(new.user_id),
            name: Set(new.name),
            token_hash: Set(new.token_hash),
            scope: Set(new.scope),
            created_at: Set(now()),
            expires_at: Set(new.expires_at),
            last_used_at: Set(None),
            last_used_ip: Set(None),
            revoked_at: Set(None),
        };
        Ok(model.insert(&self.db).await?)
    }

    /// The user's tokens that are neither revoked nor expired, newest first.
    pub async fn user_pats(&self, user_id: &str) -> Result<Vec<pat::Model>> {
        Ok(pat::Entity::find()
            .filter(pat::Column::UserId.eq(user_id))
            .filter(pat::Column::RevokedAt.is_null())
            .filter(pat::Column::ExpiresAt.gt(now()))
            .order_by_desc(pat::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    /// Revokes one of the user's tokens; false when they have no such live token.
    pub async fn revoke_pat(&self, user_id: &str, id: &str) -> Result<bool> {
        let done = pat::Entity::update_many()
            .col_expr(pat::Column::RevokedAt, now().into())
            .filter(pat::Column::Id.eq(id))
            .filter(pat::Column::UserId.eq(user_id))
            .filter(pat::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected == 1)
    }

    /// Revokes the live token with this hash in `realm` (someone who holds it, through RFC 7009);
    /// its user's id, if there was one.
    pub async fn revoke_pat_by_hash(&self, realm: &str, token_hash: &str) -> Result<Option<String>> {
        let Some(token) = pat::Entity::find()
            .filter(pat::Column::TokenHash.eq(token_hash))
            .filter(pat::Column::Realm.eq(realm))
            .filter(pat::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .revoke_pat(&token.user_id, &token.id)
            .await?
            .then_some(token.user_id))
    }

    /// The live token with this hash in `realm`, with its (enabled) user; records the use from
    /// `ip` when given.
    pub async fn use_pat(
        &self,
        realm: &str,
        token_hash: &str,
        ip: Option<&str>,
    ) -> Result<Option<(pat::Model, user::Model)>> {
        let t = now();
        let of_user = pat::Entity::belongs_to(user::Entity)
            .from(pat::Column::UserId)
            .to(user::Column::Id)
            .into();
        let found = pat::Entity::find()
            .filter(pat::Column::TokenHash.eq(token_hash))
            .filter(pat::Column::Realm.eq(realm))
            .filter(pat::Column::RevokedAt.is_null())
            .filter(pat::Column::ExpiresAt.gt(t))
            .select_also(user::Entity)
            .join(JoinType::InnerJoin, of_user)
            .one(&self.db)
            .await?;
        let Some((token, Some(user))) = found else {
            return Ok(None);
        };
        if !user.enabled {
            return Ok(None);
        }
        // Minute resolution is enough for "last used", and spares a write per request. Without
        // an address (introspection by a resource server) it is a look, not a use.
        if let Some(ip) = ip
            && token.last_used_at.is_none_or(|last| t - last >= 60)
        {
            // Concurrent uses race for one write: only the first of the minute matches.
            pat::Entity::update_many()
                .col_expr(pat::Column::LastUsedAt, t.into())
                .col_expr(pat::Column::LastUsedIp, Some(ip.to_string()).into())
                .filter(pat::Column::Id.eq(&token.id))
                .filter(
                    sea_orm::Condition::any()
                        .add(pat::Column::LastUsedAt.is_null())
                        .add(pat::Column::LastUsedAt.lt(t - 59)),
                )
                .exec(&self.db)
                .await?;
        }
        Ok(Some((token, user)))
    }
}
