//! The user's organizations in the console: their memberships and roles, leaving one, and
//! joining one through an invite link (which the console opens once they are signed in).

use serde::Serialize;
use serde_json::json;

use super::{AccountError, Viewer, record};
use crate::crypto::sha256_hex;
use crate::state::{AppState, RealmRuntime};
use crate::store::{JoinOutcome, MemberChange};

/// One membership, as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipView {
    pub id: String,
    pub name: String,
    pub alias: String,
    pub description: Option<String>,
    pub roles: Vec<String>,
    pub joined: i64,
    pub enabled: bool,
    /// The viewer is an owner or admin of it, and may manage it from the console.
    pub manages: bool,
}

pub async fn memberships(app: &AppState, viewer: &Viewer) -> Result<Vec<MembershipView>, AccountError> {
    Ok(app
        .store
        .user_orgs(&viewer.user.id)
        .await?
        .into_iter()
        .map(|(o, m)| MembershipView {
            manages: super::org_admin::standing(&m.role_list()).is_some(),
            roles: m.role_list(),
            joined: m.joined_at,
            id: o.id,
            name: o.name,
            alias: o.alias,
            description: o.description,
            enabled: o.enabled,
        })
        .collect())
}

/// Why the viewer could not leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveRefusal {
    NotMember,
    LastOwner,
}

/// Leaves one of the viewer's organizations; its last owner stays.
pub async fn leave(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    org_id: &str,
) -> Result<Result<(), LeaveRefusal>, AccountError> {
    let Some(found) = app.store.org(&rt.realm.name, org_id).await? else {
        return Ok(Err(LeaveRefusal::NotMember));
    };
    match app.store.remove_org_member(org_id, &viewer.user.id).await? {
        MemberChange::Done => {
            record(
                app,
                rt,
                viewer,
                "organization_left",
                json!({ "organization": found.alias }),
            )
            .await;
            Ok(Ok(()))
        }
        MemberChange::NotMember => Ok(Err(LeaveRefusal::NotMember)),
        MemberChange::LastOwner => Ok(Err(LeaveRefusal::LastOwner)),
    }
}

/// An invite link as the join page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct InviteView {
    pub organization: String,
    pub role: String,
    pub expires: i64,
    pub email_domain: Option<String>,
    /// The viewer is a member already.
    pub member: bool,
    /// Where joining leads (the organization's `redirectUrl`), if anywhere but the console.
    pub redirect_url: Option<String>,
}

/// Why a link cannot be used (the page says which, in words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteRefusal {
    /// Unknown, revoked, expired, used up, of another realm, or its organization disabled: one
    /// answer, so that links cannot be probed.
    Unusable,
    /// The viewer's verified address is not at the link's domain.
    WrongDomain,
}

/// What the link with `secret` offers the viewer.
pub async fn invite(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    secret: &str,
) -> Result<Result<InviteView, InviteRefusal>, AccountError> {
    let Some((link, org)) = app.store.invite_by_hash(&sha256_hex(secret.as_bytes())).await? else {
        return Ok(Err(InviteRefusal::Unusable));
    };
    if org.realm != rt.realm.name || !org.enabled || !crate::store::invite_usable(&link, crate::store::now()) {
        return Ok(Err(InviteRefusal::Unusable));
    }
    let member = app.store.org_membership(&org.id, &viewer.user.id).await?.is_some();
    if !member && !crate::orgs::invites::email_suits(&link, &viewer.user) {
        return Ok(Err(InviteRefusal::WrongDomain));
    }
    Ok(Ok(InviteView {
        organization: org.name,
        role: link.role,
        expires: link.expires_at,
        email_domain: link.email_domain,
        member,
        redirect_url: org.redirect_url,
    }))
}

/// Joins the viewer through the link with `secret`: where to go next (the organization's
/// `redirectUrl`, if it has one), or why not.
pub async fn join(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    secret: &str,
) -> Result<Result<Option<String>, InviteRefusal>, AccountError> {
    let Some((link, org)) = app.store.invite_by_hash(&sha256_hex(secret.as_bytes())).await? else {
        return Ok(Err(InviteRefusal::Unusable));
    };
    if org.realm != rt.realm.name {
        return Ok(Err(InviteRefusal::Unusable));
    }
    let suits = crate::orgs::invites::email_suits(&link, &viewer.user);
    match app.store.join_by_invite(&link.id, &viewer.user.id, suits).await? {
        JoinOutcome::Joined => {
            let details = json!({ "organization": org.alias, "invite": link.id, "role": link.role });
            record(app, rt, viewer, "organization_joined", details).await;
            Ok(Ok(org.redirect_url))
        }
        JoinOutcome::AlreadyMember => Ok(Ok(org.redirect_url)),
        JoinOutcome::Unusable => Ok(Err(InviteRefusal::Unusable)),
        JoinOutcome::WrongDomain => Ok(Err(InviteRefusal::WrongDomain)),
    }
}
