//! The console's personal access tokens page: the live tokens, making one (after a fresh
//! sign-in; its secret shown once) and revoking one.

use std::collections::HashMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::html::{Console, internal, see_other, start_sign_in};
use crate::web::pages::PageError;

/// The tokens page: the live tokens, the form to make one, and (once) a new token's secret.
pub(super) async fn tokens_page(
    console: Console,
    created: Option<crate::account::tokens::Created>,
    refused: Option<(&'static str, Value)>,
    notice: Option<&'static str>,
) -> Response {
    let list = match crate::account::tokens::list(&console.app, &console.viewer).await {
        Ok(list) => list,
        Err(e) => return internal(&e),
    };
    let status = if refused.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let ctx = json!({
        "page": "tokens",
        "notice": notice,
        "tokens": list,
        "created": created,
        "fresh": console.is_fresh(),
        "lifetimes": crate::account::tokens::lifetimes(&console.rt),
        "scopes": console.rt.realm.pat.scopes,
        "error": refused.map(|(field, message)| json!({ "field": field, "message": message })),
        "copy_script": crate::web::COPY_SCRIPT,
    });
    let mut page = console.page("account_tokens.html", ctx);
    *page.status_mut() = status;
    page.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        crate::web::csp_allowing_script(crate::web::COPY_SCRIPT),
    );
    page
}

pub(super) async fn create_token_form(console: Console, body: axum::body::Bytes) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let one = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let fields: HashMap<String, String> = form.iter().cloned().collect();
    if !console.csrf_ok(&fields) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    if !console.is_fresh() {
        return start_sign_in(&console.app, &console.rt, "tokens", true, None);
    }
    let new = crate::account::tokens::NewToken {
        name: one("name"),
        days: one("days").parse().unwrap_or_default(),
        scopes: form
            .iter()
            .filter(|(n, _)| n == "scope")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    match crate::account::tokens::create(&console.app, &console.rt, &console.viewer, &new).await {
        Ok(Ok(created)) => tokens_page(console, Some(created), None, None).await,
        Ok(Err(refused)) => tokens_page(console, None, Some(refused), None).await,
        Err(e) => internal(&e),
    }
}

pub(super) async fn revoke_token_form(
    console: Console,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !console.csrf_ok(&form) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    match crate::account::tokens::revoke(&console.app, &console.rt, &console.viewer, &id).await {
        Ok(true) => console.done("tokens", "token-revoked"),
        Ok(false) => see_other(&format!("/realms/{}/account/tokens", console.rt.realm.name)),
        Err(e) => internal(&e),
    }
}
