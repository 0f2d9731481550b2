//! Organizations of a realm (Keycloak 26's): created, changed and deleted by admins, with
//! their members and the members' organization roles. Each change is a security event.

use serde_json::json;

use super::users::user_in_realm;
use super::{Actor, AdminError, record};
use crate::orgs::{OrgError, OrgInput};
use crate::state::AppState;
use crate::store::MemberChange;
use crate::store::entity::{organization, organization_domain, organization_member, user};

impl From<OrgError> for AdminError {
    fn from(e: OrgError) -> AdminError {
        match e {
            OrgError::Invalid(message) => AdminError::Invalid(message),
            OrgError::Conflict(what) => AdminError::Conflict(format!("{what} already exists")),
            OrgError::NotFound(what) => AdminError::NotFound(what),
            OrgError::LastOwner => AdminError::Conflict(OrgError::LastOwner.to_string()),
            OrgError::Store(e) => AdminError::Store(e),
        }
    }
}

/// An organization with its domains.
#[derive(Debug, Clone)]
pub struct OrgRecord {
    pub org: organization::Model,
    pub domains: Vec<organization_domain::Model>,
}

fn realm_of(app: &AppState, realm: &str) -> Result<std::sync::Arc<crate::state::RealmRuntime>, AdminError> {
    app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))
}

async fn record_of(app: &AppState, org: organization::Model) -> Result<OrgRecord, AdminError> {
    let domains = app.store.org_domains(&org.id).await?;
    Ok(OrgRecord { org, domains })
}

/// One of the realm's organizations, or `NotFound`.
pub async fn org(app: &AppState, realm: &str, id: &str) -> Result<OrgRecord, AdminError> {
    realm_of(app, realm)?;
    let found = app
        .store
        .org(realm, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("organization '{id}'")))?;
    record_of(app, found).await
}

/// The realm's organizations by name; with `search`, those whose name or alias contains it
/// (any case; `exact`: equals it); a page.
pub async fn orgs(
    app: &AppState,
    realm: &str,
    search: Option<&str>,
    exact: bool,
    first: u64,
    max: u64,
) -> Result<Vec<OrgRecord>, AdminError> {
    realm_of(app, realm)?;
    let needle = search.map(str::to_lowercase).filter(|s| !s.is_empty());
    let matches = |o: &organization::Model| match &needle {
        None => true,
        Some(n) if exact => o.name.to_lowercase() == *n || o.alias == *n,
        Some(n) => o.name.to_lowercase().contains(n.as_str()) || o.alias.contains(n.as_str()),
    };
    let page: Vec<organization::Model> = app
        .store
        .orgs(realm)
        .await?
        .into_iter()
        .filter(matches)
        .skip(usize::try_from(first).unwrap_or(usize::MAX))
        .take(usize::try_from(max).unwrap_or(usize::MAX))
        .collect();
    let mut out = Vec::with_capacity(page.len());
    for o in page {
        out.push(record_of(app, o).await?);
    }
    Ok(out)
}

pub async fn create_org(app: &AppState, actor: &Actor, realm: &str, input: OrgInput) -> Result<OrgRecord, AdminError> {
    let rt = realm_of(app, realm)?;
    let fields = crate::orgs::check(&rt.realm, input).map_err(AdminError::from)?;
    let created = app.store.create_org(realm, fields).await.map_err(OrgError::from)?;
    let details = json!({ "organization": created.alias, "organization_id": created.id });
    record(app, actor, realm, "organization_created", None, details).await;
    record_of(app, created).await
}

pub async fn update_org(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    input: OrgInput,
) -> Result<OrgRecord, AdminError> {
    let rt = realm_of(app, realm)?;
    let fields = crate::orgs::check(&rt.realm, input).map_err(AdminError::from)?;
    let updated = app.store.update_org(realm, id, fields).await.map_err(OrgError::from)?;
    let details = json!({ "organization": updated.alias, "organization_id": updated.id });
    record(app, actor, realm, "organization_updated", None, details).await;
    record_of(app, updated).await
}

pub async fn delete_org(app: &AppState, actor: &Actor, realm: &str, id: &str) -> Result<(), AdminError> {
    let found = org(app, realm, id).await?;
    if !app.store.delete_org(realm, id).await? {
        return Err(AdminError::NotFound(format!("organization '{id}'")));
    }
    let details = json!({ "organization": found.org.alias, "organization_id": id });
    record(app, actor, realm, "organization_deleted", None, details).await;
    Ok(())
}

/// An organization's members (by username) with their memberships; a page.
pub async fn org_members(
    app: &AppState,
    realm: &str,
    id: &str,
    first: u64,
    max: u64,
) -> Result<Vec<(organization_member::Model, user::Model)>, AdminError> {
    org(app, realm, id).await?;
    Ok(app.store.org_members(id, first, max).await?)
}

/// One member of an organization, or `NotFound`.
pub async fn org_member(
    app: &AppState,
    realm: &str,
    id: &str,
    user_id: &str,
) -> Result<(organization_member::Model, user::Model), AdminError> {
    org(app, realm, id).await?;
    let user = user_in_realm(app, realm, user_id).await?;
    let membership = app
        .store
        .org_membership(id, &user.id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("member '{user_id}' of organization '{id}'")))?;
    Ok((membership, user))
}

/// Makes a user of the realm a member with `roles` (default `member`); false when they
/// already were.
pub async fn add_org_member(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    user_id: &str,
    roles: &[String],
) -> Result<bool, AdminError> {
    let rt = realm_of(app, realm)?;
    let roles: Vec<String> = if roles.is_empty() {
        vec!["member".into()]
    } else {
        roles.to_vec()
    };
    crate::orgs::check_roles(&rt.realm, &roles).map_err(AdminError::from)?;
    let found = org(app, realm, id).await?;
    let user = user_in_realm(app, realm, user_id).await?;
    let added = app.store.add_org_member(id, &user.id, &roles, None).await?;
    if added {
        let details = json!({ "organization": found.org.alias, "username": user.username, "roles": roles });
        record(app, actor, realm, "organization_member_added", Some(&user.id), details).await;
    }
    Ok(added)
}

/// Ends a membership; the last owner cannot be removed.
pub async fn remove_org_member(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    user_id: &str,
) -> Result<(), AdminError> {
    let found = org(app, realm, id).await?;
    let user = user_in_realm(app, realm, user_id).await?;
    membership_changed(app.store.remove_org_member(id, &user.id).await?, id, user_id)?;
    let details = json!({ "organization": found.org.alias, "username": user.username });
    record(
        app,
        actor,
        realm,
        "organization_member_removed",
        Some(&user.id),
        details,
    )
    .await;
    Ok(())
}

/// Replaces a member's organization roles; the last owner keeps theirs.
pub async fn set_org_member_roles(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    user_id: &str,
    roles: &[String],
) -> Result<(), AdminError> {
    let rt = realm_of(app, realm)?;
    crate::orgs::check_roles(&rt.realm, roles).map_err(AdminError::from)?;
    let found = org(app, realm, id).await?;
    let user = user_in_realm(app, realm, user_id).await?;
    membership_changed(app.store.set_org_member_roles(id, &user.id, roles).await?, id, user_id)?;
    let details = json!({ "organization": found.org.alias, "username": user.username, "roles": roles });
    record(
        app,
        actor,
        realm,
        "organization_member_roles_changed",
        Some(&user.id),
        details,
    )
    .await;
    Ok(())
}

fn membership_changed(change: MemberChange, id: &str, user_id: &str) -> Result<(), AdminError> {
    match change {
        MemberChange::Done => Ok(()),
        MemberChange::NotMember => Err(AdminError::NotFound(format!(
            "member '{user_id}' of organization '{id}'"
        ))),
        MemberChange::LastOwner => Err(OrgError::LastOwner.into()),
    }
}

/// The organizations a user of the realm belongs to, with their memberships.
pub async fn user_orgs(
    app: &AppState,
    realm: &str,
    user_id: &str,
) -> Result<Vec<(OrgRecord, organization_member::Model)>, AdminError> {
    let user = user_in_realm(app, realm, user_id).await?;
    let mut out = Vec::new();
    for (o, membership) in app.store.user_orgs(&user.id).await? {
        out.push((record_of(app, o).await?, membership));
    }
    Ok(out)
}
