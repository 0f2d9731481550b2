//! `/admin/realms/{realm}/users…`: users as Keycloak's admin API shows them.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::RealmAdmin;
use super::{AdminJson, ApiError, CallerErrors, ErrorBody};
use crate::admin::{self, NewUserInput, UserChanges, UserDetails};
use crate::state::AppState;
use crate::store::UserSearch;

/// A user (Keycloak's `UserRepresentation`, as far as the concepts match).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRepresentation {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub enabled: bool,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_timestamp: i64,
    /// Actions the user must complete at the next sign-in.
    pub required_actions: Vec<String>,
    /// Attributes by name (Keycloak's shape: a list of values per name).
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl From<UserDetails> for UserRepresentation {
    fn from(d: UserDetails) -> Self {
        let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in d.attributes {
            attributes.entry(name).or_default().push(value);
        }
        UserRepresentation {
            id: d.user.id,
            username: d.user.username,
            email: d.user.email,
            email_verified: d.user.email_verified,
            first_name: d.user.first_name,
            last_name: d.user.last_name,
            enabled: d.user.enabled,
            created_timestamp: d.user.created_at.saturating_mul(1000),
            required_actions: d.required_actions,
            attributes,
        }
    }
}

/// A password given when creating a user (Keycloak's `CredentialRepresentation`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordCredential {
    /// Only `password`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    /// The user must choose a new password at the next sign-in.
    #[serde(default)]
    pub temporary: bool,
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUserRepresentation {
    pub username: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Added to the realm's default required actions.
    #[serde(default)]
    pub required_actions: Vec<String>,
    /// At most one password.
    #[serde(default)]
    pub credentials: Vec<PasswordCredential>,
    #[serde(default)]
    pub email_verified: bool,
    /// One value per name.
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
}

fn yes() -> bool {
    true
}

/// Filters and paging of a user search. Other parameters Keycloak's clients send
/// (`briefRepresentation`, …) are ignored, as Keycloak does.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// A prefix of the username or email address.
    search: Option<String>,
    /// The username (a prefix, or exactly with `exact=true`).
    username: Option<String>,
    /// The email address (a prefix, or exactly with `exact=true`).
    email: Option<String>,
    /// Match `username` and `email` exactly (`true` in any case).
    #[serde(default, deserialize_with = "super::lenient_bool")]
    exact: bool,
    /// How many users to skip (default 0).
    #[serde(default)]
    #[param(minimum = 0, maximum = 2147483647)]
    first: u64,
    /// At most how many users to return (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    max: Option<u64>,
    /// Keycloak's attribute filter (`key:value`): refused, as are the other filters Gatehouse
    /// does not apply, rather than ignored (a script would act on users it did not mean).
    q: Option<String>,
    /// Refused (see `q`).
    #[serde(rename = "idpAlias")]
    idp_alias: Option<String>,
    /// Refused (see `q`).
    #[serde(rename = "idpUserId")]
    idp_user_id: Option<String>,
    /// Refused (see `q`).
    enabled: Option<String>,
    /// Refused (see `q`).
    #[serde(rename = "emailVerified")]
    email_verified: Option<String>,
    /// Refused (see `q`).
    #[serde(rename = "firstName")]
    first_name: Option<String>,
    /// Refused (see `q`).
    #[serde(rename = "lastName")]
    last_name: Option<String>,
}

impl UserQuery {
    /// A filter Keycloak applies and Gatehouse does not: an error naming it.
    fn unsupported_filter(&self) -> Result<(), ApiError> {
        let given = [
            ("q", &self.q),
            ("idpAlias", &self.idp_alias),
            ("idpUserId", &self.idp_user_id),
            ("enabled", &self.enabled),
            ("emailVerified", &self.email_verified),
            ("firstName", &self.first_name),
            ("lastName", &self.last_name),
        ];
        match given.iter().find(|(_, v)| v.is_some()) {
            Some((name, _)) => Err(ApiError::BadRequest(format!(
                "Gatehouse cannot filter users by '{name}'; filter by search, username or email"
            ))),
            None => Ok(()),
        }
    }
}

/// The realm in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RealmPath {
    /// Realm name
    realm: String,
}

/// A user in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// Realm name
    pub realm: String,
    /// User id
    pub id: String,
}

/// Search a realm's users.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/users",
    tag = "users",
    params(RealmPath, UserQuery),
    responses(
        (status = 200, description = "The matching users, by username", body = [UserRepresentation]),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm", body = ErrorBody),
    )
)]
pub async fn search_users(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RealmPath { realm }): Path<RealmPath>,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Vec<UserRepresentation>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    q.unsupported_filter()?;
    let (first, max) = super::paging(q.first, q.max)?;
    let search = UserSearch {
        search: q.search,
        username: q.username,
        email: q.email,
        exact: q.exact,
        first,
        max,
    };
    let users = admin::search_users(&app, &realm, &search).await?;
    Ok(axum::Json(users.into_iter().map(UserRepresentation::from).collect()))
}

/// How many users match the filters (`search`, `username`, `email`, `exact`), as Keycloak's
/// `GET /users/count`.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/users/count",
    tag = "users",
    params(RealmPath, UserQuery),
    responses(
        (status = 200, description = "How many users match", body = u64),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm", body = ErrorBody),
    )
)]
pub async fn count_users(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RealmPath { realm }): Path<RealmPath>,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<u64>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    q.unsupported_filter()?;
    let search = UserSearch {
        search: q.search,
        username: q.username,
        email: q.email,
        exact: q.exact,
        first: 0,
        max: 0,
    };
    Ok(axum::Json(admin::count_users(&app, &realm, &search).await?))
}

/// Create a user. The response's `Location` names the new user, as in Keycloak.
#[utoipa::path(
    post,
    path = "/admin/realms/{realm}/users",
    tag = "users",
    params(RealmPath),
    request_body = NewUserRepresentation,
    responses(
        (status = 201, description = "Created", body = UserRepresentation, headers(("Location" = String, description = "The new user's URL"))),
        (status = 400, description = "Invalid JSON, an unknown field or an invalid value", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm", body = ErrorBody),
        (status = 409, description = "The username is taken", body = ErrorBody),
    )
)]
pub async fn create_user(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RealmPath { realm }): Path<RealmPath>,
    AdminJson(body): AdminJson<NewUserRepresentation>,
) -> Result<Response, ApiError> {
    if body.credentials.len() > 1 || body.credentials.iter().any(|c| c.kind != "password") {
        return Err(ApiError::BadRequest(
            "credentials may hold one credential of type 'password'".into(),
        ));
    }
    let password = body.credentials.into_iter().next().map(|c| (c.value, c.temporary));
    let input = NewUserInput {
        username: body.username,
        email: body.email,
        first_name: body.first_name,
        last_name: body.last_name,
        enabled: body.enabled,
        required_actions: body.required_actions,
        password,
        email_verified: body.email_verified,
        attributes: body.attributes,
    };
    let created = admin::create_user_by(&app, &admin.actor(), &realm, input).await?;
    let location = format!(
        "{}/admin/realms/{realm}/users/{}",
        app.settings.public_url, created.user.id
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(UserRepresentation::from(created)),
    )
        .into_response())
}

/// Read one user.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/users/{id}",
    tag = "users",
    params(UserPath),
    responses(
        (status = 200, description = "The user", body = UserRepresentation),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn get_user(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
) -> Result<axum::Json<UserRepresentation>, ApiError> {
    Ok(axum::Json(admin::get_user(&app, &realm, &id).await?.into()))
}

/// A partial update of a user (Keycloak's `UserRepresentation` as `PUT` takes it): the fields
/// present are set, the others stay. What `GET` returned may be sent back unchanged.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserUpdateRepresentation {
    /// Read-only: if given, it must be this user's id.
    pub id: Option<String>,
    /// Read-only: usernames do not change; if given, it must be the current one.
    pub username: Option<String>,
    /// An empty string clears it.
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    /// An empty string clears it.
    pub first_name: Option<String>,
    /// An empty string clears it.
    pub last_name: Option<String>,
    /// Disabling ends the user's sessions and revokes their tokens.
    pub enabled: Option<bool>,
    /// Read-only; ignored.
    #[allow(dead_code)] // accepted so that what GET returned can be sent back as it is
    pub created_timestamp: Option<i64>,
    /// Replaces the user's required actions; each must be enabled in the realm.
    pub required_actions: Option<Vec<String>>,
    /// Replaces the user's attributes; at most one value per name (an empty list removes it).
    pub attributes: Option<BTreeMap<String, Vec<String>>>,
}

/// Update a user. Answers 204 as Keycloak does.
#[utoipa::path(
    put,
    path = "/admin/realms/{realm}/users/{id}",
    tag = "users",
    params(UserPath),
    request_body = UserUpdateRepresentation,
    responses(
        (status = 204, description = "Updated"),
        (status = 400, description = "Invalid JSON, an unknown field, an action the realm does not enable, several values of one attribute, or a changed username or id", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn update_user(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
    AdminJson(body): AdminJson<UserUpdateRepresentation>,
) -> Result<StatusCode, ApiError> {
    let current = admin::get_user(&app, &realm, &id).await?;
    if body.id.as_ref().is_some_and(|given| *given != id) {
        return Err(ApiError::BadRequest("the body's id is not this user's id".into()));
    }
    if body
        .username
        .as_ref()
        .is_some_and(|given| *given != current.user.username)
    {
        return Err(ApiError::BadRequest("usernames cannot be changed".into()));
    }
    let changes = UserChanges {
        email: body.email,
        first_name: body.first_name,
        last_name: body.last_name,
        enabled: body.enabled,
        email_verified: body.email_verified,
        required_actions: body.required_actions,
        attributes: body.attributes,
    };
    admin::update_user(&app, &admin.actor(), &realm, &id, changes).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a user with everything of theirs (credentials, roles, sessions, tokens); their
/// security events stay.
#[utoipa::path(
    delete,
    path = "/admin/realms/{realm}/users/{id}",
    tag = "users",
    params(UserPath),
    responses(
        (status = 204, description = "Deleted"),
        CallerErrors,
        (status = 404, description = "No such realm or user", body = ErrorBody),
    )
)]
pub async fn delete_user(
    RealmAdmin(admin): RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(UserPath { realm, id }): Path<UserPath>,
) -> Result<StatusCode, ApiError> {
    admin::delete_user(&app, &admin.actor(), &realm, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
