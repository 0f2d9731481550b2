//! HTTP handlers of the sign-in pages: thin wrappers that extract, call `sign_in`, render.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use serde_json::{Value, json};

use super::sign_in::{self, Next};
use crate::oidc::authorize::{self, AuthorizeError, RedirectTarget, ResponseMode};
use crate::oidc::error::RedirectError;
use crate::oidc::routes::{PageRealm, front_channel_params, is_form, page_error};
use crate::state::{AppState, RealmRuntime};
use crate::web::cookies;
use crate::web::pages::{self, PageError};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/realms/{realm}/protocol/openid-connect/auth",
            get(authorize_endpoint).post(authorize_endpoint),
        )
        .route("/realms/{realm}/login-actions/authenticate", get(show).post(submit))
        .route(
            "/realms/{realm}/login-actions/reset-credentials",
            get(reset_credentials),
        )
        .route(
            "/realms/{realm}/login-actions/action-token",
            get(action_token).post(confirm_action_token),
        )
        .route("/realms/{realm}/broker/{alias}/login", get(broker_login))
        .route("/realms/{realm}/broker/{alias}/endpoint", get(broker_endpoint))
}

/// A provider's button on the login page: to the provider, within this sign-in.
async fn broker_login(
    State(app): State<Arc<AppState>>,
    PageRealm(rt): PageRealm,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::extract::Path((_, alias)): axum::extract::Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let who = client_of(&jar, &headers, Some(peer));
    let auth_cookie = jar.get(cookies::AUTH_COOKIE).map(|c| c.value().to_string());
    let csrf = query.get("csrf").map(String::as_str).unwrap_or_default();
    let next = super::broker::choose(&app, &rt, auth_cookie.as_deref(), &alias, csrf, &who).await;
    respond(&app, &rt, jar, &headers, next)
}

/// The provider's return (Keycloak's broker endpoint path).
async fn broker_endpoint(
    State(app): State<Arc<AppState>>,
    PageRealm(rt): PageRealm,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::extract::Path((_, alias)): axum::extract::Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let who = client_of(&jar, &headers, Some(peer));
    // Back from linking an account in the console (its cookie), or from a sign-in.
    if let Some(sealed) = jar.get(super::broker::LINK_COOKIE).map(|c| c.value().to_string()) {
        return linked(&app, &rt, jar, &alias, &query, &who, &sealed).await;
    }
    let auth_cookie = jar.get(cookies::AUTH_COOKIE).map(|c| c.value().to_string());
    let next = super::broker::returned(&app, &rt, auth_cookie.as_deref(), &alias, &query, &who).await;
    respond(&app, &rt, jar, &headers, next)
}

/// The end of linking an account from the console: back to its Linked accounts page.
async fn linked(
    app: &AppState,
    rt: &RealmRuntime,
    jar: CookieJar,
    alias: &str,
    query: &HashMap<String, String>,
    who: &sign_in::Browser,
    sealed: &str,
) -> Response {
    let secure = app.settings.is_https();
    let session = match &who.sso_cookie {
        Some(cookie) => {
            let idle = rt.realm.tokens.sso_idle.as_secs();
            let hash = crate::crypto::sha256_hex(cookie.as_bytes());
            app.store
                .active_sso_session(&rt.realm.name, &hash, idle)
                .await
                .ok()
                .flatten()
        }
        None => None,
    };
    let done = super::broker::finish_link(
        app,
        rt,
        sealed,
        session.as_ref().map(|s| s.id.as_str()),
        alias,
        query,
        who,
    )
    .await;
    let notice = match done {
        Ok(Ok(())) => "linked",
        Ok(Err(super::broker::LinkRefusal::Taken)) => "link-taken",
        Ok(Err(super::broker::LinkRefusal::Failed)) => "link-failed",
        Err(e) => {
            tracing::error!(error = %crate::ops::logging::untrusted(&e.to_string()), "cannot link an account");
            "link-failed"
        }
    };
    let jar = jar.add(cookies::removal(super::broker::LINK_COOKIE, &rt.realm.name, secure));
    let url = format!("/realms/{}/account/linked?notice={notice}", rt.realm.name);
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    (jar, r).into_response()
}

// Handlers take one extractor per input; grouping them would only hide that.
#[allow(clippy::too_many_arguments)]
async fn authorize_endpoint(
    State(app): State<Arc<AppState>>,
    PageRealm(rt): PageRealm,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    RawQuery(query): RawQuery,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::POST && !is_form(&headers) {
        return PageError::new(StatusCode::BAD_REQUEST, "signInNotAForm").into_response();
    }
    let params = match front_channel_params(&method, query, &body) {
        Ok(p) => p,
        Err(e) => {
            return PageError::new(StatusCode::BAD_REQUEST, "malformedSignIn")
                .arg("detail", e)
                .into_response();
        }
    };
    let lang = pages::lang(
        &app.templates,
        Some(&rt.realm),
        params.get("ui_locales").map(String::as_str),
        &headers,
    );
    let request = match authorize::validate(&rt.realm, &params) {
        Ok(r) => r,
        Err(AuthorizeError::Page(e)) => return page_error(StatusCode::BAD_REQUEST, e).in_lang(&lang).into_response(),
        Err(AuthorizeError::Redirect { target, error }) => {
            return authorization_response(&app, &rt, &lang, &target, Err(&error));
        }
    };
    let who = client_of(&jar, &headers, Some(peer));
    let next = sign_in::begin(&app, &rt, request, &who).await;
    respond(&app, &rt, jar, &headers, next)
}

pub fn action_url(realm: &str) -> String {
    format!("/realms/{realm}/login-actions/authenticate")
}

/// Who is asking, from the request.
pub fn client_of(jar: &CookieJar, headers: &HeaderMap, peer: Option<SocketAddr>) -> sign_in::Browser {
    sign_in::Browser {
        sso_cookie: jar.get(cookies::SSO_COOKIE).map(|c| c.value().to_string()),
        device_cookie: jar
            .get(cookies::DEVICE_COOKIE)
            .map(|c| c.value().chars().take(200).collect()),
        ip: peer.map(|p| p.ip().to_string()),
        user_agent: crate::web::http::user_agent(headers),
        accept_language: headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(200).collect()),
    }
}

/// "Forgot password?" on a sign-in page.
async fn reset_credentials(
    State(app): State<Arc<AppState>>,
    PageRealm(rt): PageRealm,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let who = client_of(&jar, &headers, Some(peer));
    let auth_cookie = jar.get(cookies::AUTH_COOKIE).map(|c| c.value().to_string());
    let next = super::links::start_reset(&app, &rt, auth_cookie.as_deref(), &who).await;
    respond(&app, &rt, jar, &headers, next)
}

/// A link from a message (`?key=`): back into the sign-in it belongs to.
async fn action_token(
    State(app): State<Arc<AppState>>,
    PageRealm(rt): PageRealm,
    Query(query): Query<HashMap<String, String>>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let key = query.get("key").map(String::as_str).unwrap_or_default();
    if key.is_empty() || key.len() > 128 {
        return PageError::new(StatusCode::BAD_REQUEST, "linkUnknown").into_response();
    }
    let outcome = super::links::link_page(&app, &rt, key).await;
    link_response(&app, &rt, jar, &headers, key, outcome)
}

/// Renders what opening (or confirming) a link led to.
fn link_response(
    app: &AppState,
    rt: &RealmRuntime,
    jar: CookieJar,
    headers: &HeaderMap,
    key: &str,
    outcome: Result<super::links::LinkOutcome, crate::flow::EngineError>,
) -> Response {
    use super::links::LinkOutcome;
    let lang = || pages::lang(&app.templates, Some(&rt.realm), None, headers);
    let realm = &rt.realm.name;
    match outcome {
        Ok(LinkOutcome::Continue { auth_cookie }) => {
            let jar = match auth_cookie {
                Some(token) => jar.add(cookies::build(
                    cookies::AUTH_COOKIE,
                    token,
                    realm,
                    app.settings.is_https(),
                )),
                None => jar,
            };
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&action_url(realm)) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            (jar, r).into_response()
        }
        Ok(LinkOutcome::Refused(message)) => PageError::new(StatusCode::BAD_REQUEST, message).into_response(),
        Ok(LinkOutcome::Confirm {
            template,
            mut context,
            form_target,
        }) => {
            if let Some(obj) = context.as_object_mut() {
                obj.insert("key".into(), json!(key));
                obj.insert(
                    "action".into(),
                    json!(format!("/realms/{realm}/login-actions/action-token")),
                );
            }
            let mut page = pages::render(
                &app.templates,
                Some(&rt.realm),
                &lang(),
                StatusCode::OK,
                template,
                context,
            );
            if let Some(target) = form_target {
                page.headers_mut().insert(
                    axum::http::header::CONTENT_SECURITY_POLICY,
                    crate::web::csp_with_form_targets(crate::web::CSP, &[&target]),
                );
            }
            page
        }
        Ok(LinkOutcome::Done { heading, message }) => {
            let page = json!({ "heading": heading, "message": message });
            pages::render(
                &app.templates,
                Some(&rt.realm),
                &lang(),
                StatusCode::OK,
                "info.html",
                page,
            )
        }
        Err(e) => {
            tracing::error!(error = %crate::ops::logging::untrusted(&e.to_string()), "cannot open a link");
            PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "internalError").into_response()
        }
    }
}

/// A link's page, confirmed (its form posts the key back).
async fn confirm_action_token(
    State(app): State<Arc<AppState>>,
    PageRealm(rt): PageRealm,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let key = form.get("key").map(String::as_str).unwrap_or_default();
    if key.is_empty() || key.len() > 128 {
        return PageError::new(StatusCode::BAD_REQUEST, "linkUnknown").into_response();
    }
    let auth_cookie = jar.get(cookies::AUTH_COOKIE).map(|c| c.value().to_string());
    let ip = Some(peer.ip().to_string());
    let outcome = super::links::act_on_link(&app, &rt, key, auth_cookie.as_deref(), ip).await;
    link_response(&app, &rt, jar, &headers, key, outcome)
}

async fn show(
    State(app): State<Arc<AppState>>,
    PageRealm(rt): PageRealm,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    run(&app, &rt, jar, headers, peer, HashMap::new(), None).await
}

async fn submit(
    State(app): State<Arc<AppState>>,
    PageRealm(rt): PageRealm,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    jar: CookieJar,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    run(&app, &rt, jar, headers, peer, form, query.get("step").cloned()).await
}

async fn run(
    app: &AppState,
    rt: &RealmRuntime,
    jar: CookieJar,
    headers: HeaderMap,
    peer: SocketAddr,
    form: HashMap<String, String>,
    step: Option<String>,
) -> Response {
    let who = client_of(&jar, &headers, Some(peer));
    let auth_cookie = jar.get(cookies::AUTH_COOKIE).map(|c| c.value().to_string());
    let next = sign_in::resume(app, rt, auth_cookie.as_deref(), &form, step.as_deref(), &who).await;
    respond(app, rt, jar, &headers, next)
}

/// Renders what the sign-in decided.
pub fn respond(
    app: &AppState,
    rt: &RealmRuntime,
    jar: CookieJar,
    headers: &HeaderMap,
    next: Result<Next, crate::flow::EngineError>,
) -> Response {
    let secure = app.settings.is_https();
    let browser_lang = || pages::lang(&app.templates, Some(&rt.realm), None, headers);
    let realm = &rt.realm.name;
    match next {
        Ok(page @ Next::Page { .. }) => flow_page(app, rt, jar, headers, page),
        Ok(Next::Redirect { url, auth_cookie }) => {
            let mut jar = jar;
            if let Some(token) = auth_cookie {
                jar = jar.add(cookies::build(cookies::AUTH_COOKIE, token, realm, secure));
            }
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            (jar, r).into_response()
        }
        Ok(Next::Respond {
            target,
            result,
            sso_cookie,
            device_cookie,
        }) => {
            let mut jar = jar.add(cookies::removal(cookies::AUTH_COOKIE, realm, secure));
            if let Some(token) = sso_cookie {
                jar = jar.add(cookies::build(cookies::SSO_COOKIE, token, realm, secure));
            }
            if let Some((value, days)) = device_cookie {
                let mut cookie = cookies::build(cookies::DEVICE_COOKIE, value, realm, secure);
                cookie.set_max_age(cookie::time::Duration::days(i64::from(days)));
                jar = jar.add(cookie);
            }
            let response = authorization_response(app, rt, &browser_lang(), &target, result.as_deref());
            (jar, response).into_response()
        }
        Ok(Next::Error(message)) => {
            let jar = jar.add(cookies::removal(cookies::AUTH_COOKIE, realm, secure));
            (jar, PageError::new(StatusCode::BAD_REQUEST, message)).into_response()
        }
        Ok(Next::Info { heading, message }) => {
            let jar = jar.add(cookies::removal(cookies::AUTH_COOKIE, realm, secure));
            let page = pages::render(
                &app.templates,
                Some(&rt.realm),
                &browser_lang(),
                StatusCode::OK,
                "info.html",
                json!({ "heading": heading, "message": message }),
            );
            (jar, page).into_response()
        }
        Ok(Next::TooMany(message)) => {
            let retry = [(header::RETRY_AFTER, HeaderValue::from_static("60"))];
            (retry, PageError::new(StatusCode::TOO_MANY_REQUESTS, message)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %crate::ops::logging::untrusted(&e.to_string()), "sign-in failed");
            PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "internalError").into_response()
        }
    }
}

/// A page of the flow: its form's CSRF token and step in place, the authentication cookie set
/// when the sign-in is new, and no `form-action` (see [`crate::web::csp_for_sign_in`]).
fn flow_page(app: &AppState, rt: &RealmRuntime, jar: CookieJar, headers: &HeaderMap, next: Next) -> Response {
    let Next::Page {
        page,
        csrf,
        step,
        auth_cookie,
        ui_locales,
        ..
    } = next
    else {
        return PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "internalError").into_response();
    };
    let secure = app.settings.is_https();
    let realm = &rt.realm.name;
    let lang = pages::lang(&app.templates, Some(&rt.realm), ui_locales.as_deref(), headers);
    let mut ctx = page.context;
    let mut action = action_url(realm);
    if let Some(step) = step {
        let step: String = url::form_urlencoded::byte_serialize(step.as_bytes()).collect();
        action = format!("{action}?step={step}");
    }
    let offers_passkey = ctx.get("webauthn").is_some_and(|w| !w.is_null());
    if let Value::Object(obj) = &mut ctx {
        if offers_passkey {
            obj.insert("webauthn_script".into(), json!(crate::web::WEBAUTHN_SCRIPT));
        }
        obj.insert("csrf".into(), Value::String(csrf));
        obj.insert("action".into(), Value::String(action));
        if matches!(
            page.template,
            "otp.html" | "sent_code.html" | "recovery_code.html" | "security_key.html"
        ) && rt.realm.trusted_devices.enabled
            && obj.get("no_remember").is_none()
        {
            obj.insert("remember_days".into(), json!(rt.realm.trusted_devices.days));
        }
        if matches!(page.template, "login.html" | "password.html") && super::links::reset_offered(app, rt) {
            let reset = format!("/realms/{realm}/login-actions/reset-credentials");
            obj.insert("reset_url".into(), Value::String(reset));
        }
    }
    let jar = match auth_cookie {
        Some(token) => jar.add(cookies::build(cookies::AUTH_COOKIE, token, realm, secure)),
        None => jar,
    };
    let mut response = pages::render(
        &app.templates,
        Some(&rt.realm),
        &lang,
        StatusCode::OK,
        page.template,
        ctx,
    );
    // The form posts here, and the answer redirects to the client; passkey pages run their
    // one script.
    let policy = if offers_passkey {
        crate::web::csp_allowing_script(crate::web::WEBAUTHN_SCRIPT)
            .to_str()
            .unwrap_or(crate::web::CSP)
            .to_string()
    } else {
        crate::web::CSP.to_string()
    };
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, crate::web::csp_for_sign_in(&policy));
    (jar, response).into_response()
}

/// Sends an authorization response (code or error) to the client's verified redirect URI.
pub fn authorization_response(
    app: &AppState,
    rt: &RealmRuntime,
    lang: &str,
    target: &RedirectTarget,
    result: Result<&str, &RedirectError>,
) -> Response {
    let params = authorize::response_params(target, &rt.issuer, result);
    match target.response_mode {
        ResponseMode::Query | ResponseMode::Fragment => {
            let url = if target.response_mode == ResponseMode::Fragment {
                authorize::fragment_url(&target.redirect_uri, &params)
            } else {
                authorize::redirect_url(&target.redirect_uri, &params)
            };
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        ResponseMode::FormPost => {
            let ctx = json!({ "action": target.redirect_uri, "params": params });
            let mut r = pages::render(
                &app.templates,
                Some(&rt.realm),
                lang,
                StatusCode::OK,
                "form_post.html",
                ctx,
            );
            // The one inline script, allowed by its hash; the form posts to the client.
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                crate::web::csp_with_form_targets(
                    "default-src 'none'; script-src 'sha256-ePniVEkSivX/c7XWBGafqh8tSpiRrKiqYeqbG7N1TOE='; frame-ancestors 'none'",
                    &[&target.redirect_uri],
                ),
            );
            r
        }
    }
}
