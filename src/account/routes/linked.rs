//! The console's Linked accounts page: link a provider (a link carrying the CSRF token: the
//! browser goes upstream, which a form's `form-action` would forbid), unlink one (a form).

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde_json::json;

use super::html::{Console, internal, notice, start_sign_in};
use crate::account::linked::{self, UnlinkRefusal};
use crate::web::cookies;
use crate::web::pages::PageError;

pub(super) async fn linked_page(console: Console, Query(query): Query<HashMap<String, String>>) -> Response {
    render(&console, notice(&query), None).await
}

async fn render(console: &Console, notice: Option<&'static str>, error: Option<&'static str>) -> Response {
    let providers = match linked::list(&console.app, &console.rt, &console.viewer).await {
        Ok(list) => list,
        Err(e) => return internal(&e),
    };
    let ctx = json!({
        "page": "linked",
        "providers": providers,
        "notice": notice,
        "error": error,
        "fresh": console.is_fresh(),
    });
    let mut page = console.page("account_linked.html", ctx);
    if error.is_some() {
        *page.status_mut() = StatusCode::CONFLICT;
    }
    page
}

/// `?provider=…&csrf=…`: to the provider, to link its account (after a fresh sign-in).
pub(super) async fn link(console: Console, jar: CookieJar, Query(query): Query<HashMap<String, String>>) -> Response {
    if !console.csrf_ok(&query) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    if !console.is_fresh() {
        return start_sign_in(&console.app, &console.rt, "linked", true, None);
    }
    let (Some(session), Some(alias)) = (&console.viewer.session, query.get("provider")) else {
        return PageError::new(StatusCode::NOT_FOUND, "accountLinkFailed").into_response();
    };
    let (app, rt) = (&console.app, &console.rt);
    match crate::login::broker::start_link(app, rt, &console.viewer.user.id, &session.id, alias).await {
        Ok(Some((url, sealed))) => {
            let mut cookie = cookies::build(
                crate::login::broker::LINK_COOKIE,
                sealed,
                &rt.realm.name,
                app.settings.is_https(),
            );
            cookie.set_max_age(cookie::time::Duration::seconds(crate::login::broker::LINK_TTL_SECS));
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            (jar.add(cookie), r).into_response()
        }
        Ok(None) => PageError::new(StatusCode::NOT_FOUND, "accountLinkFailed").into_response(),
        Err(e) => {
            tracing::warn!(error = %crate::ops::logging::untrusted(&e.to_string()), "cannot start linking an account");
            render(&console, None, Some("accountLinkFailed")).await
        }
    }
}

pub(super) async fn unlink(console: Console, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !console.csrf_ok(&form) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    if !console.is_fresh() {
        return start_sign_in(&console.app, &console.rt, "linked", true, None);
    }
    let alias = form.get("provider").map(String::as_str).unwrap_or_default();
    match linked::unlink(&console.app, &console.rt, &console.viewer, alias).await {
        Ok(Ok(())) => console.done("linked", "unlinked"),
        Ok(Err(UnlinkRefusal::LastWay)) => render(&console, None, Some("accountUnlinkLastWay")).await,
        Ok(Err(UnlinkRefusal::NotLinked)) => render(&console, None, Some("accountNotLinked")).await,
        Err(e) => internal(&e),
    }
}
