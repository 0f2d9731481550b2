//! `/admin/realms/{realm}/users/{id}/reset-password` and `…/credentials`: a user's password
//! and second factors, as Keycloak's admin API shows them — never a secret.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::RealmAdmin;
use super::users::{PasswordCredential, UserPath};
use super::{AdminJson, ApiError, CallerErrors, ErrorBody};
use crate::admin::{self, CredentialInfo};
use crate::state::AppState;

/// A credential (a subset of Keycloak's `CredentialRepresentation`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRepresentation {
    /// The id to delete it by (`recovery-codes` for all recovery codes together).
    pub id: String,
    /// `password`, `otp` or `recovery-code`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name the user gave it (OTP devices).
    pub user_label: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_date: i64,
    /// When it was last used to sign in, milliseconds since the Unix epoch.
    pub last_used_date: Option<i64>,
    /// For recovery codes: how many are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<usize>,
}

impl From<CredentialInfo> for CredentialRepresentation {
    fn from(c: CredentialInfo) -> Self {
        CredentialRepresentation {
            id: c.id,
            kind: c.kind,
            user_label: c.label,
            created_date: c.created_at.saturating_mul(1000),
            last_used_date: c.last_used_at.map(|t| t.saturating_mul(1000)),
            remaining: c.remaining,
        }
    }
}

/// A credential of a user in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CredentialPath {
    /// Realm name
    realm: String,
    /// User id
    id: String,
    /// Credential id
    credential_id: String,
}

/// Set a user's password. `temporary` makes the user choose a new one at the next sign-in
/// (the realm must enable `update-password`). The realm's password policy and history apply.
#[utoipa::path(
    put,
    path = "/admin/realms/{realm}/users/{id}/reset-password",
    tag = "credentials",
    params(UserPath),
    request_body = PasswordCredential,
    responses(
        (status = 204, description = "The password is set"),
        (status = 400, description = "Invalid JSON, an unknown field, a type other than `password`, a password the policy refuses, or temporary without `update-password` enabled", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn reset_password(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
    AdminJson(body): AdminJson<PasswordCredential>,
) -> Result<StatusCode, ApiError> {
    if body.kind != "password" {
        return Err(ApiError::BadRequest("the credential's type must be 'password'".into()));
    }
    admin::reset_password(&app, &admin.actor(), &realm, &id, &body.value, body.temporary).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a user's credentials: type and dates, never a secret. Recovery codes are one entry
/// saying how many remain.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/users/{id}/credentials",
    tag = "credentials",
    params(UserPath),
    responses(
        (status = 200, description = "The user's credentials, oldest first", body = [CredentialRepresentation]),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn list_credentials(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
) -> Result<axum::Json<Vec<CredentialRepresentation>>, ApiError> {
    let list = admin::list_credentials(&app, &realm, &id).await?;
    Ok(axum::Json(
        list.into_iter().map(CredentialRepresentation::from).collect(),
    ))
}

/// Remove a credential, e.g. a lost OTP device. Removing the last OTP device removes the
/// recovery codes too; `recovery-codes` removes all recovery codes.
#[utoipa::path(
    delete,
    path = "/admin/realms/{realm}/users/{id}/credentials/{credential_id}",
    tag = "credentials",
    params(CredentialPath),
    responses(
        (status = 204, description = "Removed"),
        CallerErrors,
        (status = 404, description = "No such realm, user or credential", body = ErrorBody),
    )
)]
pub async fn delete_credential(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(CredentialPath {
        realm,
        id,
        credential_id,
    }): Path<CredentialPath>,
) -> Result<StatusCode, ApiError> {
    admin::delete_credential(&app, &admin.actor(), &realm, &id, &credential_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
