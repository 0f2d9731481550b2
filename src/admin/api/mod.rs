//! The admin REST API at `/admin/realms/{realm}/…`, with JSON field names close to Keycloak's
//! admin API where the concept is the same. Every handler is annotated for the OpenAPI
//! document served at `/admin/openapi.json`, which is generated from those annotations at
//! start, so it cannot drift from the code.
//!
//! Handlers only extract, authorise, call `crate::admin` and render; errors become JSON
//! `{"error": CODE, "errorMessage": TEXT}` in one place ([`ApiError`]).

mod client_roles;
mod credentials;
mod events;
mod extract;
mod org_invites;
mod organizations;
mod realm;
mod role_mappings;
mod sessions;
mod users;

pub use users::UserRepresentation;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminError;
use super::auth::Denied;
use crate::state::AppState;
use crate::store::StoreError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse admin API",
        description = "Manage a realm's users, their required actions, credentials, sessions and roles. \
Every request needs `Authorization: Bearer ACCESS_TOKEN`, a token of the `master` realm whose user or \
service-account client holds the `admin` role (every realm) or `REALM-admin` (one realm)."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The admin routes, and the OpenAPI document describing exactly them.
pub fn router() -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(users::search_users, users::create_user))
        .routes(routes!(users::count_users))
        .routes(routes!(users::get_user, users::update_user, users::delete_user))
        .routes(routes!(credentials::reset_password))
        .routes(routes!(credentials::list_credentials))
        .routes(routes!(credentials::delete_credential))
        .routes(routes!(sessions::list_sessions))
        .routes(routes!(sessions::revoke_session))
        .routes(routes!(sessions::list_tokens))
        .routes(routes!(sessions::revoke_token))
        .routes(routes!(sessions::logout_user))
        .routes(routes!(role_mappings::all_role_mappings))
        .routes(routes!(
            role_mappings::list_role_mappings,
            role_mappings::grant_roles,
            role_mappings::revoke_roles
        ))
        .routes(routes!(
            client_roles::list_user_client_roles,
            client_roles::grant_user_client_roles,
            client_roles::revoke_user_client_roles
        ))
        .routes(routes!(client_roles::list_client_roles))
        .routes(routes!(client_roles::get_client_role))
        .routes(routes!(realm::list_realms))
        .routes(routes!(realm::get_realm))
        .routes(routes!(realm::list_clients))
        .routes(routes!(realm::get_client))
        .routes(routes!(realm::list_roles))
        .routes(routes!(realm::get_role))
        .routes(routes!(realm::role_users))
        .routes(routes!(events::list_events))
        .routes(routes!(organizations::list_orgs, organizations::create_org))
        .routes(routes!(organizations::count_orgs))
        .routes(routes!(
            organizations::get_org,
            organizations::update_org,
            organizations::delete_org
        ))
        .routes(routes!(organizations::list_members, organizations::add_member))
        .routes(routes!(organizations::get_member, organizations::remove_member))
        .routes(routes!(organizations::set_member_roles))
        .routes(routes!(organizations::member_orgs))
        .routes(routes!(org_invites::list_invites, org_invites::create_invite))
        .routes(routes!(org_invites::revoke_invite))
        .routes(routes!(org_invites::invite_user))
        .routes(routes!(org_invites::invite_existing_user))
        .split_for_parts()
}

/// A query-string boolean as Keycloak's clients write it: `true`/`false` in any case
/// (python-keycloak sends `True`), or empty for false.
pub fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    match text.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" | "" => Ok(false),
        _ => Err(serde::de::Error::custom(format!(
            "bad boolean '{text}': use true or false"
        ))),
    }
}

/// The most a collection's `first` may skip: far beyond any realm, and within every database's
/// integer range (a larger number used to reach the SQL layer and abort the request).
pub const MAX_FIRST: u64 = i32::MAX as u64;
/// The most a collection's `max` may ask for, and what it gets without `max`.
pub const MAX_PAGE: u64 = 1000;
pub const DEFAULT_PAGE: u64 = 100;

/// Checks the paging parameters of a collection: `first` from 0 to [`MAX_FIRST`], `max` from 1
/// to [`MAX_PAGE`] (default [`DEFAULT_PAGE`]). Out of range is a 400, never a silent clamp.
pub fn paging(first: u64, max: Option<u64>) -> Result<(u64, u64), ApiError> {
    if first > MAX_FIRST {
        return Err(ApiError::BadRequest(format!(
            "bad first '{first}': give a number from 0 to {MAX_FIRST}"
        )));
    }
    let max = max.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&max) {
        return Err(ApiError::BadRequest(format!(
            "bad max '{max}': give a number from 1 to {MAX_PAGE}"
        )));
    }
    Ok((first, max))
}

/// The answers every realm's admin endpoint may give about its caller, documented once.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only its OpenAPI description is used; the answers are `ApiError`s.
pub enum CallerErrors {
    #[response(status = 401, description = "No valid master-realm token")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "The token lacks the admin role for this realm")]
    Forbidden(ErrorBody),
}

/// The body of every error response.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// A stable code: `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `invalid_request`, `conflict`, `payload_too_large`, `server_error`.
    pub error: String,
    /// What went wrong, for people.
    pub error_message: String,
}

/// Why an admin request failed.
#[derive(Debug)]
pub enum ApiError {
    /// No token, or one that is invalid, expired, revoked or from another realm.
    Unauthorized(String),
    /// A valid token without the role this realm needs.
    Forbidden(String),
    NotFound(String),
    /// The path exists, but not with this method.
    MethodNotAllowed(String),
    BadRequest(String),
    Conflict(String),
    /// A body over the server's limit.
    PayloadTooLarge(String),
    /// Details are logged, not returned.
    Internal,
}

impl ApiError {
    pub fn from_store(e: StoreError) -> ApiError {
        match e {
            StoreError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            other => {
                tracing::error!(error = %crate::ops::logging::untrusted(&other.to_string()), "admin API: database error");
                ApiError::Internal
            }
        }
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> ApiError {
        match d {
            Denied::Unauthorized(m) => ApiError::Unauthorized(m),
            Denied::Forbidden(m) => ApiError::Forbidden(m),
            Denied::Internal => ApiError::Internal,
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> ApiError {
        match e {
            AdminError::UnknownRealm(_) | AdminError::UnknownUser(_) | AdminError::NotFound(_) => {
                ApiError::NotFound(e.to_string())
            }
            AdminError::UserExists(_) | AdminError::Conflict(_) => ApiError::Conflict(e.to_string()),
            AdminError::Invalid(message) => ApiError::BadRequest(message),
            AdminError::Store(store) => ApiError::from_store(store),
            AdminError::Password(p) => {
                tracing::error!(error = %p, "admin API: password hashing failed");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized", m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "invalid_request", m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            ApiError::MethodNotAllowed(m) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", m),
            ApiError::PayloadTooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", m),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "something went wrong on our side; the server log has the details".into(),
            ),
        };
        let body = ErrorBody {
            error: code.into(),
            error_message: message,
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse-admin\""),
            );
        }
        response
    }
}

/// A JSON body: anything but valid JSON of the expected shape (including unknown fields) is a
/// 400 with serde's message, which names the field and position.
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AdminJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::BadRequest(
                "send the body as Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            // A body sent without Content-Length runs into the limit while it is read.
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::BadRequest(format!("cannot read the body: {e}"))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(AdminJson)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
    }
}

/// Whether `path` belongs to the admin API (whose errors are all JSON [`ErrorBody`]s).
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// An unknown path under `/admin`.
pub fn no_such_endpoint(path: &str) -> ApiError {
    ApiError::NotFound(format!(
        "there is no admin API endpoint at {path}; see /admin/openapi.json"
    ))
}

/// A known admin path asked with a method it does not take (the router adds `Allow`).
pub fn method_not_allowed(method: &Method, path: &str) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {path}; see /admin/openapi.json"))
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the body is larger than the limit of {} KiB",
        crate::web::BODY_LIMIT / 1024
    ))
}

/// Middleware, outside the server's body limit: an admin request whose `Content-Length` is over
/// the limit gets the admin API's JSON 413 (the limit layer itself answers in plain text).
pub async fn refuse_large_bodies(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if is_admin_path(req.uri().path()) && declared.is_some_and(|len| len > crate::web::BODY_LIMIT as u64) {
        return too_large().into_response();
    }
    next.run(req).await
}

/// The OpenAPI document as served (pretty JSON, rendered once).
pub fn openapi_json(api: &utoipa::openapi::OpenApi) -> Bytes {
    Bytes::from(api.to_pretty_json().unwrap_or_else(|_| "{}".into()))
}
