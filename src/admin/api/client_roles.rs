//! Client roles (Keycloak's): a client's roles, listed in the realm file under the client, and
//! a user's roles of one client, `…/users/{id}/role-mappings/clients/{client}`. A client's id in
//! these paths is its `clientId` (which is also its `id` here). Bodies are lists of roles by name.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::RealmAdmin;
use super::role_mappings::{RoleMapping, names};
use super::{AdminJson, ApiError, CallerErrors, ErrorBody};
use crate::admin;
use crate::state::AppState;

/// A user and a client in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserClientPath {
    /// Realm name
    realm: String,
    /// User id
    id: String,
    /// The client's id (`clientId`)
    client: String,
}

/// A client in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub struct ClientRolesPath {
    /// Realm name
    realm: String,
    /// The client's id (`clientId`)
    client_id: String,
}

/// A client role in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub struct ClientRolePath {
    /// Realm name
    realm: String,
    /// The client's id (`clientId`)
    client_id: String,
    /// Role name
    role: String,
}

/// The roles `client` lists, or 404.
fn client_roles(app: &AppState, realm: &str, client: &str) -> Result<Vec<String>, ApiError> {
    let rt = app
        .realm(realm)
        .ok_or_else(|| ApiError::NotFound(format!("realm '{realm}' does not exist")))?;
    let found = rt
        .realm
        .clients
        .get(client)
        .ok_or_else(|| ApiError::NotFound(format!("client '{client}' does not exist in realm '{realm}'")))?;
    Ok(found.roles.clone())
}

/// List a client's roles.
///
/// Read-only: a client's roles are listed in the realm file under the client (`roles:`).
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/clients/{clientId}/roles",
    tag = "roles",
    params(ClientRolesPath),
    responses(
        (status = 200, description = "The client's roles, in the order the realm file lists them", body = [RoleMapping]),
        CallerErrors,
        (status = 404, description = "No such realm or client", body = ErrorBody),
    )
)]
pub async fn list_client_roles(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(ClientRolesPath {
        realm,
        client_id: client,
    }): Path<ClientRolesPath>,
) -> Result<axum::Json<Vec<RoleMapping>>, ApiError> {
    let roles = client_roles(&app, &realm, &client)?;
    Ok(axum::Json(
        roles.into_iter().map(|r| RoleMapping::of_client(r, &client)).collect(),
    ))
}

/// Read one of a client's roles.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/clients/{clientId}/roles/{role}",
    tag = "roles",
    params(ClientRolePath),
    responses(
        (status = 200, description = "The role", body = RoleMapping),
        CallerErrors,
        (status = 404, description = "No such realm, client or role", body = ErrorBody),
    )
)]
pub async fn get_client_role(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(ClientRolePath {
        realm,
        client_id: client,
        role,
    }): Path<ClientRolePath>,
) -> Result<axum::Json<RoleMapping>, ApiError> {
    if !client_roles(&app, &realm, &client)?.contains(&role) {
        return Err(ApiError::NotFound(format!("client '{client}' has no role '{role}'")));
    }
    Ok(axum::Json(RoleMapping::of_client(role, &client)))
}

/// The user's roles of one client.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/users/{id}/role-mappings/clients/{client}",
    tag = "roles",
    params(UserClientPath),
    responses(
        (status = 200, description = "The user's roles of the client, by name", body = [RoleMapping]),
        CallerErrors,
        (status = 404, description = "No such realm, user or client", body = ErrorBody),
    )
)]
pub async fn list_user_client_roles(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserClientPath { realm, id, client }): Path<UserClientPath>,
) -> Result<axum::Json<Vec<RoleMapping>>, ApiError> {
    client_roles(&app, &realm, &client)?;
    let mut held = admin::user_client_roles(&app, &realm, &id).await?;
    let roles = held.remove(&client).unwrap_or_default();
    Ok(axum::Json(
        roles.into_iter().map(|r| RoleMapping::of_client(r, &client)).collect(),
    ))
}

/// Grant roles of a client to the user (all or none). Tokens issued from now on carry them in
/// `resource_access.{client}.roles`.
#[utoipa::path(
    post,
    path = "/admin/realms/{realm}/users/{id}/role-mappings/clients/{client}",
    tag = "roles",
    params(UserClientPath),
    request_body = [RoleMapping],
    responses(
        (status = 204, description = "Granted (roles already held stay)"),
        (status = 400, description = "Invalid JSON, an unknown field, or a role the client does not list", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm, user or client", body = ErrorBody),
    )
)]
pub async fn grant_user_client_roles(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserClientPath { realm, id, client }): Path<UserClientPath>,
    AdminJson(body): AdminJson<Vec<RoleMapping>>,
) -> Result<StatusCode, ApiError> {
    admin::grant_client_roles(&app, &admin.actor(), &realm, &id, &client, &names(body)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take roles of a client away from the user (all or none).
#[utoipa::path(
    delete,
    path = "/admin/realms/{realm}/users/{id}/role-mappings/clients/{client}",
    tag = "roles",
    params(UserClientPath),
    request_body = [RoleMapping],
    responses(
        (status = 204, description = "Revoked (roles not held are ignored; roles the realm file no longer lists may be revoked)"),
        (status = 400, description = "Invalid JSON or an unknown field", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn revoke_user_client_roles(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserClientPath { realm, id, client }): Path<UserClientPath>,
    AdminJson(body): AdminJson<Vec<RoleMapping>>,
) -> Result<StatusCode, ApiError> {
    admin::revoke_client_roles(&app, &admin.actor(), &realm, &id, &client, &names(body)).await?;
    Ok(StatusCode::NO_CONTENT)
}
