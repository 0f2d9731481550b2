//! An organization's owners and admins manage it from the console: its members and their
//! roles, and its invite links. Owners may do anything an organization allows (its last owner
//! stays); admins manage everyone but owners, and cannot make anyone an owner. The changes go
//! through the admin functions, logged as done by the user.

use serde::Serialize;

use super::{AccountError, Viewer};
use crate::admin::{self, Actor, AdminError};
use crate::orgs::invites::InviteInput;
use crate::state::{AppState, RealmRuntime};
use crate::store::OWNER_ROLE;

/// What the viewer holds in an organization that lets them manage it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    Owner,
    Admin,
}

/// The standing of a member holding `roles`, if they may manage the organization at all.
pub fn standing(roles: &[String]) -> Option<Standing> {
    if roles.iter().any(|r| r == OWNER_ROLE) {
        Some(Standing::Owner)
    } else if roles.iter().any(|r| r == "admin") {
        Some(Standing::Admin)
    } else {
        None
    }
}

/// Whether someone of `standing` may change a member holding `roles` to `new_roles`, or remove
/// them (`None`): an admin touches no owner and makes none.
pub fn may_change(standing: Standing, roles: &[String], new_roles: Option<&[String]>) -> bool {
    let owner = |rs: &[String]| rs.iter().any(|r| r == OWNER_ROLE);
    standing == Standing::Owner || (!owner(roles) && !new_roles.is_some_and(owner))
}

/// Why a change was not made (the page says which).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The viewer does not manage this organization (or it does not exist): a 404.
    NotManager,
    /// An admin tried to change an owner or make one.
    OwnersOnly,
    /// The request itself is wrong, or would leave no owner: the message says what to do.
    Invalid(String),
}

pub type Outcome<T> = Result<Result<T, Refusal>, AccountError>;

/// One member as the management page shows them.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub user_id: String,
    pub username: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
    pub joined: i64,
    /// The viewer may change or remove them.
    pub manageable: bool,
    pub is_viewer: bool,
}

/// One invite link, never its secret.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub id: String,
    pub role: String,
    pub expires: i64,
    pub uses: i64,
    pub max_uses: Option<i64>,
    pub email_domain: Option<String>,
    pub status: &'static str,
    pub joined: Vec<String>,
}

/// The management page: the organization, its members and links, the roles one may give.
#[derive(Debug, Clone, Serialize)]
pub struct ManageView {
    pub id: String,
    pub name: String,
    pub alias: String,
    pub standing: Standing,
    pub members: Vec<MemberView>,
    pub links: Vec<LinkView>,
    /// Roles the viewer may give (an owner: `owner` too).
    pub roles: Vec<String>,
    /// Roles an invite link may give (never `owner`).
    pub link_roles: Vec<String>,
}

/// The members a page shows at most (a larger organization is managed through the admin API).
const MEMBERS_SHOWN: u64 = 500;

/// The viewer's standing in organization `id` of the realm, if they manage it.
async fn manager(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    id: &str,
) -> Result<Option<Standing>, AccountError> {
    if app.store.org(&rt.realm.name, id).await?.is_none() {
        return Ok(None);
    }
    let membership = app.store.org_membership(id, &viewer.user.id).await?;
    Ok(membership.and_then(|m| standing(&m.role_list())))
}

fn actor(rt: &RealmRuntime, viewer: &Viewer) -> Actor {
    Actor {
        who: format!("user:{}@{}", viewer.user.username, rt.realm.name),
        client_id: Some(viewer.client_id.clone()),
        ip: viewer.origin.ip.clone(),
        user_agent: viewer.origin.user_agent.clone(),
    }
}

/// What an admin function's refusal means to the person; other failures stay failures.
fn refused<T>(e: AdminError) -> Outcome<T> {
    match e {
        AdminError::Invalid(message) | AdminError::Conflict(message) => Ok(Err(Refusal::Invalid(message))),
        AdminError::NotFound(_) | AdminError::UnknownUser(_) | AdminError::UnknownRealm(_) => {
            Ok(Err(Refusal::NotManager))
        }
        other => Err(AccountError::Admin(other)),
    }
}

/// The management page of organization `id`, for its owners and admins.
pub async fn view(app: &AppState, rt: &RealmRuntime, viewer: &Viewer, id: &str) -> Outcome<ManageView> {
    let Some(standing) = manager(app, rt, viewer, id).await? else {
        return Ok(Err(Refusal::NotManager));
    };
    let realm = &rt.realm.name;
    let record = match admin::org(app, realm, id).await {
        Ok(record) => record,
        Err(e) => return refused(e),
    };
    let members = match admin::org_members(app, realm, id, 0, MEMBERS_SHOWN).await {
        Ok(members) => members,
        Err(e) => return refused(e),
    };
    let links = match admin::invites(app, realm, id).await {
        Ok(links) => links,
        Err(e) => return refused(e),
    };
    let now = crate::store::now();
    let mut roles: Vec<String> = crate::realm::ORGANIZATION_ROLES.iter().map(|r| r.to_string()).collect();
    roles.extend(rt.realm.organization_roles.iter().cloned());
    let link_roles = roles.iter().filter(|r| *r != OWNER_ROLE).cloned().collect();
    if standing == Standing::Admin {
        roles.retain(|r| r != OWNER_ROLE);
    }
    Ok(Ok(ManageView {
        id: record.org.id,
        name: record.org.name,
        alias: record.org.alias,
        standing,
        members: members
            .into_iter()
            .map(|(m, u)| {
                let held = m.role_list();
                MemberView {
                    manageable: may_change(standing, &held, None),
                    is_viewer: u.id == viewer.user.id,
                    user_id: u.id,
                    username: u.username,
                    email: u.email,
                    roles: held,
                    joined: m.joined_at,
                }
            })
            .collect(),
        links: links
            .into_iter()
            .map(|r| LinkView {
                status: crate::orgs::invites::status(&r.invite, now),
                id: r.invite.id,
                role: r.invite.role,
                expires: r.invite.expires_at,
                uses: r.invite.uses,
                max_uses: r.invite.max_uses,
                email_domain: r.invite.email_domain,
                joined: r.joined.into_iter().map(|u| u.username).collect(),
            })
            .collect(),
        roles,
        link_roles,
    }))
}

/// Gives member `user_id` of organization `id` the roles `new_roles` (`None`: removes them).
pub async fn change_member(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    id: &str,
    user_id: &str,
    new_roles: Option<&[String]>,
) -> Outcome<()> {
    let Some(standing) = manager(app, rt, viewer, id).await? else {
        return Ok(Err(Refusal::NotManager));
    };
    let Some(member) = app.store.org_membership(id, user_id).await? else {
        return Ok(Err(Refusal::Invalid("that person is not a member any more".into())));
    };
    if !may_change(standing, &member.role_list(), new_roles) {
        return Ok(Err(Refusal::OwnersOnly));
    }
    let (realm, by) = (&rt.realm.name, actor(rt, viewer));
    let done = match new_roles {
        Some(roles) => admin::set_org_member_roles(app, &by, realm, id, user_id, roles).await,
        None => admin::remove_org_member(app, &by, realm, id, user_id).await,
    };
    match done {
        Ok(()) => Ok(Ok(())),
        Err(e) => refused(e),
    }
}

/// A new invite link of organization `id`: its URL, shown once.
pub async fn create_link(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    id: &str,
    input: InviteInput,
) -> Outcome<String> {
    if manager(app, rt, viewer, id).await?.is_none() {
        return Ok(Err(Refusal::NotManager));
    }
    match admin::create_invite(app, &actor(rt, viewer), &rt.realm.name, id, input).await {
        Ok(created) => Ok(Ok(created.url)),
        Err(e) => refused(e),
    }
}

/// Revokes invite link `link` of organization `id`.
pub async fn revoke_link(app: &AppState, rt: &RealmRuntime, viewer: &Viewer, id: &str, link: &str) -> Outcome<()> {
    if manager(app, rt, viewer, id).await?.is_none() {
        return Ok(Err(Refusal::NotManager));
    }
    match admin::revoke_invite(app, &actor(rt, viewer), &rt.realm.name, id, link).await {
        Ok(()) => Ok(Ok(())),
        Err(e) => refused(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(list: &[&str]) -> Vec<String> {
        list.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn owners_and_admins_manage_and_admins_leave_owners_alone() {
        assert_eq!(standing(&roles(&["member", "owner"])), Some(Standing::Owner));
        assert_eq!(standing(&roles(&["admin"])), Some(Standing::Admin));
        assert_eq!(standing(&roles(&["member", "billing"])), None);

        let (member, owner) = (roles(&["member"]), roles(&["owner"]));
        assert!(may_change(Standing::Owner, &owner, None));
        assert!(may_change(Standing::Owner, &member, Some(&owner)));
        assert!(may_change(Standing::Admin, &member, Some(&roles(&["admin"]))));
        assert!(may_change(Standing::Admin, &member, None));
        assert!(!may_change(Standing::Admin, &owner, None));
        assert!(!may_change(Standing::Admin, &owner, Some(&member)));
        assert!(!may_change(Standing::Admin, &member, Some(&owner)));
    }
}
