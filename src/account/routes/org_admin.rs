//! The console's management page of an organization, for its owners and admins: members and
//! their roles, invite links (a new link's URL is shown once, on a page never cached).

use std::collections::HashMap;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::html::{Console, internal, notice};
use crate::account::org_admin::{self, Refusal};
use crate::orgs::invites::InviteInput;
use crate::web::pages::PageError;

/// A posted form: its fields in order (a role may be ticked several times), and as a map.
struct Form {
    fields: Vec<(String, String)>,
    map: HashMap<String, String>,
}

impl Form {
    fn parse(body: &[u8]) -> Form {
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let map = fields.iter().cloned().collect();
        Form { fields, map }
    }

    /// The form of a console page; `None` when its CSRF token does not match.
    fn posted(console: &Console, body: &[u8]) -> Option<Form> {
        let form = Form::parse(body);
        console.csrf_ok(&form.map).then_some(form)
    }

    fn get(&self, name: &str) -> &str {
        self.map.get(name).map(String::as_str).unwrap_or_default()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

pub(super) async fn manage_page(
    console: Console,
    Path((_, id)): Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let extra = json!({ "notice": notice(&query) });
    render(&console, &id, extra, StatusCode::OK).await
}

/// The management page with `extra` in its context (a notice, an error, a new link).
async fn render(console: &Console, id: &str, extra: Value, status: StatusCode) -> Response {
    let view = match org_admin::view(&console.app, &console.rt, &console.viewer, id).await {
        Ok(Ok(view)) => view,
        Ok(Err(refusal)) => return refusal_page(console, id, refusal).await,
        Err(e) => return internal(&e),
    };
    let mut ctx = json!({ "page": "organizations", "org": view });
    if let (Value::Object(ctx), Value::Object(extra)) = (&mut ctx, extra) {
        ctx.extend(extra);
    }
    let mut page = console.page("account_organization.html", ctx);
    *page.status_mut() = status;
    // The page may hold a new link's secret.
    page.headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    page
}

async fn refusal_page(console: &Console, id: &str, refusal: Refusal) -> Response {
    match refusal {
        Refusal::NotManager => PageError::new(StatusCode::NOT_FOUND, "accountOrgNotManaged").into_response(),
        Refusal::OwnersOnly => {
            let extra = json!({ "error": "accountOrgOwnersOnly" });
            Box::pin(render(console, id, extra, StatusCode::FORBIDDEN)).await
        }
        Refusal::Invalid(message) => {
            let extra = json!({ "error_text": message });
            Box::pin(render(console, id, extra, StatusCode::CONFLICT)).await
        }
    }
}

/// Saves a member's roles (`save`) or removes them (`remove`).
pub(super) async fn change_member(
    console: Console,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(form) = Form::posted(&console, &body) else {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    };
    let roles = form.all("role");
    let (new_roles, notice) = match form.get("do") {
        "remove" => (None, "organization-member-removed"),
        _ => (Some(roles.as_slice()), "organization-member-saved"),
    };
    let (app, rt, viewer) = (&console.app, &console.rt, &console.viewer);
    match org_admin::change_member(app, rt, viewer, &id, form.get("user"), new_roles).await {
        Ok(Ok(())) => console.done(&format!("organizations/{id}"), notice),
        Ok(Err(refusal)) => refusal_page(&console, &id, refusal).await,
        Err(e) => internal(&e),
    }
}

/// Makes an invite link and shows its URL, once.
pub(super) async fn create_link(
    console: Console,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(form) = Form::posted(&console, &body) else {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    };
    let input = match link_input(&form) {
        Ok(input) => input,
        Err(key) => return render(&console, &id, json!({ "error": key }), StatusCode::BAD_REQUEST).await,
    };
    let (app, rt, viewer) = (&console.app, &console.rt, &console.viewer);
    match org_admin::create_link(app, rt, viewer, &id, input).await {
        Ok(Ok(url)) => render(&console, &id, json!({ "new_link": url }), StatusCode::CREATED).await,
        Ok(Err(refusal)) => refusal_page(&console, &id, refusal).await,
        Err(e) => internal(&e),
    }
}

/// The link the form asks for: role, days open, uses (blank: any number), email domain.
fn link_input(form: &Form) -> Result<InviteInput, &'static str> {
    let number = |name: &str| -> Result<Option<i64>, &'static str> {
        let text = form.get(name).trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<i64>().map(Some).map_err(|_| "accountOrgLinkNumbers")
    };
    let days = number("days")?.unwrap_or(7);
    if !(1..=365).contains(&days) {
        return Err("accountOrgLinkNumbers");
    }
    let domain = form.get("email_domain").trim();
    Ok(InviteInput {
        role: Some(form.get("role").to_string()).filter(|r| !r.is_empty()),
        expires_in: Some(days * 86_400),
        max_uses: number("max_uses")?,
        email_domain: (!domain.is_empty()).then(|| domain.to_string()),
    })
}

pub(super) async fn revoke_link(
    console: Console,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(form) = Form::posted(&console, &body) else {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    };
    let (app, rt, viewer) = (&console.app, &console.rt, &console.viewer);
    match org_admin::revoke_link(app, rt, viewer, &id, form.get("link")).await {
        Ok(Ok(())) => console.done(&format!("organizations/{id}"), "organization-link-revoked"),
        Ok(Err(refusal)) => refusal_page(&console, &id, refusal).await,
        Err(e) => internal(&e),
    }
}
