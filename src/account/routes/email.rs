//! The console's email forms: send a verification link, turn codes by email on or off.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::html::{Console, Refused, internal, security_refused, start_sign_in};
use crate::web::pages::PageError;

fn form_of(body: &axum::body::Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The form of a change to a factor: with a valid CSRF token, after a recent sign-in (else the
/// response that refuses it, or sends the person to sign in again).
pub(super) fn factor_form(
    console: &Console,
    body: &axum::body::Bytes,
) -> Result<HashMap<String, String>, Box<Response>> {
    let form = form_of(body);
    if !console.csrf_ok(&form) {
        return Err(Box::new(
            PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response(),
        ));
    }
    if !console.is_fresh() {
        return Err(Box::new(start_sign_in(
            &console.app,
            &console.rt,
            "security",
            true,
            None,
        )));
    }
    Ok(form)
}

/// "Send a verification link" (the address is the one on the account).
pub(super) async fn send_verification(console: Console, body: axum::body::Bytes) -> Response {
    if !console.csrf_ok(&form_of(&body)) {
        return PageError::new(StatusCode::FORBIDDEN, "accountFormExpired").into_response();
    }
    let sent =
        crate::account::email::send_verification(&console.app, &console.rt, &console.viewer, &console.lang).await;
    match sent {
        Ok(Ok(())) => console.done("security", "verification-sent"),
        Ok(Err(message)) => refused(&console, message).await,
        Err(e) => internal(&e),
    }
}

/// Codes by email on (`enable=true`) or off: a second factor, so only after a recent sign-in.
pub(super) async fn email_codes(console: Console, body: axum::body::Bytes) -> Response {
    let form = match factor_form(&console, &body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let on = form.get("enable").is_some_and(|v| v == "true");
    match crate::account::email::set_codes(&console.app, &console.rt, &console.viewer, on).await {
        Ok(Ok(())) => console.done("security", if on { "email-codes-on" } else { "email-codes-off" }),
        Ok(Err(message)) => refused(&console, message).await,
        Err(e) => internal(&e),
    }
}

async fn refused(console: &Console, message: serde_json::Value) -> Response {
    let refused = Refused {
        form: "email",
        device: None,
        field: "email",
        message,
    };
    security_refused(console, &refused).await
}
