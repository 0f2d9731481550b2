//! The console's passkey and security-key links and forms: add one (the registration action,
//! through `kc_action`), rename one, remove one. Renaming and removing need a recent sign-in.

use axum::response::Response;

use super::email::factor_form;
use super::html::{Console, Refused, internal, security_refused, start_sign_in};

/// "Create a passkey": `webauthn-register-passwordless` as an application-initiated action.
pub(super) async fn add_passkey(console: Console) -> Response {
    start_sign_in(
        &console.app,
        &console.rt,
        "security",
        false,
        Some("webauthn-register-passwordless"),
    )
}

/// "Add a security key": `webauthn-register` as an application-initiated action.
pub(super) async fn add_security_key(console: Console) -> Response {
    start_sign_in(&console.app, &console.rt, "security", false, Some("webauthn-register"))
}

pub(super) async fn remove(console: Console, body: axum::body::Bytes) -> Response {
    let form = match factor_form(&console, &body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let id = form.get("credential").map(String::as_str).unwrap_or_default();
    let removed = crate::account::keys::remove(&console.app, &console.rt, &console.viewer, id).await;
    finish(&console, removed, "key-removed", id).await
}

pub(super) async fn rename(console: Console, body: axum::body::Bytes) -> Response {
    let form = match factor_form(&console, &body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let id = form.get("credential").map(String::as_str).unwrap_or_default();
    let label = form.get("label").map(String::as_str).unwrap_or_default();
    let renamed = crate::account::keys::rename(&console.app, &console.rt, &console.viewer, id, label).await;
    finish(&console, renamed, "key-renamed", id).await
}

async fn finish(
    console: &Console,
    outcome: Result<Result<bool, serde_json::Value>, crate::account::AccountError>,
    notice: &str,
    id: &str,
) -> Response {
    let refused = |message: serde_json::Value| Refused {
        form: "keys",
        device: Some(id.to_string()),
        field: "credential",
        message,
    };
    match outcome {
        Ok(Ok(true)) => console.done("security", notice),
        Ok(Ok(false)) => security_refused(console, &refused("accountNoSuchDevice".into())).await,
        Ok(Err(message)) => security_refused(console, &refused(message)).await,
        Err(e) => internal(&e),
    }
}

/// "Remove my password": passkeys only from now on.
pub(super) async fn remove_password(console: Console, body: axum::body::Bytes) -> Response {
    if let Err(refused) = factor_form(&console, &body) {
        return *refused;
    }
    match crate::account::password::remove(&console.app, &console.rt, &console.viewer).await {
        Ok(Ok(())) => console.done("security", "password-removed"),
        Ok(Err(message)) => {
            let refused = Refused {
                form: "password",
                device: None,
                field: "password",
                message,
            };
            security_refused(&console, &refused).await
        }
        Err(e) => internal(&e),
    }
}
