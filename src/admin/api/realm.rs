//! `/admin/realms/{realm}/clients…` and `/admin/realms/{realm}/roles…`: read-only views of the
//! live realm configuration, as Keycloak's admin API shows clients and realm roles. Clients and
//! roles are defined in realm files, so they change with `gatehouse realm apply`, not here.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::RealmAdmin;
use super::users::UserRepresentation;
use super::{ApiError, CallerErrors, ErrorBody};
use crate::admin;
use crate::realm::{Client, Pkce};
use crate::state::{AppState, RealmRuntime};

/// A client (Keycloak's `ClientRepresentation`, as far as the concepts match). Never carries
/// the secret or its hash.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientRepresentation {
    /// The same as `clientId`: Gatehouse clients have no separate internal id, so scripts
    /// that address a client by `id` (as in Keycloak) work unchanged.
    pub id: String,
    pub client_id: String,
    pub name: String,
    /// True when the client has no secret (it must use PKCE).
    pub public_client: bool,
    /// Exact-match redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser (Keycloak keeps these in `attributes`).
    pub post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    /// `required`, or `optional` (confidential clients only; public clients always use PKCE).
    pub pkce: String,
    /// The flow that signs users in for this client, when not the realm's browser flow.
    pub browser_flow: Option<String>,
    /// Realm roles of the client's own client_credentials tokens (its service account).
    pub service_account_roles: Vec<String>,
    /// In the master realm: the admin API accepts tokens this client got for its users.
    pub admin_api: bool,
    /// May introspect access tokens issued to other clients (a resource server).
    pub introspection: bool,
    /// Origins whose scripts may call the APIs for it (CORS); `+`: those of its redirect URIs.
    pub web_origins: Vec<String>,
}

impl From<&Client> for ClientRepresentation {
    fn from(c: &Client) -> Self {
        ClientRepresentation {
            id: c.client_id.clone(),
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            public_client: c.is_public(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c.grant_types.iter().map(|g| g.as_str().to_string()).collect(),
            web_origins: c.web_origins.clone(),
            pkce: match c.pkce {
                Pkce::Required => "required",
                Pkce::Optional => "optional",
            }
            .into(),
            browser_flow: c.browser_flow.clone(),
            service_account_roles: c.service_account_roles.clone(),
            admin_api: c.admin_api,
            introspection: c.introspection,
        }
    }
}

/// A realm role (a subset of Keycloak's `RoleRepresentation`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleRepresentation {
    pub name: String,
    /// Always false: Gatehouse roles do not contain other roles.
    pub composite: bool,
    /// Always false: these are realm roles.
    pub client_role: bool,
}

impl RoleRepresentation {
    fn new(name: &str) -> Self {
        RoleRepresentation {
            name: name.to_string(),
            composite: false,
            client_role: false,
        }
    }
}

/// Filters and paging of the client list (Keycloak's parameters; others, such as
/// `viewableOnly`, are ignored, as there).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ClientQuery {
    /// Only the client with this id (or, with `search=true`, whose id contains this text).
    client_id: Option<String>,
    /// Match `clientId` as a substring instead of exactly (`true`, `True`, …).
    #[serde(default, deserialize_with = "super::lenient_bool")]
    search: bool,
    /// How many clients to skip (default 0).
    #[serde(default)]
    #[param(minimum = 0, maximum = 2147483647)]
    first: u64,
    /// At most how many clients to return (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    max: Option<u64>,
    /// Keycloak's attribute filter: refused rather than ignored (a script would act on every
    /// client).
    q: Option<String>,
}

/// Filters and paging of the role list (Keycloak's parameters; others are ignored, as there).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoleQuery {
    /// Only roles whose name contains this text.
    search: Option<String>,
    /// How many roles to skip (default 0).
    #[serde(default)]
    #[param(minimum = 0, maximum = 2147483647)]
    first: u64,
    /// At most how many roles to return (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    max: Option<u64>,
}

/// Paging of a role's members (other parameters are ignored, as Keycloak does).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many users to skip (default 0).
    #[serde(default)]
    #[param(minimum = 0, maximum = 2147483647)]
    first: u64,
    /// At most how many users to return (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    max: Option<u64>,
}

/// The realm in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RealmPath {
    /// Realm name
    realm: String,
}

/// A client in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub struct ClientPath {
    /// Realm name
    realm: String,
    /// Client id (`clientId`, which is also its `id`)
    client_id: String,
}

/// A role in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RolePath {
    /// Realm name
    realm: String,
    /// Role name
    name: String,
}

/// The live configuration of `realm`, or 404.
fn live(app: &AppState, realm: &str) -> Result<Arc<RealmRuntime>, ApiError> {
    app.realm(realm)
        .ok_or_else(|| ApiError::NotFound(format!("realm '{realm}' does not exist")))
}

/// `first` and `max` as in-memory counts, after [`super::paging`] checked them.
fn page(first: u64, max: Option<u64>) -> Result<(usize, usize), ApiError> {
    let (first, max) = super::paging(first, max)?;
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Ok((count(first), count(max)))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// List a realm's clients.
///
/// Read-only: clients are defined in realm files; change them there and run
/// `gatehouse realm apply`. Secrets and their hashes are never shown.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/clients",
    tag = "clients",
    params(RealmPath, ClientQuery),
    responses(
        (status = 200, description = "The matching clients, by clientId", body = [ClientRepresentation]),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm", body = ErrorBody),
    )
)]
pub async fn list_clients(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RealmPath { realm }): Path<RealmPath>,
    q: Result<Query<ClientQuery>, QueryRejection>,
) -> Result<axum::Json<Vec<ClientRepresentation>>, ApiError> {
    let q = query(q)?;
    if q.q.is_some() {
        return Err(ApiError::BadRequest(
            "Gatehouse cannot filter clients by 'q'; filter by clientId".into(),
        ));
    }
    let (first, max) = page(q.first, q.max)?;
    let rt = live(&app, &realm)?;
    // `clients` is a BTreeMap, so the order is by clientId and stable across pages.
    let clients = rt
        .realm
        .clients
        .values()
        .filter(|c| match &q.client_id {
            None => true,
            Some(wanted) if q.search => c.client_id.contains(wanted.as_str()),
            Some(wanted) => c.client_id == *wanted,
        })
        .skip(first)
        .take(max)
        .map(ClientRepresentation::from)
        .collect();
    Ok(axum::Json(clients))
}

/// Read one client.
///
/// Read-only: change clients in realm files and run `gatehouse realm apply`. The secret and
/// its hash are never shown.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/clients/{clientId}",
    tag = "clients",
    params(ClientPath),
    responses(
        (status = 200, description = "The client", body = ClientRepresentation),
        CallerErrors,
        (status = 404, description = "No such realm or client", body = ErrorBody),
    )
)]
pub async fn get_client(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(ClientPath { realm, client_id }): Path<ClientPath>,
) -> Result<axum::Json<ClientRepresentation>, ApiError> {
    let rt = live(&app, &realm)?;
    let client = rt
        .realm
        .clients
        .get(&client_id)
        .ok_or_else(|| ApiError::NotFound(format!("client '{client_id}' does not exist in realm '{realm}'")))?;
    Ok(axum::Json(client.into()))
}

/// List a realm's roles.
///
/// Read-only: roles are defined in realm files (`roles:`); change them there and run
/// `gatehouse realm apply`.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/roles",
    tag = "roles",
    params(RealmPath, RoleQuery),
    responses(
        (status = 200, description = "The realm's roles, in the order the realm file lists them", body = [RoleRepresentation]),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm", body = ErrorBody),
    )
)]
pub async fn list_roles(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RealmPath { realm }): Path<RealmPath>,
    q: Result<Query<RoleQuery>, QueryRejection>,
) -> Result<axum::Json<Vec<RoleRepresentation>>, ApiError> {
    let q = query(q)?;
    let (first, max) = page(q.first, q.max)?;
    let rt = live(&app, &realm)?;
    let roles = rt
        .realm
        .roles
        .iter()
        .filter(|r| q.search.as_deref().is_none_or(|s| r.contains(s)))
        .skip(first)
        .take(max)
        .map(|r| RoleRepresentation::new(r))
        .collect();
    Ok(axum::Json(roles))
}

/// Read one realm role.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/roles/{name}",
    tag = "roles",
    params(RolePath),
    responses(
        (status = 200, description = "The role", body = RoleRepresentation),
        CallerErrors,
        (status = 404, description = "No such realm or role", body = ErrorBody),
    )
)]
pub async fn get_role(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RolePath { realm, name }): Path<RolePath>,
) -> Result<axum::Json<RoleRepresentation>, ApiError> {
    let rt = live(&app, &realm)?;
    let role = find_role(&rt, &realm, &name)?;
    Ok(axum::Json(RoleRepresentation::new(role)))
}

fn find_role<'a>(rt: &'a RealmRuntime, realm: &str, name: &str) -> Result<&'a str, ApiError> {
    rt.realm
        .roles
        .iter()
        .find(|r| *r == name)
        .map(String::as_str)
        .ok_or_else(|| ApiError::NotFound(format!("role '{name}' does not exist in realm '{realm}'")))
}

/// List the users holding a realm role.
///
/// By username, as Keycloak's `GET /roles/{name}/users`. Grant and revoke roles through the
/// users' role mappings.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/roles/{name}/users",
    tag = "roles",
    params(RolePath, PageQuery),
    responses(
        (status = 200, description = "The role's users, by username", body = [UserRepresentation]),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm or role", body = ErrorBody),
    )
)]
pub async fn role_users(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RolePath { realm, name }): Path<RolePath>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<axum::Json<Vec<UserRepresentation>>, ApiError> {
    let q = query(q)?;
    let (first, max) = super::paging(q.first, q.max)?;
    let rt = live(&app, &realm)?;
    let role = find_role(&rt, &realm, &name)?;
    let holders = app
        .store
        .users_with_role(&realm, role, first, max)
        .await
        .map_err(ApiError::from_store)?;
    let mut users = Vec::with_capacity(holders.len());
    for holder in holders {
        match admin::get_user(&app, &realm, &holder.id).await {
            Ok(details) => users.push(details.into()),
            // Deleted between the two reads: it no longer holds the role.
            Err(admin::AdminError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(axum::Json(users))
}

/// A realm (Keycloak's `RealmRepresentation`, the settings Gatehouse has a counterpart of;
/// durations in seconds). Read-only: realms are defined in realm files.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RealmRepresentation {
    /// The same as `realm`.
    pub id: String,
    pub realm: String,
    pub display_name: String,
    /// Always true: a realm that is not wanted is not applied.
    pub enabled: bool,
    pub access_token_lifespan: i64,
    pub access_code_lifespan: i64,
    pub sso_session_idle_timeout: i64,
    pub sso_session_max_lifespan: i64,
    pub brute_force_protected: bool,
    pub failure_factor: u32,
    pub default_signature_algorithm: String,
    pub login_theme: String,
}

impl From<&crate::realm::Realm> for RealmRepresentation {
    fn from(r: &crate::realm::Realm) -> Self {
        RealmRepresentation {
            id: r.name.clone(),
            realm: r.name.clone(),
            display_name: r.display_name.clone(),
            enabled: true,
            access_token_lifespan: r.tokens.access_ttl.as_secs(),
            access_code_lifespan: r.tokens.code_ttl.as_secs(),
            sso_session_idle_timeout: r.tokens.sso_idle.as_secs(),
            sso_session_max_lifespan: r.tokens.sso_max.as_secs(),
            brute_force_protected: r.brute_force.max_failures > 0,
            failure_factor: r.brute_force.max_failures,
            default_signature_algorithm: r.tokens.signing_alg.as_str().to_string(),
            login_theme: r.theme.clone(),
        }
    }
}

/// A realm's settings.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}",
    tag = "realms",
    params(RealmPath),
    responses(
        (status = 200, description = "The realm", body = RealmRepresentation),
        CallerErrors,
        (status = 404, description = "No such realm", body = ErrorBody),
    )
)]
pub async fn get_realm(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RealmPath { realm }): Path<RealmPath>,
) -> Result<axum::Json<RealmRepresentation>, ApiError> {
    let rt = live(&app, &realm)?;
    Ok(axum::Json(RealmRepresentation::from(&rt.realm)))
}

/// The realms the caller administers (all of them for a global administrator).
#[utoipa::path(
    get,
    path = "/admin/realms",
    tag = "realms",
    responses(
        (status = 200, description = "The realms, by name", body = [RealmRepresentation]),
        CallerErrors,
    )
)]
pub async fn list_realms(
    admin: crate::admin::auth::Admin,
    State(app): State<Arc<AppState>>,
) -> Result<axum::Json<Vec<RealmRepresentation>>, ApiError> {
    let mut names = app.realm_names();
    names.sort();
    let realms = names
        .iter()
        .filter(|name| admin.may_administer(name))
        .filter_map(|name| app.realm(name))
        .map(|rt| RealmRepresentation::from(&rt.realm))
        .collect();
    Ok(axum::Json(realms))
}
