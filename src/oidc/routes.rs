//! HTTP handlers for the OIDC endpoints (paths as Keycloak's, see DESIGN.md).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde_json::json;

use super::error::{Challenge, OAuthError};
use super::grants::{self, TokenForm};
use super::logout::{self, LogoutOutcome, LogoutTarget};
use super::{client_auth, introspection, session_status};

use crate::state::{AppState, RealmRuntime};
use crate::web::pages::{self, PageError};
use crate::web::{cookies, http};

pub fn routes() -> Router<Arc<AppState>> {
    let oidc = "/realms/{realm}/protocol/openid-connect";
    Router::new()
        .route("/realms/{realm}", get(realm_info))
        .route(&format!("{oidc}/3p-cookies/step1.html"), get(third_party_cookies_set))
        .route(&format!("{oidc}/3p-cookies/step2.html"), get(third_party_cookies_read))
        .route(&format!("{oidc}/login-status-iframe.html"), get(login_status_frame))
        .route(&format!("{oidc}/login-status-iframe.html/init"), get(login_status_init))
        .route(
            &format!("{oidc}/login-status-iframe.html/check"),
            get(login_status_check),
        )
        .route("/realms/{realm}/.well-known/openid-configuration", get(discovery))
        .route(&format!("{oidc}/certs"), get(jwks))
        .route(&format!("{oidc}/token"), post(token_endpoint))
        .route(&format!("{oidc}/userinfo"), get(userinfo).post(userinfo))
        .route(&format!("{oidc}/token/introspect"), post(introspect))
        .route(&format!("{oidc}/revoke"), post(revoke))
        .route(&format!("{oidc}/logout"), get(logout_endpoint).post(logout_endpoint))
}

type AppStateRef = State<Arc<AppState>>;

/// Every OAuth error a client sees, in one place: its status from its code (RFC 6749 §5.2,
/// RFC 6750 §3.1), a JSON body, never cached, and the challenge it asks for.
impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match self.code {
            "invalid_client" | "invalid_token" => StatusCode::UNAUTHORIZED,
            "insufficient_scope" => StatusCode::FORBIDDEN,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let challenge = self.challenge.map(|c| match (c, self.code) {
            (Challenge::Basic, _) => "Basic realm=\"gatehouse\"".to_string(),
            (Challenge::Bearer, "invalid_token") => format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                self.description.replace('"', "'")
            ),
            (Challenge::Bearer, "insufficient_scope") => {
                "Bearer error=\"insufficient_scope\", scope=\"openid\"".to_string()
            }
            (Challenge::Bearer, code) => format!("Bearer error=\"{code}\""),
        });
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) = challenge.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

fn json_bytes(body: bytes::Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn realm_not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "realm not found" }))).into_response()
}

/// The realm named in the path (`{realm}`) as this node serves it, if it does.
async fn realm_in_path(parts: &mut Parts, app: &Arc<AppState>) -> Option<Arc<RealmRuntime>> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, app)
        .await
        .ok()?;
    params.get("realm").and_then(|name| app.realm(name))
}

/// The realm in the path, for the back channel: a JSON 404 when there is none.
pub(crate) struct ServedRealm(pub Arc<RealmRuntime>);

impl FromRequestParts<Arc<AppState>> for ServedRealm {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<ServedRealm, Response> {
        realm_in_path(parts, app)
            .await
            .map(ServedRealm)
            .ok_or_else(realm_not_found)
    }
}

/// The realm in the path, for pages people see: a localized 404 page when there is none.
pub(crate) struct PageRealm(pub Arc<RealmRuntime>);

impl FromRequestParts<Arc<AppState>> for PageRealm {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<PageRealm, PageError> {
        let not_found = || PageError::new(StatusCode::NOT_FOUND, "realmNotFound");
        realm_in_path(parts, app).await.map(PageRealm).ok_or_else(not_found)
    }
}

/// A JSON answer that holds tokens or claims: never stored by caches (RFC 6749 §5.1).
use crate::web::http::NoStore;

/// A protocol error for people, as a page.
pub(crate) fn page_error(status: StatusCode, e: crate::oidc::error::PageProblem) -> PageError {
    e.args
        .into_iter()
        .fold(PageError::new(status, e.key), |page, (name, value)| {
            page.arg(name, value)
        })
}

/// Whether a request's body is declared as a form (`application/x-www-form-urlencoded`, any
/// parameters such as `charset`), as the token endpoint (RFC 6749 §3.2) and a POSTed
/// authorization request (OIDC Core §3.1.2.1) require.
pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

const SEND_A_FORM: &str = "send the body as Content-Type: application/x-www-form-urlencoded";

/// Parses an `application/x-www-form-urlencoded` body or query; repeated parameters are an
/// error (RFC 6749 §3.1).
pub(crate) fn parse_params(raw: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!("parameter '{k}' is repeated"));
        }
    }
    Ok(out)
}

async fn discovery(ServedRealm(rt): ServedRealm) -> Response {
    let document = rt
        .discovery_json
        .get_or_init(|| super::discovery::document(&rt.issuer, &rt.realm).into());
    json_bytes(document.clone())
}

/// A frame page of `session_status`: HTML that runs `script`, framable by the realm's web
/// origins only, never cached.
fn frame_page(rt: &RealmRuntime, title: &str, script: &str, connect: bool) -> Response {
    let csp = session_status::frame_csp(&rt.realm, script, connect);
    let mut r = axum::response::Html(session_status::page(title, script)).into_response();
    let headers = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Step 1 of the third-party cookie check: a test cookie like the SSO cookie, then step 2.
async fn third_party_cookies_set(State(app): AppStateRef, ServedRealm(rt): ServedRealm) -> Response {
    // A session cookie: step 2 removes it.
    let cookie = cookies::build(
        session_status::CHECK_COOKIE,
        "supported".into(),
        &rt.realm.name,
        app.settings.is_https(),
    );
    let mut r = (StatusCode::FOUND, [(header::LOCATION, "step2.html")]).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Step 2: tells the embedding app whether the test cookie came back, and removes it.
async fn third_party_cookies_read(State(app): AppStateRef, ServedRealm(rt): ServedRealm, jar: CookieJar) -> Response {
    let script = match jar.get(session_status::CHECK_COOKIE) {
        Some(_) => session_status::SUPPORTED_SCRIPT,
        None => session_status::UNSUPPORTED_SCRIPT,
    };
    let mut r = frame_page(&rt, "Cookie check", script, false);
    let removal = cookies::removal(session_status::CHECK_COOKIE, &rt.realm.name, app.settings.is_https());
    if let Ok(v) = HeaderValue::from_str(&removal.to_string()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn login_status_frame(ServedRealm(rt): ServedRealm) -> Response {
    frame_page(&rt, "Session check", session_status::STATUS_SCRIPT, true)
}

/// The `client_id` and `origin` of a session-check request, when that origin is the client's.
fn status_request(rt: &RealmRuntime, query: Option<String>) -> Option<HashMap<String, String>> {
    let params = parse_params(query.unwrap_or_default().as_bytes()).ok()?;
    let client_id = params.get("client_id")?;
    let origin = params.get("origin")?;
    session_status::origin_allowed(&rt.realm, client_id, origin).then_some(params)
}

/// Keycloak's `init`: `204` when the origin is the client's, else `403`.
async fn login_status_init(ServedRealm(rt): ServedRealm, RawQuery(query): RawQuery) -> StatusCode {
    match status_request(&rt, query) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::FORBIDDEN,
    }
}

/// `unchanged` or `changed` (text), for an origin of the client's; `403` otherwise.
async fn login_status_check(
    State(app): AppStateRef,
    ServedRealm(rt): ServedRealm,
    RawQuery(query): RawQuery,
    jar: CookieJar,
) -> Response {
    let Some(params) = status_request(&rt, query) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let sid = params.get("sid").map(String::as_str).unwrap_or_default();
    let sso = jar.get(cookies::SSO_COOKIE).map(|c| c.value());
    match session_status::status(&app, &rt, sso, sid).await {
        Ok(status) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            status,
        )
            .into_response(),
        Err(e) => OAuthError::from(e).into_response(),
    }
}

/// Keycloak's public realm document (`GET /realms/{realm}`), which client libraries such as
/// python-keycloak read for the signing key and the service URLs.
async fn realm_info(State(app): AppStateRef, ServedRealm(rt): ServedRealm) -> Response {
    let public_key = app.keys.active(&rt.realm.name).and_then(|k| k.public_key_spki_b64());
    let body = serde_json::json!({
        "realm": rt.realm.name,
        "public_key": public_key,
        "token-service": format!("{}/protocol/openid-connect", rt.issuer),
        "account-service": format!("{}/account", rt.issuer),
        "tokens-not-before": 0,
    });
    let mut r = axum::Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn jwks(State(app): AppStateRef, Path(realm): Path<String>) -> Response {
    match app.keys.get(&realm) {
        Some(keys) if app.realm(&realm).is_some() => json_bytes(keys.jwks_json.clone()),
        _ => realm_not_found(),
    }
}

async fn token_endpoint(
    State(app): AppStateRef,
    ServedRealm(rt): ServedRealm,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, OAuthError> {
    if !is_form(&headers) {
        return Err(OAuthError::invalid_request(SEND_A_FORM));
    }
    let params = parse_params(&body).map_err(OAuthError::invalid_request)?;
    let form: TokenForm = serde_json::from_value(json!(params))
        .map_err(|e| OAuthError::invalid_request(format!("malformed request: {e}")))?;
    let presented = client_auth::presented(
        http::credentials(&headers, "Basic"),
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )?;
    let client = client_auth::authenticate(&rt.realm, &presented)?;
    let response = grants::exchange(&app, &rt, client, &form, &http::origin(&headers, Some(peer))).await?;
    Ok(NoStore(response))
}

/// RFC 6750: the token from `Authorization: Bearer`, or the `access_token` form field; both
/// at once is an `invalid_request` (§2: a client uses exactly one method).
fn bearer(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, OAuthError> {
    let from_header = http::credentials(headers, "Bearer").map(String::from);
    let from_body = parse_params(body).ok().and_then(|mut p| p.remove("access_token"));
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "the access token is in both the Authorization header and the body; send it once",
        )
        .with_challenge(Challenge::Bearer)),
        (header, body) => Ok(header.or(body)),
    }
}

async fn userinfo(
    State(app): AppStateRef,
    ServedRealm(rt): ServedRealm,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let Some(token) = bearer(&headers, &body)? else {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"gatehouse\""),
        );
        return Ok(r);
    };
    let ip = peer.ip().to_string();
    let claims = introspection::userinfo(&app, &rt, &token, Some(&ip)).await?;
    Ok(NoStore(claims).into_response())
}

/// Shared by introspection and revocation: parse the form and authenticate the client.
fn authenticated_form<'r>(
    rt: &'r RealmRuntime,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(HashMap<String, String>, &'r crate::realm::Client), OAuthError> {
    let params = parse_params(body).map_err(OAuthError::invalid_request)?;
    let presented = client_auth::presented(
        http::credentials(headers, "Basic"),
        params.get("client_id").map(String::as_str),
        params.get("client_secret").map(String::as_str),
    )?;
    let client = client_auth::authenticate(&rt.realm, &presented)?;
    Ok((params, client))
}

async fn introspect(
    State(app): AppStateRef,
    ServedRealm(rt): ServedRealm,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, OAuthError> {
    let (params, client) = authenticated_form(&rt, &headers, &body)?;
    if client.is_public() {
        return Err(OAuthError::invalid_client("public clients may not introspect", false));
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    Ok(NoStore(introspection::introspect(&app, &rt, client, token).await?))
}

async fn revoke(
    State(app): AppStateRef,
    ServedRealm(rt): ServedRealm,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, OAuthError> {
    let (params, client) = authenticated_form(&rt, &headers, &body)?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    introspection::revoke(&app, &rt, client, token, &http::origin(&headers, Some(peer))).await?;
    Ok(StatusCode::OK)
}

/// RP-initiated logout. With a valid `id_token_hint` the session ends at once; without one,
/// the user confirms on a page (so a third-party page cannot sign them out).
async fn logout_endpoint(
    State(app): AppStateRef,
    PageRealm(rt): PageRealm,
    method: Method,
    RawQuery(query): RawQuery,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::POST && is_form(&headers) {
        let form = parse_params(&body).unwrap_or_default();
        if let Some(refresh_token) = form.get("refresh_token") {
            return back_channel_logout(&app, &rt, &headers, &form, refresh_token).await;
        }
    }
    let lang = pages::lang(&app.templates, Some(&rt.realm), None, &headers);
    let params = match front_channel_params(&method, query, &body) {
        Ok(p) => p,
        Err(e) => {
            return PageError::new(StatusCode::BAD_REQUEST, "malformedLogout")
                .arg("detail", e)
                .into_response();
        }
    };
    let session_cookie = jar.get(cookies::SSO_COOKIE).map(|c| c.value().to_string());
    let outcome = logout::logout(&app, &rt, &params, method == Method::POST, session_cookie.as_deref()).await;
    let target = match outcome {
        Ok(LogoutOutcome::Done(target)) => target,
        Ok(LogoutOutcome::Invalid(e)) => return page_error(StatusCode::BAD_REQUEST, e).into_response(),
        Ok(LogoutOutcome::Confirm { carry, csrf }) => return logout_confirmation(&app, &rt, &lang, carry, csrf),
        Err(e) => {
            tracing::error!(error = %e, "logout failed");
            return PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "logoutFailed").into_response();
        }
    };
    let secure = app.settings.is_https();
    let jar = jar.add(cookies::removal(cookies::SSO_COOKIE, &rt.realm.name, secure));
    match target {
        LogoutTarget::Redirect(url) => {
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            (jar, r).into_response()
        }
        LogoutTarget::Page => {
            let ctx = json!({ "heading": "loggedOutHeading", "message": "loggedOutMessage" });
            (
                jar,
                pages::render(&app.templates, Some(&rt.realm), &lang, StatusCode::OK, "info.html", ctx),
            )
                .into_response()
        }
    }
}

/// The page that asks the person to confirm the logout. It posts back here, and the answer
/// redirects to the (verified) post-logout redirect URI, which `form-action` must allow.
fn logout_confirmation(
    app: &AppState,
    rt: &RealmRuntime,
    lang: &str,
    carry: Vec<(String, String)>,
    csrf: String,
) -> Response {
    let targets: Vec<&str> = carry
        .iter()
        .filter(|(k, _)| k == "post_logout_redirect_uri")
        .map(|(_, v)| v.as_str())
        .collect();
    let csp = crate::web::csp_with_form_targets(crate::web::CSP, &targets);
    let ctx = json!({
        "action": format!("/realms/{}/protocol/openid-connect/logout", rt.realm.name),
        "csrf": csrf,
        "carry": carry,
    });
    let mut page = pages::render(
        &app.templates,
        Some(&rt.realm),
        lang,
        StatusCode::OK,
        "logout_confirm.html",
        ctx,
    );
    page.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    page
}

/// The parameters of a front-channel request (authorize, logout): the query of a GET, the form
/// body of a POST. Repeated parameters are refused.
/// A client ends the session of one of its refresh tokens (Keycloak's adapters and admin
/// clients log out this way): `204`, or an OAuth error.
async fn back_channel_logout(
    app: &AppState,
    rt: &RealmRuntime,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    refresh_token: &str,
) -> Response {
    let client = client_auth::presented(
        http::credentials(headers, "Basic"),
        form.get("client_id").map(String::as_str),
        form.get("client_secret").map(String::as_str),
    )
    .and_then(|presented| client_auth::authenticate(&rt.realm, &presented).cloned());
    let result = match client {
        Ok(client) => logout::by_refresh_token(app, rt, &client, refresh_token).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => e.into_response(),
    }
}

pub(crate) fn front_channel_params(
    method: &Method,
    query: Option<String>,
    body: &[u8],
) -> Result<HashMap<String, String>, String> {
    if method == Method::POST {
        parse_params(body)
    } else {
        parse_params(query.unwrap_or_default().as_bytes())
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
