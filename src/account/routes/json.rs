//! The JSON face: Keycloak's Account REST API for a user's access token with the `account`
//! audience.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::account::Viewer;
use crate::account::factors;
use crate::account::sessions::{self, SignOut};
use crate::oidc::error::OAuthError;
use crate::oidc::jwt::ACCOUNT_AUDIENCE;
use crate::oidc::routes::ServedRealm;
use crate::state::{AppState, RealmRuntime};
use crate::store::now;

use super::html::internal;
/// A request of the JSON face (Keycloak's Account REST API): a user's access token whose
/// audience includes `account`, and the SSO session it was issued under; or a personal access
/// token of the user's (no session, never fresh).
pub(super) struct Api {
    pub(super) app: Arc<AppState>,
    pub(super) rt: Arc<RealmRuntime>,
    pub(super) viewer: Viewer,
    /// The scopes the token carries.
    scopes: Vec<String>,
    /// When the user last proved who they are; none for a personal access token.
    auth_time: Option<i64>,
}

impl FromRequestParts<Arc<AppState>> for Api {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Api, Response> {
        let ServedRealm(rt) = ServedRealm::from_request_parts(parts, app).await?;
        let token = crate::web::http::credentials(&parts.headers, "Bearer").ok_or_else(|| {
            OAuthError::invalid_token("send the access token as Authorization: Bearer").into_response()
        })?;
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let origin = crate::web::http::origin(&parts.headers, peer);
        if token.starts_with(crate::store::PAT_PREFIX) {
            let (scopes, user) = crate::oidc::introspection::pat_user(app, &rt, token, origin.ip.as_deref())
                .await
                .map_err(IntoResponse::into_response)?;
            // A token made for userinfo's email alone does not read sessions and devices.
            if !scopes.iter().any(|s| s == "profile") {
                return Err(OAuthError::insufficient_scope(
                    "the account API needs a personal access token with the profile scope",
                )
                .into_response());
            }
            let viewer = Viewer {
                user,
                session: None,
                origin,
                client_id: PAT_CLIENT.to_string(),
            };
            return Ok(Api {
                app: app.clone(),
                rt,
                viewer,
                scopes,
                auth_time: None,
            });
        }
        // The grant, its user and its session (still live: the API acts on sessions) at once.
        let (claims, grant, user) = crate::oidc::introspection::token_user_in_live_session(app, &rt, token)
            .await
            .map_err(IntoResponse::into_response)?;
        for_account(&claims).map_err(IntoResponse::into_response)?;
        let session = grant.session_id.map(|id| super::super::ViewerSession {
            id,
            auth_time: claims.auth_time.unwrap_or_default(),
        });
        Ok(Api {
            app: app.clone(),
            rt,
            viewer: Viewer {
                user,
                session,
                origin,
                client_id: claims.client_id,
            },
            scopes: claims.scope.split_ascii_whitespace().map(str::to_string).collect(),
            auth_time: claims.auth_time,
        })
    }
}

/// The JSON face's refusal of a token not made for the account API.
fn for_account(claims: &crate::oidc::jwt::AccessClaims) -> Result<(), OAuthError> {
    if claims.has_audience(ACCOUNT_AUDIENCE) {
        return Ok(());
    }
    Err(OAuthError::insufficient_scope(
        "the access token's audience does not include account",
    ))
}

/// A user's access token for the JSON face with its signature and expiry checked, but not yet
/// its grant or audience: for a read that checks the grant in the statement it reads with
/// (`sessions::list_for_token`), then the audience ([`SignedToken::for_account`]), in the
/// order of [`Api`]'s checks.
pub(super) struct SignedToken {
    pub(super) app: Arc<AppState>,
    pub(super) rt: Arc<RealmRuntime>,
    pub(super) claims: crate::oidc::jwt::AccessClaims,
}

impl FromRequestParts<Arc<AppState>> for SignedToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<SignedToken, Response> {
        let ServedRealm(rt) = ServedRealm::from_request_parts(parts, app).await?;
        let token = crate::web::http::credentials(&parts.headers, "Bearer").ok_or_else(|| {
            OAuthError::invalid_token("send the access token as Authorization: Bearer").into_response()
        })?;
        let claims = crate::oidc::introspection::verify_signature(app, &rt, token)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(SignedToken {
            app: app.clone(),
            rt,
            claims,
        })
    }
}

impl SignedToken {
    /// Whether the token was made for the account API (its audience includes `account`).
    pub(super) fn for_account(&self) -> Result<(), OAuthError> {
        for_account(&self.claims)
    }
}

/// What the security log names as the acting client of a personal access token.
const PAT_CLIENT: &str = "personal-access-token";

impl Api {
    /// Whether the token may change the account (scope `manage-account`, which a realm lists
    /// and a client asks for, or a personal access token was given); reading needs only the
    /// `account` audience (or a live personal access token).
    pub(super) fn may_manage(&self) -> bool {
        self.scopes.iter().any(|s| s == crate::realm::MANAGE_ACCOUNT_SCOPE)
    }

    /// A change that needs a recent sign-in: the token's `auth_time` within
    /// `account.max_auth_age`. A personal access token is never recent.
    fn is_fresh(&self) -> bool {
        let max = self.rt.realm.account.max_auth_age.as_secs();
        self.auth_time.is_some_and(|t| now() - t <= max)
    }
}

pub(super) fn cannot_manage() -> Response {
    OAuthError::insufficient_scope("changing the account needs the manage-account scope").into_response()
}

pub(super) fn stale_token() -> Response {
    json_error(
        StatusCode::FORBIDDEN,
        "a recent sign-in is needed: sign in again (max_age) and retry",
    )
}

/// Keycloak's error body, never cached.
pub(super) fn json_error(status: StatusCode, message: &str) -> Response {
    json_body(status, json!({ "errorMessage": message }))
}

/// A JSON answer that is never cached.
fn json_body<T: serde::Serialize>(status: StatusCode, body: T) -> Response {
    crate::web::http::NoStore(body).with_status(status)
}

pub(super) fn json_ok<T: serde::Serialize>(value: T) -> Response {
    json_body(StatusCode::OK, value)
}

pub(super) async fn update_profile(api: Api, body: axum::body::Bytes) -> Response {
    if !api.may_manage() {
        return cannot_manage();
    }
    let Ok(change) = serde_json::from_slice::<crate::account::api::ProfileChange>(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "send the profile as JSON: firstName, lastName, email",
        );
    };
    // A new email address is where password resets will go: only after a recent sign-in.
    let new_email = change
        .email
        .as_deref()
        .is_some_and(|e| Some(e.trim()) != api.viewer.user.email.as_deref());
    if new_email && !api.is_fresh() {
        return stale_token();
    }
    match crate::account::api::update_profile(&api.app, &api.rt, &api.viewer, change).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(errors)) => {
            let text = |key: &Value| api.app.templates.message_text(&api.rt.realm.theme, "en", key);
            let fields: Vec<Value> = errors
                .iter()
                .map(|(field, key)| json!({ "field": field, "errorMessage": text(key) }))
                .collect();
            let first = fields.first().map(|f| f["errorMessage"].clone()).unwrap_or_default();
            json_body(
                StatusCode::BAD_REQUEST,
                json!({ "errorMessage": first, "errors": fields }),
            )
        }
        Err(e) => internal(&e),
    }
}

pub(super) async fn devices(api: Api) -> Response {
    match sessions::list(&api.app, &api.rt, &api.viewer, "en").await {
        Ok(list) => json_ok(crate::account::api::devices_json(&list)),
        Err(e) => internal(&e),
    }
}

/// Signs out every other session (`?current=true`: every session).
pub(super) async fn delete_sessions(api: Api, Query(query): Query<HashMap<String, String>>) -> Response {
    if !api.may_manage() {
        return cannot_manage();
    }
    if !api.is_fresh() {
        return stale_token();
    }
    let which = if query.get("current").is_some_and(|v| v == "true") {
        SignOut::All
    } else {
        SignOut::Others
    };
    match sessions::sign_out(&api.app, &api.rt, &api.viewer, &which).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => internal(&e),
    }
}

pub(super) async fn delete_session(
    api: Api,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
) -> Response {
    if !api.may_manage() {
        return cannot_manage();
    }
    if api.viewer.session_id() != Some(id.as_str()) && !api.is_fresh() {
        return stale_token();
    }
    match sessions::sign_out(&api.app, &api.rt, &api.viewer, &SignOut::One(id)).await {
        Ok(0) => json_error(StatusCode::NOT_FOUND, "no such session of yours"),
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => internal(&e),
    }
}

/// Removes an authenticator app (Keycloak's `DELETE /credentials/{id}`): a recent sign-in only,
/// as there is no form to ask for the password and a code.
pub(super) async fn delete_credential(
    api: Api,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
) -> Response {
    if !api.may_manage() {
        return cannot_manage();
    }
    if !api.is_fresh() {
        return stale_token();
    }
    match factors::remove_otp_by_token(&api.app, &api.rt, &api.viewer, &id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => match crate::account::keys::remove(&api.app, &api.rt, &api.viewer, &id).await {
            Ok(Ok(true)) => StatusCode::NO_CONTENT.into_response(),
            Ok(Ok(false)) => json_error(StatusCode::NOT_FOUND, "no such removable credential of yours"),
            Ok(Err(_)) => json_error(
                StatusCode::CONFLICT,
                "this key is the last way to sign in, or the last second factor the realm requires: add another first",
            ),
            Err(e) => internal(&e),
        },
        Err(crate::account::AccountError::LastFactor) => json_error(
            StatusCode::CONFLICT,
            "the realm requires a second factor and this is the last one: add another first",
        ),
        Err(e) => internal(&e),
    }
}

/// The new name as a JSON string (Keycloak's client sends `"name"`), or as plain text.
pub(super) async fn rename_credential(
    api: Api,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if !api.may_manage() {
        return cannot_manage();
    }
    let text = String::from_utf8_lossy(&body);
    let label = serde_json::from_str::<String>(&text).unwrap_or_else(|_| text.to_string());
    match factors::rename_otp(&api.app, &api.rt, &api.viewer, &id, &label).await {
        Ok(Ok(true)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(false)) => match crate::account::keys::rename(&api.app, &api.rt, &api.viewer, &id, &label).await {
            Ok(Ok(true)) => StatusCode::NO_CONTENT.into_response(),
            Ok(Ok(false)) => json_error(StatusCode::NOT_FOUND, "no such credential of yours"),
            Ok(Err(_)) => json_error(StatusCode::BAD_REQUEST, "the name is too long or has hidden characters"),
            Err(e) => internal(&e),
        },
        Ok(Err(key)) => {
            let message = api
                .app
                .templates
                .message_text(&api.rt.realm.theme, "en", &Value::from(key));
            json_error(StatusCode::BAD_REQUEST, &message)
        }
        Err(e) => internal(&e),
    }
}

pub(super) async fn list_tokens(api: Api) -> Response {
    match crate::account::tokens::list(&api.app, &api.viewer).await {
        Ok(list) => json_ok(list),
        Err(e) => internal(&e),
    }
}

/// Makes a token from `{name, days, scopes}`; the answer carries the secret, this once.
pub(super) async fn create_token_json(api: Api, body: axum::body::Bytes) -> Response {
    if !api.may_manage() {
        return cannot_manage();
    }
    #[derive(serde::Deserialize)]
    struct Body {
        name: String,
        days: i64,
        scopes: Vec<String>,
    }
    let Ok(b) = serde_json::from_slice::<Body>(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "send {\"name\", \"days\", \"scopes\": [...]} as JSON",
        );
    };
    if !api.is_fresh() {
        return stale_token();
    }
    // An app cannot turn its own grant into a broader, longer-lived credential.
    if let Some(extra) = b.scopes.iter().find(|s| !api.scopes.contains(s)) {
        return OAuthError::insufficient_scope(format!(
            "the access token lacks scope '{extra}', so a personal access token cannot get it"
        ))
        .into_response();
    }
    let new = crate::account::tokens::NewToken {
        name: b.name,
        days: b.days,
        scopes: b.scopes,
    };
    match crate::account::tokens::create(&api.app, &api.rt, &api.viewer, &new).await {
        Ok(Ok(created)) => {
            let mut r = json_ok(created);
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        Ok(Err((field, key))) => {
            let message = api.app.templates.message_text(&api.rt.realm.theme, "en", &key);
            json_body(
                StatusCode::BAD_REQUEST,
                json!({ "field": field, "errorMessage": message }),
            )
        }
        Err(e) => internal(&e),
    }
}

pub(super) async fn delete_token(
    api: Api,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
) -> Response {
    if !api.may_manage() {
        return cannot_manage();
    }
    match crate::account::tokens::revoke(&api.app, &api.rt, &api.viewer, &id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => json_error(StatusCode::NOT_FOUND, "no such live token of yours"),
        Err(e) => internal(&e),
    }
}

/// The security log (`type`, `since`, `first`, `max`), or with `format=csv|jsonl` a download.
pub(super) async fn log(api: Api, Query(query): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| query.get(k).map(String::as_str);
    let q = match crate::account::log::ApiQuery::parse(get("type"), get("since"), get("first"), get("max")) {
        Ok(q) => q,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, &message),
    };
    if let Some(format) = get("format") {
        return super::html::log_download(&api.app, q.filter(&api.rt, &api.viewer), format).await;
    }
    match crate::account::log::api_entries(&api.app, &api.rt, &api.viewer, &q).await {
        Ok(entries) => json_ok(
            entries
                .iter()
                .map(crate::account::api::log_entry_json)
                .collect::<Vec<_>>(),
        ),
        Err(e) => internal(&e),
    }
}
