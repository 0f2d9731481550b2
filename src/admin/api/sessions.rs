//! `/admin/realms/{realm}/users/{id}/sessions`, `…/users/{id}/logout` and
//! `/admin/realms/{realm}/sessions/{session}`: a user's SSO sessions, as Keycloak shows them.
//! Ending a session revokes the tokens issued under it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::RealmAdmin;
use super::users::UserPath;
use super::{ApiError, CallerErrors, ErrorBody};
use crate::admin::{self, SessionInfo};
use crate::state::AppState;

/// A live SSO session (a subset of Keycloak's `UserSessionRepresentation`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSessionRepresentation {
    /// The session id (`sid` in tokens).
    pub id: String,
    pub user_id: String,
    pub ip_address: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub start: i64,
    /// Milliseconds since the Unix epoch (refreshed at most every 30 seconds).
    pub last_access: i64,
    /// Clients signed in to under this session: client id → display name.
    pub clients: BTreeMap<String, String>,
}

impl UserSessionRepresentation {
    fn new(s: SessionInfo, realm: &crate::realm::Realm) -> Self {
        let clients = s
            .clients
            .into_iter()
            .map(|id| {
                let name = realm
                    .clients
                    .get(&id)
                    .map(|c| c.name.clone())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| id.clone());
                (id, name)
            })
            .collect();
        UserSessionRepresentation {
            id: s.id,
            user_id: s.user_id,
            ip_address: s.ip,
            start: s.started_at.saturating_mul(1000),
            last_access: s.last_access_at.saturating_mul(1000),
            clients,
        }
    }
}

/// A session in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SessionPath {
    /// Realm name
    realm: String,
    /// Session id
    session: String,
}

/// List a user's live SSO sessions, newest first.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/users/{id}/sessions",
    tag = "sessions",
    params(UserPath),
    responses(
        (status = 200, description = "The user's live sessions", body = [UserSessionRepresentation]),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn list_sessions(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
) -> Result<axum::Json<Vec<UserSessionRepresentation>>, ApiError> {
    let sessions = admin::list_sessions(&app, &realm, &id).await?;
    let rt = app
        .realm(&realm)
        .ok_or_else(|| ApiError::NotFound(format!("realm '{realm}' does not exist")))?;
    Ok(axum::Json(
        sessions
            .into_iter()
            .map(|s| UserSessionRepresentation::new(s, &rt.realm))
            .collect(),
    ))
}

/// End one SSO session and revoke the tokens issued under it.
#[utoipa::path(
    delete,
    path = "/admin/realms/{realm}/sessions/{session}",
    tag = "sessions",
    params(SessionPath),
    responses(
        (status = 204, description = "Ended"),
        CallerErrors,
        (status = 404, description = "No such realm, or no live session with this id in it", body = ErrorBody),
    )
)]
pub async fn revoke_session(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(SessionPath { realm, session }): Path<SessionPath>,
) -> Result<StatusCode, ApiError> {
    admin::revoke_session(&app, &admin.actor(), &realm, &session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session of a user and revoke all their tokens.
#[utoipa::path(
    post,
    path = "/admin/realms/{realm}/users/{id}/logout",
    tag = "sessions",
    params(UserPath),
    responses(
        (status = 204, description = "Signed out everywhere"),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn logout_user(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
) -> Result<StatusCode, ApiError> {
    admin::logout_user(&app, &admin.actor(), &realm, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's personal access token (Gatehouse's own; Keycloak has none). Never its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonalAccessTokenRepresentation {
    pub id: String,
    pub name: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Milliseconds since the Unix epoch.
    pub created: i64,
    pub expires: i64,
    pub last_used: Option<i64>,
    pub last_used_ip: Option<String>,
}

/// A user's token in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// Realm name
    realm: String,
    /// User id
    id: String,
    /// Token id
    token: String,
}

/// List a user's live personal access tokens, newest first.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/users/{id}/personal-access-tokens",
    tag = "sessions",
    params(UserPath),
    responses(
        (status = 200, description = "The user's live tokens", body = [PersonalAccessTokenRepresentation]),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn list_tokens(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
) -> Result<axum::Json<Vec<PersonalAccessTokenRepresentation>>, ApiError> {
    let tokens = admin::list_tokens(&app, &realm, &id).await?;
    Ok(axum::Json(
        tokens
            .into_iter()
            .map(|t| PersonalAccessTokenRepresentation {
                id: t.id,
                name: t.name,
                scope: t.scope,
                created: t.created_at.saturating_mul(1000),
                expires: t.expires_at.saturating_mul(1000),
                last_used: t.last_used_at.map(|t| t.saturating_mul(1000)),
                last_used_ip: t.last_used_ip,
            })
            .collect(),
    ))
}

/// Revoke one of a user's personal access tokens: it stops working at once.
#[utoipa::path(
    delete,
    path = "/admin/realms/{realm}/users/{id}/personal-access-tokens/{token}",
    tag = "sessions",
    params(TokenPath),
    responses(
        (status = 204, description = "Revoked"),
        CallerErrors,
        (status = 404, description = "No such realm, user, or live token of theirs", body = ErrorBody),
    )
)]
pub async fn revoke_token(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(TokenPath { realm, id, token }): Path<TokenPath>,
) -> Result<StatusCode, ApiError> {
    admin::revoke_token(&app, &admin.actor(), &realm, &id, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}
