//! HTTP handlers for the OIDC endpoints (paths as Keycloak's, see DESIGN.md).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde_json::json;

use super::authorize::{self, AuthorizeError};
use super::error::OAuthError;
use super::logout::{self, LogoutOutcome, LogoutTarget};
use super::token::{self, TokenForm};
use super::{client_auth, introspection};

use crate::events::Origin;
use crate::flow::routes::{client_of, respond};
use crate::flow::sign_in;
use crate::server::{AppState, RealmRuntime};
use crate::web::{cookies, pages};

pub fn routes() -> Router<Arc<AppState>> {
    let oidc = "/realms/{realm}/protocol/openid-connect";
    Router::new()
        .route("/realms/{realm}/.well-known/openid-configuration", get(discovery))
        .route(&format!("{oidc}/certs"), get(jwks))
        .route(
            &format!("{oidc}/auth"),
            get(authorize_endpoint).post(authorize_endpoint),
        )
        .route(&format!("{oidc}/token"), post(token_endpoint))
        .route(&format!("{oidc}/userinfo"), get(userinfo).post(userinfo))
        .route(&format!("{oidc}/token/introspect"), post(introspect))
        .route(&format!("{oidc}/revoke"), post(revoke))
        .route(&format!("{oidc}/logout"), get(logout_endpoint).post(logout_endpoint))
}

type AppStateRef = State<Arc<AppState>>;

fn json_bytes(body: bytes::Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn realm_not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "realm not found" }))).into_response()
}

/// Whether a request's body is declared as a form (`application/x-www-form-urlencoded`, any
/// parameters such as `charset`), as the token endpoint (RFC 6749 §3.2) and a POSTed
/// authorization request (OIDC Core §3.1.2.1) require.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

const SEND_A_FORM: &str = "send the body as Content-Type: application/x-www-form-urlencoded";

/// Parses an `application/x-www-form-urlencoded` body or query; repeated parameters are an
/// error (RFC 6749 §3.1).
fn parse_params(raw: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!("parameter '{k}' is repeated"));
        }
    }
    Ok(out)
}

async fn discovery(State(app): AppStateRef, Path(realm): Path<String>) -> Response {
    match app.realm(&realm) {
        Some(rt) => json_bytes(rt.discovery_json.clone()),
        None => realm_not_found(),
    }
}

async fn jwks(State(app): AppStateRef, Path(realm): Path<String>) -> Response {
    match app.keys.get(&realm) {
        Some(keys) if app.realm(&realm).is_some() => json_bytes(keys.jwks_json.clone()),
        _ => realm_not_found(),
    }
}

// Handlers take one extractor per input; grouping them would only hide that.
#[allow(clippy::too_many_arguments)]
async fn authorize_endpoint(
    State(app): AppStateRef,
    Path(realm): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    RawQuery(query): RawQuery,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(rt) = app.realm(&realm) else {
        let lang = pages::lang(&app, None, None, &headers);
        return pages::error(&app, None, &lang, StatusCode::NOT_FOUND, "This realm does not exist.");
    };
    if method == Method::POST && !is_form(&headers) {
        let lang = pages::lang(&app, Some(&rt), None, &headers);
        let message = format!("The sign-in request is malformed (invalid_request): {SEND_A_FORM}.");
        return pages::error(&app, Some(&rt), &lang, StatusCode::BAD_REQUEST, &message);
    }
    let raw = if method == Method::POST {
        body.to_vec()
    } else {
        query.unwrap_or_default().into_bytes()
    };
    let params = match parse_params(&raw) {
        Ok(p) => p,
        Err(e) => {
            let lang = pages::lang(&app, Some(&rt), None, &headers);
            let message = format!("The sign-in request is malformed: {e}.");
            return pages::error(&app, Some(&rt), &lang, StatusCode::BAD_REQUEST, &message);
        }
    };
    let lang = pages::lang(&app, Some(&rt), params.get("ui_locales").map(String::as_str), &headers);
    let request = match authorize::validate(&rt.realm, &params) {
        Ok(r) => r,
        Err(AuthorizeError::Page(e)) => return pages::error(&app, Some(&rt), &lang, StatusCode::BAD_REQUEST, &e.0),
        Err(AuthorizeError::Redirect { target, error }) => {
            return pages::authorization_response(&app, &rt, &lang, &target, Err(&error));
        }
    };
    let who = client_of(&jar, &headers, Some(peer));
    let next = sign_in::begin(&app, &rt, request, &who).await;
    respond(&app, &rt, jar, &headers, next)
}

async fn token_endpoint(
    State(app): AppStateRef,
    Path(realm): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(rt) = app.realm(&realm) else {
        return realm_not_found();
    };
    let result = async {
        if !is_form(&headers) {
            return Err(OAuthError::invalid_request(SEND_A_FORM));
        }
        let params = parse_params(&body).map_err(OAuthError::invalid_request)?;
        let form: TokenForm = serde_json::from_value(json!(params))
            .map_err(|e| OAuthError::invalid_request(format!("malformed request: {e}")))?;
        let presented = client_auth::presented(&headers, form.client_id.as_deref(), form.client_secret.as_deref())?;
        let client = client_auth::authenticate(&rt.realm, &presented)?;
        token::exchange(&app, &rt, client, &form, &Origin::of(&headers, Some(peer))).await
    }
    .await;
    match result {
        Ok(response) => {
            let mut r = axum::Json(response).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => e.into_response(),
    }
}

/// The credentials after an auth scheme, whose name is case-insensitive (RFC 7235 §2.1).
pub(crate) fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = value.split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// RFC 6750: the token from `Authorization: Bearer`, or the `access_token` form field; both
/// at once is an `invalid_request` (§2: a client uses exactly one method).
fn bearer(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, OAuthError> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| strip_scheme(v, "Bearer"))
        .map(|t| t.trim().to_string());
    let from_body = parse_params(body).ok().and_then(|mut p| p.remove("access_token"));
    match (from_header, from_body) {
        (Some(_), Some(_)) => {
            let mut e = OAuthError::invalid_request(
                "the access token is in both the Authorization header and the body; send it once",
            );
            e.www_authenticate = Some("Bearer error=\"invalid_request\"".into());
            Err(e)
        }
        (header, body) => Ok(header.or(body)),
    }
}

async fn userinfo(State(app): AppStateRef, Path(realm): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(rt) = app.realm(&realm) else {
        return realm_not_found();
    };
    let token = match bearer(&headers, &body) {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    let Some(token) = token else {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"gatehouse\""),
        );
        return r;
    };
    match introspection::userinfo(&app, &rt, &token).await {
        Ok(claims) => {
            let mut r = axum::Json(claims).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => e.into_response(),
    }
}

/// Shared by introspection and revocation: parse the form and authenticate the client.
fn authenticated_form<'r>(
    rt: &'r RealmRuntime,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(HashMap<String, String>, &'r crate::realm::Client), OAuthError> {
    let params = parse_params(body).map_err(OAuthError::invalid_request)?;
    let presented = client_auth::presented(
        headers,
        params.get("client_id").map(String::as_str),
        params.get("client_secret").map(String::as_str),
    )?;
    let client = client_auth::authenticate(&rt.realm, &presented)?;
    Ok((params, client))
}

async fn introspect(State(app): AppStateRef, Path(realm): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(rt) = app.realm(&realm) else {
        return realm_not_found();
    };
    let result = async {
        let (params, client) = authenticated_form(&rt, &headers, &body)?;
        if client.is_public() {
            return Err(OAuthError::invalid_client("public clients may not introspect", false));
        }
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        introspection::introspect(&app, &rt, client, token).await
    }
    .await;
    match result {
        Ok(v) => {
            let mut r = axum::Json(v).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn revoke(
    State(app): AppStateRef,
    Path(realm): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(rt) = app.realm(&realm) else {
        return realm_not_found();
    };
    let result = async {
        let (params, client) = authenticated_form(&rt, &headers, &body)?;
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        introspection::revoke(&app, &rt, client, token, &Origin::of(&headers, Some(peer))).await
    }
    .await;
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

/// RP-initiated logout. With a valid `id_token_hint` the session ends at once; without one,
/// the user confirms on a page (so a third-party page cannot sign them out).
async fn logout_endpoint(
    State(app): AppStateRef,
    Path(realm): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(rt) = app.realm(&realm) else {
        let lang = pages::lang(&app, None, None, &headers);
        return pages::error(&app, None, &lang, StatusCode::NOT_FOUND, "This realm does not exist.");
    };
    let lang = pages::lang(&app, Some(&rt), None, &headers);
    let raw = if method == Method::POST {
        body.to_vec()
    } else {
        query.unwrap_or_default().into_bytes()
    };
    let params = match parse_params(&raw) {
        Ok(p) => p,
        Err(e) => {
            return pages::error(
                &app,
                Some(&rt),
                &lang,
                StatusCode::BAD_REQUEST,
                &format!("The logout request is malformed: {e}."),
            );
        }
    };
    let session_cookie = jar.get(cookies::SSO_COOKIE).map(|c| c.value().to_string());
    let outcome = logout::logout(&app, &rt, &params, method == Method::POST, session_cookie.as_deref()).await;
    let target = match outcome {
        Ok(LogoutOutcome::Done(target)) => target,
        Ok(LogoutOutcome::Invalid(message)) => {
            return pages::error(&app, Some(&rt), &lang, StatusCode::BAD_REQUEST, &message);
        }
        Ok(LogoutOutcome::Confirm { carry, csrf }) => {
            // The confirmation posts here, and the answer redirects to the (verified)
            // post-logout redirect URI.
            let targets: Vec<String> = carry
                .iter()
                .filter(|(k, _)| k == "post_logout_redirect_uri")
                .map(|(_, v)| v.clone())
                .collect();
            let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
            let ctx = json!({
                "action": format!("/realms/{realm}/protocol/openid-connect/logout"),
                "csrf": csrf,
                "carry": carry,
            });
            let mut page = pages::render(&app, Some(&rt), &lang, StatusCode::OK, "logout_confirm.html", ctx);
            page.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                crate::web::csp_with_form_targets(crate::web::CSP, &targets),
            );
            return page;
        }
        Err(e) => {
            tracing::error!(error = %e, "logout failed");
            return pages::error(
                &app,
                Some(&rt),
                &lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Signing out failed; please try again.",
            );
        }
    };
    let secure = app.settings.is_https();
    let jar = jar.add(cookies::removal(cookies::SSO_COOKIE, &realm, secure));
    match target {
        LogoutTarget::Redirect(url) => {
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            (jar, r).into_response()
        }
        LogoutTarget::Page => {
            let ctx = json!({ "heading": "You are signed out", "message": "You can close this window." });
            (
                jar,
                pages::render(&app, Some(&rt), &lang, StatusCode::OK, "info.html", ctx),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(parse_params(b"a=1&b=2").is_ok());
        assert!(parse_params(b"a=1&a=2").is_err());
    }
}
