//! Turning flow and protocol outcomes into HTML responses.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use super::templates::Templates;
use crate::realm::Realm;

/// The language of a page: the client's `ui_locales`, then the browser's `Accept-Language`,
/// among the languages the realm's theme has.
pub fn lang(templates: &Templates, realm: Option<&Realm>, ui_locales: Option<&str>, headers: &HeaderMap) -> String {
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    templates.negotiate(theme(realm), ui_locales, accept)
}

fn theme(realm: Option<&Realm>) -> &str {
    realm
        .map(|r| r.theme.as_str())
        .unwrap_or(crate::web::templates::DEFAULT_THEME)
}

/// Renders a page of the realm's theme in `lang`, with the common context added.
pub fn render(
    templates: &Templates,
    realm: Option<&Realm>,
    lang: &str,
    status: StatusCode,
    template: &str,
    mut ctx: Value,
) -> Response {
    if let Some(obj) = ctx.as_object_mut() {
        let name = realm
            .map(|r| r.display_name.clone())
            .unwrap_or_else(|| "Gatehouse".into());
        obj.entry("realm_name").or_insert(json!(name));
    }
    let mut response = (status, Html(templates.render_page(theme(realm), template, lang, &ctx))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A readable error page for people.
pub fn error(templates: &Templates, realm: Option<&Realm>, lang: &str, status: StatusCode, message: &str) -> Response {
    render(
        templates,
        realm,
        lang,
        status,
        "error.html",
        json!({ "message": message }),
    )
}
