//! Invite links of organizations: made by an organization's admins, each with a role, an end,
//! an optional number of uses and email domain; people join through one once signed in. Only
//! the hash of a link's secret is kept.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entity::{organization as org, organization_invite as invite, organization_member as member, user};
use super::{Result, Store, now};

/// A new invite link (its secret is only in the link).
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub organization_id: String,
    pub token_hash: String,
    pub role: String,
    pub expires_at: i64,
    pub max_uses: Option<i64>,
    pub email_domain: Option<String>,
    pub created_by: String,
}

/// What joining through a link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined,
    /// The user was a member already (the link is not used up by it).
    AlreadyMember,
    /// The link cannot be used (expired, revoked, used up, or the organization disabled).
    Unusable,
    /// The user's verified address is not at the link's domain.
    WrongDomain,
}

impl Store {
    pub async fn create_invite(&self, new: NewInvite) -> Result<invite::Model> {
        let model = invite::Model {
            id: crate::crypto::new_id(),
            organization_id: new.organization_id,
            token_hash: new.token_hash,
            role: new.role,
            expires_at: new.expires_at,
            max_uses: new.max_uses,
            uses: 0,
            email_domain: new.email_domain,
            created_by: new.created_by,
            created_at: now(),
            revoked_at: None,
        };
        invite::Entity::insert(invite::ActiveModel::from(model.clone()))
            .exec_without_returning(&self.db)
            .await?;
        Ok(model)
    }

    /// An organization's invite links, newest first.
    pub async fn org_invites(&self, org_id: &str) -> Result<Vec<invite::Model>> {
        Ok(invite::Entity::find()
            .filter(invite::Column::OrganizationId.eq(org_id))
            .order_by_desc(invite::Column::CreatedAt)
            .order_by_asc(invite::Column::Id)
            .all(&self.db)
            .await?)
    }

    /// Revokes one of an organization's links; false when it has no such live link.
    pub async fn revoke_invite(&self, org_id: &str, id: &str) -> Result<bool> {
        let done = invite::Entity::update_many()
            .col_expr(invite::Column::RevokedAt, now().into())
            .filter(invite::Column::Id.eq(id))
            .filter(invite::Column::OrganizationId.eq(org_id))
            .filter(invite::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected == 1)
    }

    /// The link with this secret's hash, and its organization.
    pub async fn invite_by_hash(&self, token_hash: &str) -> Result<Option<(invite::Model, org::Model)>> {
        let Some(found) = invite::Entity::find()
            .filter(invite::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let organization = org::Entity::find_by_id(&found.organization_id).one(&self.db).await?;
        Ok(organization.map(|o| (found, o)))
    }

    /// The users who joined through a link (while they are members).
    pub async fn invite_members(&self, invite_id: &str) -> Result<Vec<user::Model>> {
        let ids: Vec<String> = member::Entity::find()
            .select_only()
            .column(member::Column::UserId)
            .filter(member::Column::InviteId.eq(invite_id))
            .into_tuple()
            .all(&self.db)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(user::Entity::find()
            .filter(user::Column::Id.is_in(ids))
            .order_by_asc(user::Column::UsernameKey)
            .all(&self.db)
            .await?)
    }

    /// Joins `user` to the link's organization with its role, in one transaction: the link is
    /// checked and its use counted under a lock, so a single-use link admits one person.
    /// `email_domain_ok` says whether the user's address suits the link's domain.
    pub async fn join_by_invite(&self, invite_id: &str, user_id: &str, email_domain_ok: bool) -> Result<JoinOutcome> {
        let txn = self.write_txn().await?;
        let Some(found) = invite::Entity::find_by_id(invite_id).lock_exclusive().one(&txn).await? else {
            return Ok(JoinOutcome::Unusable);
        };
        let organization = org::Entity::find_by_id(&found.organization_id).one(&txn).await?;
        if !organization.is_some_and(|o| o.enabled) || !usable(&found, now()) {
            return Ok(JoinOutcome::Unusable);
        }
        if !email_domain_ok {
            return Ok(JoinOutcome::WrongDomain);
        }
        let roles = [found.role.clone()];
        if !super::orgs::add_member_in(&txn, &found.organization_id, user_id, &roles, Some(invite_id)).await? {
            return Ok(JoinOutcome::AlreadyMember);
        }
        let uses = found.uses + 1;
        let mut active: invite::ActiveModel = found.into();
        active.uses = Set(uses);
        active.update(&txn).await?;
        txn.commit().await?;
        Ok(JoinOutcome::Joined)
    }
}

/// Whether a link may still be used at time `t`: not revoked, not expired, not used up.
pub fn usable(link: &invite::Model, t: i64) -> bool {
    link.revoked_at.is_none() && link.expires_at > t && link.max_uses.is_none_or(|max| link.uses < max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_usable_until_revoked_expired_or_used_up() {
        let link = invite::Model {
            id: "i".into(),
            organization_id: "o".into(),
            token_hash: "h".into(),
            role: "member".into(),
            expires_at: 100,
            max_uses: Some(2),
            uses: 1,
            email_domain: None,
            created_by: "cli".into(),
            created_at: 0,
            revoked_at: None,
        };
        assert!(usable(&link, 99));
        assert!(!usable(&link, 100));
        assert!(!usable(
            &invite::Model {
                uses: 2,
                ..link.clone()
            },
            0
        ));
        assert!(usable(
            &invite::Model {
                max_uses: None,
                uses: 50,
                ..link.clone()
            },
            0
        ));
        assert!(!usable(
            &invite::Model {
                revoked_at: Some(1),
                ..link
            },
            0
        ));
    }
}
