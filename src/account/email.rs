//! The user's email address in the console: its verified state, a verification link on
//! request, and one-time codes by email as a second factor (only for a verified address, and
//! only where a flow of the realm offers them).

use serde_json::{Value, json};

use super::{AccountError, Viewer, record};
use crate::flow::message;
use crate::state::{AppState, RealmRuntime};
use crate::store::EMAIL_OTP;

/// What the security page shows about the address.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EmailState {
    pub address: Option<String>,
    pub verified: bool,
    /// Mail can go out, so a verification link can be sent.
    pub can_verify: bool,
    /// A flow of the realm offers codes by email.
    pub codes_offered: bool,
    pub codes_on: bool,
}

pub async fn state(app: &AppState, rt: &RealmRuntime, viewer: &Viewer) -> Result<EmailState, AccountError> {
    Ok(EmailState {
        address: viewer.user.email.clone(),
        verified: viewer.user.email_verified,
        can_verify: app.mailer.settings(&rt.realm).is_some(),
        codes_offered: app.flows.realm_uses(&rt.realm, "email-otp-form"),
        codes_on: app.store.has_credential(&viewer.user.id, EMAIL_OTP).await?,
    })
}

/// Mails a link that verifies the viewer's address; `Err` is a message for the page.
pub async fn send_verification(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    lang: &str,
) -> Result<Result<(), Value>, AccountError> {
    if viewer.user.email.is_none() || viewer.user.email_verified {
        return Ok(Ok(()));
    }
    let ip = viewer.origin.ip.as_deref();
    match crate::flow::actions::verify_email::send_link(app.mail(), &rt.realm, &viewer.user, lang, ip, None).await? {
        Some(problem) => Ok(Err(problem)),
        None => {
            record(app, rt, viewer, "email_verification_sent", json!({})).await;
            Ok(Ok(()))
        }
    }
}

/// Turns codes by email on (for a verified address, where a flow offers them) or off (unless
/// they are the last second factor the realm makes the user keep).
pub async fn set_codes(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    on: bool,
) -> Result<Result<(), Value>, AccountError> {
    if on {
        if !app.flows.realm_uses(&rt.realm, "email-otp-form") {
            return Ok(Err(message("accountEmailCodesUnavailable")));
        }
        if viewer.user.email.is_none() || !viewer.user.email_verified {
            return Ok(Err(message("accountEmailCodesNeedVerified")));
        }
    }
    super::factors::switch_sent_codes(app, rt, viewer, EMAIL_OTP, on).await
}
