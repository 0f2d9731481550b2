//! HTTP handlers of the sign-in pages: thin wrappers that extract, call `sign_in`, render.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use serde_json::Value;

use super::sign_in::{self, Next};
use crate::server::{AppState, RealmRuntime};
use crate::web::{cookies, pages};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/realms/{realm}/login-actions/authenticate", get(show).post(submit))
}

pub fn action_url(realm: &str) -> String {
    format!("/realms/{realm}/login-actions/authenticate")
}

/// Who is asking, from the request.
pub fn client_of(jar: &CookieJar, headers: &HeaderMap, peer: Option<SocketAddr>) -> sign_in::Client {
    sign_in::Client {
        sso_cookie: jar.get(cookies::SSO_COOKIE).map(|c| c.value().to_string()),
        ip: peer.map(|p| p.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    }
}

async fn show(
    State(app): State<Arc<AppState>>,
    Path(realm): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    run(app, realm, jar, headers, peer, HashMap::new(), None).await
}

async fn submit(
    State(app): State<Arc<AppState>>,
    Path(realm): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    jar: CookieJar,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    run(app, realm, jar, headers, peer, form, query.get("step").cloned()).await
}

async fn run(
    app: Arc<AppState>,
    realm: String,
    jar: CookieJar,
    headers: HeaderMap,
    peer: SocketAddr,
    form: HashMap<String, String>,
    step: Option<String>,
) -> Response {
    let Some(rt) = app.realm(&realm) else {
        let lang = pages::lang(&app, None, None, &headers);
        return pages::error(&app, None, &lang, StatusCode::NOT_FOUND, "realmNotFound");
    };
    let who = client_of(&jar, &headers, Some(peer));
    let auth_cookie = jar.get(cookies::AUTH_COOKIE).map(|c| c.value().to_string());
    let next = sign_in::resume(&app, &rt, auth_cookie.as_deref(), &form, step.as_deref(), &who).await;
    respond(&app, &rt, jar, &headers, next)
}

/// Renders what the sign-in decided.
pub fn respond(
    app: &AppState,
    rt: &RealmRuntime,
    jar: CookieJar,
    headers: &HeaderMap,
    next: Result<Next, super::EngineError>,
) -> Response {
    let secure = app.settings.is_https();
    let browser_lang = || pages::lang(app, Some(rt), None, headers);
    let realm = &rt.realm.name;
    match next {
        Ok(Next::Page {
            page,
            csrf,
            step,
            auth_cookie,
            ui_locales,
            form_target,
        }) => {
            let lang = pages::lang(app, Some(rt), ui_locales.as_deref(), headers);
            let mut ctx = page.context;
            let mut action = action_url(realm);
            if let Some(step) = step {
                let step: String = url::form_urlencoded::byte_serialize(step.as_bytes()).collect();
                action = format!("{action}?step={step}");
            }
            if let Value::Object(obj) = &mut ctx {
                obj.insert("csrf".into(), Value::String(csrf));
                obj.insert("action".into(), Value::String(action));
            }
            let jar = match auth_cookie {
                Some(token) => jar.add(cookies::build(cookies::AUTH_COOKIE, token, realm, secure)),
                None => jar,
            };
            let mut response = pages::render(app, Some(rt), &lang, StatusCode::OK, page.template, ctx);
            // The form posts here, and the answer redirects to the client.
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                crate::web::csp_with_form_targets(crate::web::CSP, &[&form_target]),
            );
            (jar, response).into_response()
        }
        Ok(Next::Respond {
            target,
            result,
            sso_cookie,
        }) => {
            let mut jar = jar.add(cookies::removal(cookies::AUTH_COOKIE, realm, secure));
            if let Some(token) = sso_cookie {
                jar = jar.add(cookies::build(cookies::SSO_COOKIE, token, realm, secure));
            }
            let response = pages::authorization_response(app, rt, &browser_lang(), &target, result.as_deref());
            (jar, response).into_response()
        }
        Ok(Next::Error(message)) => {
            let jar = jar.add(cookies::removal(cookies::AUTH_COOKIE, realm, secure));
            (
                jar,
                pages::error(app, Some(rt), &browser_lang(), StatusCode::BAD_REQUEST, &message),
            )
                .into_response()
        }
        Ok(Next::TooMany(message)) => {
            let mut response = pages::error(app, Some(rt), &browser_lang(), StatusCode::TOO_MANY_REQUESTS, &message);
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("60"),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %crate::ops::logging::untrusted(&e.to_string()), "sign-in failed");
            pages::error(
                app,
                Some(rt),
                &browser_lang(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "internalError",
            )
        }
    }
}
