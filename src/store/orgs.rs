//! Organizations: their records, email domains and members. What an organization may hold
//! (names, roles, domains) is checked by the `orgs` layer; this one keeps the rows consistent:
//! unique aliases, names and domains per realm, and never an organization without an owner once
//! it has one.

use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entity::{organization as org, organization_domain as domain, organization_member as member, user};
use super::{Result, Store, StoreError, now};

/// The role whose last holder cannot leave or lose it.
pub const OWNER_ROLE: &str = "owner";

/// What an organization is made of, on creation and on update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgFields {
    pub name: String,
    pub alias: String,
    pub description: Option<String>,
    pub redirect_url: Option<String>,
    pub enabled: bool,
    pub require_second_factor: bool,
    /// CIDRs, checked.
    pub ip_allowlist: Vec<String>,
    pub session_max_secs: Option<i64>,
    /// Lower-case domain names and whether each is verified.
    pub domains: Vec<(String, bool)>,
}

/// Why a membership change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Done,
    /// The user is not a member (removal, role change).
    NotMember,
    /// It would leave the organization without an owner.
    LastOwner,
}

impl Store {
    /// Creates an organization with its domains in one transaction; a `Conflict` when the alias,
    /// name or a domain is taken in the realm.
    pub async fn create_org(&self, realm: &str, fields: OrgFields) -> Result<org::Model> {
        let txn = self.write_txn().await?;
        let model = org::Model {
            id: crate::crypto::new_id(),
            realm: realm.into(),
            name: fields.name.clone(),
            alias: fields.alias.clone(),
            description: fields.description.clone(),
            redirect_url: fields.redirect_url.clone(),
            enabled: fields.enabled,
            require_second_factor: fields.require_second_factor,
            ip_allowlist: fields.ip_allowlist.join(" "),
            session_max_secs: fields.session_max_secs,
            created_at: now(),
        };
        check_unique_in(&txn, realm, None, &fields).await?;
        org::Entity::insert(org::ActiveModel::from(model.clone()))
            .exec_without_returning(&txn)
            .await?;
        put_domains_in(&txn, realm, &model.id, &fields.domains).await?;
        txn.commit().await?;
        Ok(model)
    }

    /// Replaces an organization's fields and domains in one transaction; `NotFound` when it is
    /// not one of the realm's.
    pub async fn update_org(&self, realm: &str, id: &str, fields: OrgFields) -> Result<org::Model> {
        let txn = self.write_txn().await?;
        let Some(found) = org_in(&txn, realm, id).await? else {
            return Err(StoreError::NotFound(format!("organization '{id}'")));
        };
        check_unique_in(&txn, realm, Some(id), &fields).await?;
        let mut active: org::ActiveModel = found.into();
        active.name = Set(fields.name);
        active.alias = Set(fields.alias);
        active.description = Set(fields.description);
        active.redirect_url = Set(fields.redirect_url);
        active.enabled = Set(fields.enabled);
        active.require_second_factor = Set(fields.require_second_factor);
        active.ip_allowlist = Set(fields.ip_allowlist.join(" "));
        active.session_max_secs = Set(fields.session_max_secs);
        let updated = active.update(&txn).await?;
        domain::Entity::delete_many()
            .filter(domain::Column::OrganizationId.eq(id))
            .exec(&txn)
            .await?;
        put_domains_in(&txn, realm, id, &fields.domains).await?;
        txn.commit().await?;
        Ok(updated)
    }

    /// Deletes an organization with its domains, memberships and invites; false when it is not
    /// one of the realm's.
    pub async fn delete_org(&self, realm: &str, id: &str) -> Result<bool> {
        use super::entity::organization_invite as invite;
        let txn = self.write_txn().await?;
        if org_in(&txn, realm, id).await?.is_none() {
            return Ok(false);
        }
        domain::Entity::delete_many()
            .filter(domain::Column::OrganizationId.eq(id))
            .exec(&txn)
            .await?;
        member::Entity::delete_many()
            .filter(member::Column::OrganizationId.eq(id))
            .exec(&txn)
            .await?;
        invite::Entity::delete_many()
            .filter(invite::Column::OrganizationId.eq(id))
            .exec(&txn)
            .await?;
        org::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// One of the realm's organizations by id.
    pub async fn org(&self, realm: &str, id: &str) -> Result<Option<org::Model>> {
        org_in(&self.db, realm, id).await
    }

    /// One of the realm's organizations by alias.
    pub async fn org_by_alias(&self, realm: &str, alias: &str) -> Result<Option<org::Model>> {
        Ok(org::Entity::find()
            .filter(org::Column::Realm.eq(realm))
            .filter(org::Column::Alias.eq(alias))
            .one(&self.db)
            .await?)
    }

    /// The realm's organizations, by name (a realm has few: the callers filter and page).
    pub async fn orgs(&self, realm: &str) -> Result<Vec<org::Model>> {
        Ok(org::Entity::find()
            .filter(org::Column::Realm.eq(realm))
            .order_by_asc(org::Column::Name)
            .all(&self.db)
            .await?)
    }

    /// An organization's domains, in order.
    pub async fn org_domains(&self, id: &str) -> Result<Vec<domain::Model>> {
        Ok(domain::Entity::find()
            .filter(domain::Column::OrganizationId.eq(id))
            .order_by_asc(domain::Column::Domain)
            .all(&self.db)
            .await?)
    }

    /// The members of an organization with their records, by username; a page of them.
    pub async fn org_members(&self, id: &str, first: u64, max: u64) -> Result<Vec<(member::Model, user::Model)>> {
        let rows = member::Entity::find()
            .filter(member::Column::OrganizationId.eq(id))
            .join(sea_orm::JoinType::InnerJoin, user_of_member())
            .select_also(user::Entity)
            .order_by_asc(user::Column::UsernameKey)
            .offset(first.min(i64::MAX as u64))
            .limit(max.min(i64::MAX as u64))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(|(m, u)| Some((m, u?))).collect())
    }

    /// The user's membership of the organization, if any.
    pub async fn org_membership(&self, org_id: &str, user_id: &str) -> Result<Option<member::Model>> {
        Ok(member::Entity::find_by_id((org_id.to_string(), user_id.to_string()))
            .one(&self.db)
            .await?)
    }

    /// Every organization of the realm the user belongs to, with their membership, by alias.
    pub async fn user_orgs(&self, user_id: &str) -> Result<Vec<(org::Model, member::Model)>> {
        let memberships = member::Entity::find()
            .filter(member::Column::UserId.eq(user_id))
            .all(&self.db)
            .await?;
        if memberships.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = memberships.iter().map(|m| m.organization_id.clone()).collect();
        let orgs = org::Entity::find()
            .filter(org::Column::Id.is_in(ids))
            .order_by_asc(org::Column::Alias)
            .all(&self.db)
            .await?;
        Ok(orgs
            .into_iter()
            .filter_map(|o| {
                let m = memberships.iter().find(|m| m.organization_id == o.id)?.clone();
                Some((o, m))
            })
            .collect())
    }

    /// Makes the user a member with `roles`; false when they already are (their roles stay).
    pub async fn add_org_member(
        &self,
        org_id: &str,
        user_id: &str,
        roles: &[String],
        invite_id: Option<&str>,
    ) -> Result<bool> {
        let txn = self.write_txn().await?;
        let added = add_member_in(&txn, org_id, user_id, roles, invite_id).await?;
        txn.commit().await?;
        Ok(added)
    }

    /// Ends the user's membership, unless they are its last owner.
    pub async fn remove_org_member(&self, org_id: &str, user_id: &str) -> Result<MemberChange> {
        let txn = self.write_txn().await?;
        lock_org_in(&txn, org_id).await?;
        let Some(found) = member::Entity::find_by_id((org_id.to_string(), user_id.to_string()))
            .one(&txn)
            .await?
        else {
            return Ok(MemberChange::NotMember);
        };
        if found.role_list().iter().any(|r| r == OWNER_ROLE) && owners_in(&txn, org_id).await? <= 1 {
            return Ok(MemberChange::LastOwner);
        }
        member::Entity::delete_by_id((org_id.to_string(), user_id.to_string()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(MemberChange::Done)
    }

    /// Sets a member's roles, unless that takes the organization's last owner away.
    pub async fn set_org_member_roles(&self, org_id: &str, user_id: &str, roles: &[String]) -> Result<MemberChange> {
        let txn = self.write_txn().await?;
        lock_org_in(&txn, org_id).await?;
        let Some(found) = member::Entity::find_by_id((org_id.to_string(), user_id.to_string()))
            .one(&txn)
            .await?
        else {
            return Ok(MemberChange::NotMember);
        };
        let was_owner = found.role_list().iter().any(|r| r == OWNER_ROLE);
        let stays_owner = roles.iter().any(|r| r == OWNER_ROLE);
        if was_owner && !stays_owner && owners_in(&txn, org_id).await? <= 1 {
            return Ok(MemberChange::LastOwner);
        }
        let mut active: member::ActiveModel = found.into();
        active.roles = Set(role_text(roles));
        active.update(&txn).await?;
        txn.commit().await?;
        Ok(MemberChange::Done)
    }
}

/// Locks the organization's row: membership changes of one organization run one after another
/// (on PostgreSQL; SQLite has one writer anyway), so two owners cannot both leave at once.
async fn lock_org_in(db: &impl sea_orm::ConnectionTrait, org_id: &str) -> Result<()> {
    org::Entity::find_by_id(org_id).lock_exclusive().one(db).await?;
    Ok(())
}

fn user_of_member() -> sea_orm::RelationDef {
    use sea_orm::EntityTrait as _;
    member::Entity::belongs_to(user::Entity)
        .from(member::Column::UserId)
        .to(user::Column::Id)
        .into()
}

/// Roles as stored: each once, in order, separated by spaces.
fn role_text(roles: &[String]) -> String {
    let mut sorted: Vec<&str> = roles.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join(" ")
}

async fn org_in(db: &impl sea_orm::ConnectionTrait, realm: &str, id: &str) -> Result<Option<org::Model>> {
    Ok(org::Entity::find_by_id(id)
        .filter(org::Column::Realm.eq(realm))
        .one(db)
        .await?)
}

/// A `Conflict` naming what another organization of the realm already has.
async fn check_unique_in(
    db: &impl sea_orm::ConnectionTrait,
    realm: &str,
    except: Option<&str>,
    fields: &OrgFields,
) -> Result<()> {
    let mut others = org::Entity::find().filter(org::Column::Realm.eq(realm)).filter(
        Condition::any()
            .add(org::Column::Alias.eq(&fields.alias))
            .add(org::Column::Name.eq(&fields.name)),
    );
    if let Some(id) = except {
        others = others.filter(org::Column::Id.ne(id));
    }
    if let Some(other) = others.one(db).await? {
        let what = if other.alias == fields.alias {
            format!("an organization with alias '{}'", fields.alias)
        } else {
            format!("an organization named '{}'", fields.name)
        };
        return Err(StoreError::Conflict(what));
    }
    let names: Vec<&str> = fields.domains.iter().map(|(d, _)| d.as_str()).collect();
    if names.is_empty() {
        return Ok(());
    }
    let mut taken = domain::Entity::find()
        .filter(domain::Column::Realm.eq(realm))
        .filter(domain::Column::Domain.is_in(names));
    if let Some(id) = except {
        taken = taken.filter(domain::Column::OrganizationId.ne(id));
    }
    if let Some(d) = taken.one(db).await? {
        return Err(StoreError::Conflict(format!(
            "domain '{}' (another organization's)",
            d.domain
        )));
    }
    Ok(())
}

async fn put_domains_in(
    db: &impl sea_orm::ConnectionTrait,
    realm: &str,
    id: &str,
    domains: &[(String, bool)],
) -> Result<()> {
    for (name, verified) in domains {
        domain::Entity::insert(domain::ActiveModel {
            realm: Set(realm.into()),
            domain: Set(name.clone()),
            organization_id: Set(id.into()),
            verified: Set(*verified),
        })
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

pub(super) async fn add_member_in(
    db: &impl sea_orm::ConnectionTrait,
    org_id: &str,
    user_id: &str,
    roles: &[String],
    invite_id: Option<&str>,
) -> Result<bool> {
    let existing = member::Entity::find_by_id((org_id.to_string(), user_id.to_string()))
        .one(db)
        .await?;
    if existing.is_some() {
        return Ok(false);
    }
    // Another request may have made them a member since the read: then nothing is inserted.
    let inserted = member::Entity::insert(member::ActiveModel {
        organization_id: Set(org_id.into()),
        user_id: Set(user_id.into()),
        roles: Set(role_text(roles)),
        joined_at: Set(now()),
        invite_id: Set(invite_id.map(String::from)),
    })
    .on_conflict_do_nothing_on([member::Column::OrganizationId, member::Column::UserId])
    .exec_without_returning(db)
    .await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
}

/// How many members hold the owner role.
async fn owners_in(db: &impl sea_orm::ConnectionTrait, org_id: &str) -> Result<usize> {
    let roles: Vec<String> = member::Entity::find()
        .select_only()
        .column(member::Column::Roles)
        .filter(member::Column::OrganizationId.eq(org_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(roles
        .iter()
        .filter(|r| r.split_ascii_whitespace().any(|x| x == OWNER_ROLE))
        .count())
}

#[cfg(test)]
mod tests {
    use super::role_text;

    #[test]
    fn roles_are_stored_each_once_in_order() {
        let roles = ["member", "admin", "member"].map(String::from);
        assert_eq!(role_text(&roles), "admin member");
        assert_eq!(role_text(&[]), "");
    }
}
