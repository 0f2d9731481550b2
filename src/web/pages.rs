//! Turning flow and protocol outcomes into HTML responses.

use std::borrow::Cow;

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

/// An error page for people: a status and a key of the theme's message catalog (with its
/// arguments), never finished text, so every error page is in the person's language. As a
/// response it carries itself to the router's page-error layer, which renders `error.html` in
/// the theme of the realm the request names and the language the browser (or `lang`) asks for;
/// headers the handler adds (cookies, `Retry-After`) are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct PageError {
    pub status: StatusCode,
    pub key: Cow<'static, str>,
    pub args: serde_json::Map<String, Value>,
    /// The language to use instead of the browser's (a client's `ui_locales` chose it).
    pub lang: Option<String>,
}

impl PageError {
    /// `key` is a catalog key; one a flow file names may be the theme's own.
    pub fn new(status: StatusCode, key: impl Into<Cow<'static, str>>) -> PageError {
        PageError {
            status,
            key: key.into(),
            args: serde_json::Map::new(),
            lang: None,
        }
    }

    /// The same page with `{name}` in its message filled with `value`.
    pub fn arg(mut self, name: &str, value: impl Into<String>) -> PageError {
        self.args.insert(name.to_string(), Value::String(value.into()));
        self
    }

    /// The same page in `lang`.
    pub fn in_lang(mut self, lang: &str) -> PageError {
        self.lang = Some(lang.to_string());
        self
    }

    /// What `error.html` shows through the `t` filter.
    pub fn message(&self) -> Value {
        if self.args.is_empty() {
            Value::String(self.key.to_string())
        } else {
            json!({ "key": self.key, "args": self.args })
        }
    }

    /// The page itself.
    pub fn render(&self, templates: &Templates, realm: Option<&Realm>, lang: &str) -> Response {
        render(
            templates,
            realm,
            lang,
            self.status,
            "error.html",
            json!({ "message": self.message() }),
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn page_errors_are_keys_shown_in_the_page_language_with_their_arguments() {
        let templates = Templates::new();
        let error = PageError::new(StatusCode::BAD_REQUEST, "unregisteredRedirectUri")
            .arg("uri", "https://evil.example/<x>")
            .arg("client", "web");
        let de = error.render(&templates, None, "de");
        assert_eq!(de.status(), StatusCode::BAD_REQUEST);
        let html = body_of(de).await;
        assert!(html.contains("ist für die Anwendung"), "{html}");
        assert!(html.contains("evil.example") && html.contains("&lt;x&gt;"), "{html}");
        assert!(!html.contains("<x>"), "arguments are escaped: {html}");
        let en = body_of(error.render(&templates, None, "en")).await;
        assert!(en.contains("is not registered for the application"), "{en}");
    }

    #[test]
    fn as_a_response_a_page_error_waits_for_the_router_to_render_it() {
        let response = PageError::new(StatusCode::NOT_FOUND, "realmNotFound").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let carried = response.extensions().get::<PageError>().expect("carried");
        assert_eq!(carried.message(), Value::String("realmNotFound".into()));
    }
}
