//! The console's phone forms: text a code to a number, confirm it, remove the number, turn
//! codes by text on or off. All change a factor, so all need a recent sign-in.

use axum::response::Response;

use super::email::factor_form;
use super::html::{Console, Refused, internal, security_refused};

/// "Text me a code" for the number typed in `phone`.
pub(super) async fn send_code(console: Console, body: axum::body::Bytes) -> Response {
    let form = match factor_form(&console, &body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let typed = form.get("phone").map(String::as_str).unwrap_or_default();
    let sent = crate::account::phone::send_code(&console.app, &console.rt, &console.viewer, &console.lang, typed).await;
    finish(&console, sent, "phone-code-sent", "phone").await
}

/// The code texted to the pending number, in `otp`.
pub(super) async fn confirm(console: Console, body: axum::body::Bytes) -> Response {
    let form = match factor_form(&console, &body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let code = form.get("otp").map(String::as_str).unwrap_or_default();
    let confirmed = crate::account::phone::confirm(&console.app, &console.rt, &console.viewer, code).await;
    finish(&console, confirmed, "phone-verified", "otp").await
}

pub(super) async fn remove(console: Console, body: axum::body::Bytes) -> Response {
    if let Err(refused) = factor_form(&console, &body) {
        return *refused;
    }
    let removed = crate::account::phone::remove(&console.app, &console.rt, &console.viewer).await;
    finish(&console, removed, "phone-removed", "phone").await
}

/// Codes by text on (`enable=true`) or off.
pub(super) async fn sms_codes(console: Console, body: axum::body::Bytes) -> Response {
    let form = match factor_form(&console, &body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let on = form.get("enable").is_some_and(|v| v == "true");
    let set = crate::account::phone::set_codes(&console.app, &console.rt, &console.viewer, on).await;
    finish(
        &console,
        set,
        if on { "sms-codes-on" } else { "sms-codes-off" },
        "phone",
    )
    .await
}

async fn finish(
    console: &Console,
    outcome: Result<Result<(), serde_json::Value>, crate::account::AccountError>,
    notice: &str,
    field: &'static str,
) -> Response {
    match outcome {
        Ok(Ok(())) => console.done("security", notice),
        Ok(Err(message)) => {
            let refused = Refused {
                form: "phone",
                device: None,
                field,
                message,
            };
            security_refused(console, &refused).await
        }
        Err(e) => internal(&e),
    }
}
