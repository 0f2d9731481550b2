//! The console's organization pages: my organizations (leave one), and joining through an
//! invite link. The link's secret travels in the query and in the form (the access log records
//! neither, and pages send no `Referer`).

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::html::{Console, internal, notice, see_other};
use crate::account::orgs::{self, InviteRefusal, LeaveRefusal};
use crate::web::pages::PageError;

pub(super) async fn organizations_page(console: Console, Query(query): Query<HashMap<String, String>>) -> Response {
    render(&console, notice(&query), None).await
}

async fn render(console: &Console, notice: Option<&'static str>, error: Option<&'static str>) -> Response {
    let list = match orgs::memberships(&console.app, &console.viewer).await {
        Ok(list) => list,
        Err(e) => return internal(&e),
    };
    let ctx = json!({ "page": "organizations", "organizations": list, "notice": notice, "error": error });
    let mut page = console.page("account_organizations.html", ctx);
    if error.is_some() {
        *page.status_mut() = StatusCode::CONFLICT;
    }
    page
}

pub(super) async fn leave(console: Console, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !console.csrf_ok(&form) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    let id = form.get("organization").map(String::as_str).unwrap_or_default();
    match orgs::leave(&console.app, &console.rt, &console.viewer, id).await {
        Ok(Ok(())) => console.done("organizations", "organization-left"),
        Ok(Err(LeaveRefusal::LastOwner)) => render(&console, None, Some("accountOrgLastOwner")).await,
        Ok(Err(LeaveRefusal::NotMember)) => render(&console, None, Some("accountOrgNotMember")).await,
        Err(e) => internal(&e),
    }
}

pub(super) async fn join_page(console: Console, Query(query): Query<HashMap<String, String>>) -> Response {
    let secret = query.get("invite").map(String::as_str).unwrap_or_default();
    let offered = match orgs::invite(&console.app, &console.rt, &console.viewer, secret).await {
        Ok(offered) => offered,
        Err(e) => return internal(&e),
    };
    let ctx = match &offered {
        Ok(view) => json!({ "page": "organizations", "invite": view, "secret": secret }),
        Err(refusal) => json!({ "page": "organizations", "refusal": refusal_key(*refusal) }),
    };
    let mut page = console.page("account_join.html", ctx);
    if offered.is_err() {
        *page.status_mut() = StatusCode::GONE;
    }
    // The page holds the link's secret.
    page.headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    // Browsers hold a form's redirect to `form-action` too: joining may lead to the
    // organization's own page.
    if let Ok(view) = &offered
        && let Some(next) = &view.redirect_url
    {
        let policy = crate::web::csp_with_form_targets(crate::web::CSP, &[next.as_str()]);
        page.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    page
}

pub(super) async fn join(console: Console, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !console.csrf_ok(&form) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    let secret = form.get("invite").map(String::as_str).unwrap_or_default();
    match orgs::join(&console.app, &console.rt, &console.viewer, secret).await {
        Ok(Ok(Some(next))) => see_other(&next),
        Ok(Ok(None)) => console.done("organizations", "organization-joined"),
        Ok(Err(refusal)) => {
            let ctx = json!({ "page": "organizations", "refusal": refusal_key(refusal) });
            let mut page = console.page("account_join.html", ctx);
            *page.status_mut() = StatusCode::GONE;
            page
        }
        Err(e) => internal(&e),
    }
}

fn refusal_key(refusal: InviteRefusal) -> &'static str {
    match refusal {
        InviteRefusal::Unusable => "accountInviteUnusable",
        InviteRefusal::WrongDomain => "accountInviteWrongDomain",
    }
}
