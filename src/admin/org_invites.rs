//! Invite links of an organization, as its admins (through the admin API) make, list and
//! revoke them. The link's secret is returned once, on creation; only its hash is kept.

use serde_json::json;

use super::orgs::org;
use super::{Actor, AdminError, record};
use crate::orgs::invites::{InviteInput, check_invite};
use crate::state::AppState;
use crate::store::NewInvite;
use crate::store::entity::{organization, organization_invite, user};

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
    make_invite(app, actor, realm, &found.org, terms).await
}

async fn make_invite(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    found: &organization::Model,
    terms: crate::orgs::invites::InviteTerms,
) -> Result<CreatedInvite, AdminError> {
    let id = found.id.as_str();
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
        "organization": found.alias,
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

/// Whom an invitation by mail goes to: an address (Keycloak's `invite-user`), or a user of the
/// realm (`invite-existing-user`).
#[derive(Debug, Clone)]
pub enum Invitee {
    Address { email: String, name: Option<String> },
    User(String),
}

/// Mails a single-use invite link (role `member`, open a week) of organization `id`. The link
/// is revoked again if the message cannot be queued, so nothing is left half-made.
pub async fn invite_by_mail(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    invitee: Invitee,
) -> Result<(), AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let found = org(app, realm, id).await?;
    let (email, greeting, user) = match invitee {
        Invitee::Address { email, name } => {
            let email = email.trim().to_lowercase();
            let user = app.store.find_user_by_email(realm, &email).await?;
            let greeting = name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| email.clone());
            (email, greeting, user)
        }
        Invitee::User(user_id) => {
            let user = super::users::user_in_realm(app, realm, &user_id).await?;
            let email = user.email.clone().ok_or_else(|| {
                AdminError::Invalid(format!(
                    "{} has no email address to send the invitation to",
                    user.username
                ))
            })?;
            (email, user.username.clone(), Some(user))
        }
    };
    if let Some(user) = &user
        && app.store.org_membership(id, &user.id).await?.is_some()
    {
        return Err(AdminError::Conflict(format!("{} is a member already", user.username)));
    }
    let single_use = InviteInput {
        max_uses: Some(1),
        ..InviteInput::default()
    };
    let terms = check_invite(&rt.realm, single_use).map_err(AdminError::from)?;
    let days = terms.expires_in / 86_400;
    let created = make_invite(app, actor, realm, &found.org, terms).await?;
    let lang = app.templates.negotiate(&rt.realm.theme, None, None);
    let letter = crate::mail::Letter {
        realm: &rt.realm,
        to: &email,
        to_name: None,
        template: "org_invite",
        lang: &lang,
        context: json!({
            "username": greeting,
            "organization": found.org.name,
            "link": created.url,
            "days": days,
        }),
        requested_by_ip: actor.ip.as_deref(),
        limited: true,
        link: None,
    };
    if let Err(e) = app.mail().send(letter).await {
        app.store.revoke_invite(id, &created.invite.id).await?;
        return Err(match e {
            crate::mail::MailError::Store(e) => AdminError::Store(e),
            crate::mail::MailError::BadAddress => AdminError::Invalid(format!("'{email}' is not an email address")),
            other => AdminError::Conflict(format!("the invitation was not sent: {other}")),
        });
    }
    let details = json!({ "organization": found.org.alias, "invite": created.invite.id, "to": email });
    let user_id = user.as_ref().map(|u| u.id.as_str());
    record(app, actor, realm, "organization_invite_sent", user_id, details).await;
    Ok(())
}
