//! Invite links of an organization, as its admins (through the admin API) make, list and
//! revoke them. The link's secret is returned once, on creation; only its hash is kept.

use serde_json::json;

use super::orgs::org;
use super::{Actor, AdminError, record};
use crate::orgs::invites::{InviteInput, check_invite};
use crate::state::AppState;
use crate::store::NewInvite;
use crate::store::entity::{organization_invite, user};

/// A link as admins see it: its record, and who joined through it.
#[derive(Debug, Clone)]
pub struct InviteRecord {
    pub invite: organization_invite::Model,
    pub joined: Vec<user::Model>,
}

/// A new link: its record and the URL people open (shown once).
#[derive(Debug, Clone)]
pub struct CreatedInvite {
    pub invite: organization_invite::Model,
    pub url: String,
}

/// The URL of a link with secret `secret` in `realm`.
pub fn invite_url(app: &AppState, realm: &str, secret: &str) -> String {
    format!(
        "{}/realms/{realm}/account/organizations/join?invite={secret}",
        app.settings.public_url
    )
}

pub async fn create_invite(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    input: InviteInput,
) -> Result<CreatedInvite, AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let terms = check_invite(&rt.realm, input).map_err(AdminError::from)?;
    let found = org(app, realm, id).await?;
    let secret = crate::crypto::random_token();
    let invite = app
        .store
        .create_invite(NewInvite {
            organization_id: id.into(),
            token_hash: crate::crypto::sha256_hex(secret.as_bytes()),
            role: terms.role,
            expires_at: crate::store::now() + terms.expires_in,
            max_uses: terms.max_uses,
            email_domain: terms.email_domain,
            created_by: actor.who.clone(),
        })
        .await?;
    let details = json!({
        "organization": found.org.alias,
        "invite": invite.id,
        "role": invite.role,
        "expires_at": invite.expires_at,
        "max_uses": invite.max_uses,
        "email_domain": invite.email_domain,
    });
    record(app, actor, realm, "organization_invite_created", None, details).await;
    Ok(CreatedInvite {
        url: invite_url(app, realm, &secret),
        invite,
    })
}

pub async fn invites(app: &AppState, realm: &str, id: &str) -> Result<Vec<InviteRecord>, AdminError> {
    org(app, realm, id).await?;
    let mut out = Vec::new();
    for invite in app.store.org_invites(id).await? {
        let joined = app.store.invite_members(&invite.id).await?;
        out.push(InviteRecord { invite, joined });
    }
    Ok(out)
}

pub async fn revoke_invite(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    invite_id: &str,
) -> Result<(), AdminError> {
    let found = org(app, realm, id).await?;
    if !app.store.revoke_invite(id, invite_id).await? {
        return Err(AdminError::NotFound(format!(
            "live invite '{invite_id}' of organization '{id}'"
        )));
    }
    let details = json!({ "organization": found.org.alias, "invite": invite_id });
    record(app, actor, realm, "organization_invite_revoked", None, details).await;
    Ok(())
}
