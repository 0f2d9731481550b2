//! Turning flow and protocol outcomes into HTML responses.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use crate::oidc::authorize::{self, RedirectTarget, ResponseMode};
use crate::oidc::error::RedirectError;
use crate::server::{AppState, RealmRuntime};

/// The language of a page: the client's `ui_locales`, then the browser's `Accept-Language`,
/// among the languages the realm's theme has.
pub fn lang(app: &AppState, rt: Option<&RealmRuntime>, ui_locales: Option<&str>, headers: &HeaderMap) -> String {
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    app.templates.negotiate(theme(rt), ui_locales, accept)
}

fn theme(rt: Option<&RealmRuntime>) -> &str {
    rt.map(|r| r.realm.theme.as_str())
        .unwrap_or(crate::web::templates::DEFAULT_THEME)
}

/// Renders a page of the realm's theme in `lang`, with the common context added.
pub fn render(
    app: &AppState,
    rt: Option<&RealmRuntime>,
    lang: &str,
    status: StatusCode,
    template: &str,
    mut ctx: Value,
) -> Response {
    if let Some(obj) = ctx.as_object_mut() {
        let name = rt
            .map(|r| r.realm.display_name.clone())
            .unwrap_or_else(|| "Gatehouse".into());
        obj.entry("realm_name").or_insert(json!(name));
    }
    let mut response = (status, Html(app.templates.render_page(theme(rt), template, lang, &ctx))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A readable error page for people.
pub fn error(app: &AppState, rt: Option<&RealmRuntime>, lang: &str, status: StatusCode, message: &str) -> Response {
    render(app, rt, lang, status, "error.html", json!({ "message": message }))
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
        ResponseMode::Query => {
            let url = authorize::redirect_url(&target.redirect_uri, &params);
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
            let mut r = render(app, Some(rt), lang, StatusCode::OK, "form_post.html", ctx);
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
