//! `/admin/realms/{realm}/users/{id}/role-mappings/realm`: a user's realm roles, as Keycloak's
//! admin API maps them (bodies are lists of roles by name).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::RealmAdmin;
use super::users::UserPath;
use super::{AdminJson, ApiError, CallerErrors, ErrorBody};
use crate::admin;
use crate::state::AppState;

/// A realm role by name (Keycloak's `RoleRepresentation`; its other fields are accepted, so
/// what `GET …/roles` returned may be sent, and ignored).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleMapping {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Always false.
    #[serde(default)]
    pub composite: Option<bool>,
    /// True for a client's role.
    #[serde(default)]
    pub client_role: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
}

impl RoleMapping {
    fn named(name: String) -> Self {
        RoleMapping {
            name,
            id: None,
            description: None,
            composite: Some(false),
            client_role: Some(false),
            container_id: None,
        }
    }

    /// A role of `client` (its id is its name; its container the client).
    pub(super) fn of_client(name: String, client: &str) -> Self {
        RoleMapping {
            id: Some(name.clone()),
            name,
            description: None,
            composite: Some(false),
            client_role: Some(true),
            container_id: Some(client.to_string()),
        }
    }
}

pub(super) fn names(roles: Vec<RoleMapping>) -> Vec<String> {
    roles.into_iter().map(|r| r.name).collect()
}

/// Keycloak's `MappingsRepresentation`: realm roles, and client roles by client id.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mappings {
    pub realm_mappings: Vec<RoleMapping>,
    /// `{clientId: {id, client, mappings: [role]}}`, for the clients whose roles the user holds.
    #[schema(value_type = Object)]
    pub client_mappings: serde_json::Map<String, serde_json::Value>,
}

/// All of the user's role mappings (`GET …/role-mappings`).
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/users/{id}/role-mappings",
    tag = "roles",
    params(UserPath),
    responses(
        (status = 200, description = "The user's realm roles and client roles", body = Mappings),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn all_role_mappings(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
) -> Result<axum::Json<Mappings>, ApiError> {
    let roles = admin::user_roles(&app, &realm, &id).await?;
    let mut client_mappings = serde_json::Map::new();
    for (client, roles) in admin::user_client_roles(&app, &realm, &id).await? {
        let mappings: Vec<RoleMapping> = roles.into_iter().map(|r| RoleMapping::of_client(r, &client)).collect();
        let entry = serde_json::json!({ "id": client, "client": client, "mappings": mappings });
        client_mappings.insert(client, entry);
    }
    Ok(axum::Json(Mappings {
        realm_mappings: roles.into_iter().map(RoleMapping::named).collect(),
        client_mappings,
    }))
}

/// The user's realm roles.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/users/{id}/role-mappings/realm",
    tag = "roles",
    params(UserPath),
    responses(
        (status = 200, description = "The user's realm roles, by name", body = [RoleMapping]),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn list_role_mappings(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
) -> Result<axum::Json<Vec<RoleMapping>>, ApiError> {
    let roles = admin::user_roles(&app, &realm, &id).await?;
    Ok(axum::Json(roles.into_iter().map(RoleMapping::named).collect()))
}

/// Grant realm roles to the user (all or none). Tokens issued from now on carry them.
#[utoipa::path(
    post,
    path = "/admin/realms/{realm}/users/{id}/role-mappings/realm",
    tag = "roles",
    params(UserPath),
    request_body = [RoleMapping],
    responses(
        (status = 204, description = "Granted (roles already held stay)"),
        (status = 400, description = "Invalid JSON, an unknown field, or a role the realm does not define", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn grant_roles(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
    AdminJson(body): AdminJson<Vec<RoleMapping>>,
) -> Result<StatusCode, ApiError> {
    admin::grant_roles(&app, &admin.actor(), &realm, &id, &names(body)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take realm roles away from the user (all or none).
#[utoipa::path(
    delete,
    path = "/admin/realms/{realm}/users/{id}/role-mappings/realm",
    tag = "roles",
    params(UserPath),
    request_body = [RoleMapping],
    responses(
        (status = 204, description = "Revoked (roles not held are ignored)"),
        (status = 400, description = "Invalid JSON, an unknown field, or a role the realm does not define", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn revoke_roles(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
    AdminJson(body): AdminJson<Vec<RoleMapping>>,
) -> Result<StatusCode, ApiError> {
    admin::revoke_roles(&app, &admin.actor(), &realm, &id, &names(body)).await?;
    Ok(StatusCode::NO_CONTENT)
}
