//! `/admin/realms/{realm}/organizations/{id}/invites…` (Gatehouse's): an organization's invite
//! links. A link's URL (with its secret) is in the answer to its creation only.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::RealmAdmin;
use super::{AdminJson, ApiError, CallerErrors, ErrorBody};
use crate::admin::{self, InviteRecord};
use crate::orgs::invites::InviteInput;
use crate::state::AppState;

/// A new invite link's terms.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewInviteRepresentation {
    /// The organization role people joining get (default `member`; never `owner`).
    #[serde(default)]
    pub role: Option<String>,
    /// Seconds the link stays open, from 60 to a year (default a week).
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// How many people may join through it (default: any number until it expires).
    #[serde(default)]
    pub max_uses: Option<i64>,
    /// Only people whose verified email address is at this domain may join.
    #[serde(default)]
    pub email_domain: Option<String>,
}

/// An invite link, as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteRepresentation {
    pub id: String,
    pub role: String,
    /// Milliseconds since the Unix epoch.
    pub created_timestamp: i64,
    pub expires_timestamp: i64,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub email_domain: Option<String>,
    /// Who made it (`client:…@master`, `user:…@master`, `cli`).
    pub created_by: String,
    /// `active`, `expired`, `revoked` or `used-up`.
    pub status: &'static str,
    /// The usernames of those who joined through it (and are still members).
    pub joined: Vec<String>,
    /// Only in the answer to its creation: the link to hand out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn invite_json(r: InviteRecord, url: Option<String>) -> InviteRepresentation {
    let i = r.invite;
    InviteRepresentation {
        status: crate::orgs::invites::status(&i, crate::store::now()),
        id: i.id,
        role: i.role,
        created_timestamp: i.created_at.saturating_mul(1000),
        expires_timestamp: i.expires_at.saturating_mul(1000),
        max_uses: i.max_uses,
        uses: i.uses,
        email_domain: i.email_domain,
        created_by: i.created_by,
        joined: r.joined.into_iter().map(|u| u.username).collect(),
        url,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgPath {
    /// Realm name
    realm: String,
    /// Organization id
    id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub struct InvitePath {
    /// Realm name
    realm: String,
    /// Organization id
    id: String,
    /// Invite id
    invite_id: String,
}

/// Make an invite link. The answer holds its `url` (with the secret) this once.
#[utoipa::path(
    post,
    path = "/admin/realms/{realm}/organizations/{id}/invites",
    tag = "organizations",
    params(OrgPath),
    request_body = NewInviteRepresentation,
    responses(
        (status = 201, description = "Made; `url` is the link to hand out", body = InviteRepresentation),
        (status = 400, description = "An unknown role, `owner`, a bad lifetime, number of uses or domain", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm or organization", body = ErrorBody),
    )
)]
pub async fn create_invite(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(OrgPath { realm, id }): Path<OrgPath>,
    AdminJson(body): AdminJson<NewInviteRepresentation>,
) -> Result<Response, ApiError> {
    let input = InviteInput {
        role: body.role,
        expires_in: body.expires_in,
        max_uses: body.max_uses,
        email_domain: body.email_domain,
    };
    let created = admin::create_invite(&app, &admin.actor(), &realm, &id, input).await?;
    let record = InviteRecord {
        invite: created.invite,
        joined: Vec::new(),
    };
    let body = invite_json(record, Some(created.url));
    Ok((StatusCode::CREATED, crate::web::http::NoStore(body)).into_response())
}

/// List an organization's invite links, newest first, with who joined through each.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/organizations/{id}/invites",
    tag = "organizations",
    params(OrgPath),
    responses(
        (status = 200, description = "The links (never their secrets)", body = [InviteRepresentation]),
        CallerErrors,
        (status = 404, description = "No such realm or organization", body = ErrorBody),
    )
)]
pub async fn list_invites(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(OrgPath { realm, id }): Path<OrgPath>,
) -> Result<axum::Json<Vec<InviteRepresentation>>, ApiError> {
    let found = admin::invites(&app, &realm, &id).await?;
    Ok(axum::Json(found.into_iter().map(|r| invite_json(r, None)).collect()))
}

/// Revoke an invite link at once (those who joined stay members).
#[utoipa::path(
    delete,
    path = "/admin/realms/{realm}/organizations/{id}/invites/{inviteId}",
    tag = "organizations",
    params(InvitePath),
    responses(
        (status = 204, description = "Revoked"),
        CallerErrors,
        (status = 404, description = "No such realm, organization or live link", body = ErrorBody),
    )
)]
pub async fn revoke_invite(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(InvitePath { realm, id, invite_id }): Path<InvitePath>,
) -> Result<StatusCode, ApiError> {
    admin::revoke_invite(&app, &admin.actor(), &realm, &id, &invite_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Keycloak's `invite-user` form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteUserForm {
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

/// Keycloak's `invite-existing-user` form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteExistingUserForm {
    /// The user's id.
    pub id: String,
}

/// A form body (`application/x-www-form-urlencoded`, as Keycloak's clients send these).
fn form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let object: serde_json::Map<String, serde_json::Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| admin::AdminError::Invalid(format!("the form is incomplete: {e}")).into())
}

/// Mail someone a single-use invite link (role `member`, open a week), as Keycloak's
/// `invite-user`. They join it from the account console, signed in with their account.
#[utoipa::path(
    post,
    path = "/admin/realms/{realm}/organizations/{id}/members/invite-user",
    tag = "organizations",
    params(OrgPath),
    request_body(content = InviteUserForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "The invitation is queued"),
        (status = 400, description = "No email address, or not one", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm or organization", body = ErrorBody),
        (status = 409, description = "A member already, no mail configured, or too many messages to the address this hour", body = ErrorBody),
    )
)]
pub async fn invite_user(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(OrgPath { realm, id }): Path<OrgPath>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let f: InviteUserForm = form(&body)?;
    let name = [f.first_name, f.last_name]
        .into_iter()
        .flatten()
        .filter(|n| !n.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let invitee = admin::Invitee::Address {
        email: f.email,
        name: (!name.is_empty()).then_some(name),
    };
    admin::invite_by_mail(&app, &admin.actor(), &realm, &id, invitee).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mail a user of the realm a single-use invite link, as Keycloak's `invite-existing-user`.
#[utoipa::path(
    post,
    path = "/admin/realms/{realm}/organizations/{id}/members/invite-existing-user",
    tag = "organizations",
    params(OrgPath),
    request_body(content = InviteExistingUserForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "The invitation is queued"),
        (status = 400, description = "No user id, or the user has no email address", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm, organization or user", body = ErrorBody),
        (status = 409, description = "A member already, no mail configured, or too many messages to the address this hour", body = ErrorBody),
    )
)]
pub async fn invite_existing_user(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(OrgPath { realm, id }): Path<OrgPath>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let f: InviteExistingUserForm = form(&body)?;
    admin::invite_by_mail(&app, &admin.actor(), &realm, &id, admin::Invitee::User(f.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
