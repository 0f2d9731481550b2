//! The user's phone number in the console: given in any usual spelling, kept as E.164, and
//! counted only once the code texted to it is entered; codes by SMS as a second factor (only
//! for a verified number, and only where a flow of the realm offers them). Every change needs a
//! recent sign-in (checked by the handlers) and is logged.

use serde_json::{Value, json};

use super::{AccountError, Viewer, record};
use crate::crypto::constant_time_eq;
use crate::flow::message;
use crate::sms::{NumberError, SmsError, Text};
use crate::state::{AppState, RealmRuntime};
use crate::store::{OtpRemoval, PhoneCheck, SMS_OTP, now};

/// How long a code to confirm a number is valid.
const CODE_TTL_SECS: i64 = 600;

/// What the security page shows about the number.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PhoneState {
    /// The verified number (the user's own, shown whole).
    pub number: Option<String>,
    /// A number waiting for its code.
    pub pending: Option<String>,
    /// Texts can go out, so a number can be added.
    pub can_text: bool,
    /// A flow of the realm offers codes by text.
    pub codes_offered: bool,
    pub codes_on: bool,
}

pub async fn state(app: &AppState, rt: &RealmRuntime, viewer: &Viewer) -> Result<PhoneState, AccountError> {
    let row = app.store.phone_of(&viewer.user.id).await?;
    let code_live = row
        .as_ref()
        .is_some_and(|r| r.code_expires_at.is_some_and(|e| e > now()) && r.code_mac.is_some());
    Ok(PhoneState {
        number: row.as_ref().and_then(|r| r.number.clone()),
        pending: row.and_then(|r| r.pending_number).filter(|_| code_live),
        can_text: rt.realm.sms.is_some(),
        codes_offered: app.flows.realm_uses(&rt.realm, "sms-otp-form"),
        codes_on: app.store.has_credential(&viewer.user.id, SMS_OTP).await?,
    })
}

fn code_context(user_id: &str) -> String {
    format!("mac:phone-code:{user_id}")
}

/// Texts a code to `typed` (any usual spelling of an international number), which becomes the
/// pending number; `Err` is a message for the page.
pub async fn send_code(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    lang: &str,
    typed: &str,
) -> Result<Result<(), Value>, AccountError> {
    let number = match crate::sms::normalize(typed) {
        Ok(n) => n,
        Err(NumberError::NoCountryCode) => return Ok(Err(message("accountPhoneNoCountryCode"))),
        Err(NumberError::Malformed) => return Ok(Err(message("accountPhoneMalformed"))),
    };
    let code = crate::flow::authenticators::new_code();
    let text = Text {
        realm: &rt.realm,
        to: &number,
        user_id: &viewer.user.id,
        template: "phone_verify",
        lang,
        context: json!({ "code": code, "minutes": CODE_TTL_SECS / 60 }),
        requested_by_ip: viewer.origin.ip.as_deref(),
    };
    match app.sms().send(text).await {
        Ok(()) => {}
        Err(SmsError::TooManyForRecipient | SmsError::TooManyFromAddress) => {
            return Ok(Err(message("tooManyMessages")));
        }
        Err(SmsError::NotConfigured) => return Ok(Err(message("smsNotConfigured"))),
        Err(SmsError::NumberNotAllowed) => return Ok(Err(message("accountPhoneCountryNotAllowed"))),
        Err(SmsError::Store(e)) => return Err(e.into()),
    }
    let mac = app.master_key.mac_hex(&code_context(&viewer.user.id), code.as_bytes());
    app.store
        .set_pending_phone(&rt.realm.name, &viewer.user.id, &number, mac, now() + CODE_TTL_SECS)
        .await?;
    record(
        app,
        rt,
        viewer,
        "phone_code_sent",
        json!({ "number": crate::sms::masked(&number) }),
    )
    .await;
    Ok(Ok(()))
}

/// Checks the code texted to the pending number; a match makes it the user's number.
pub async fn confirm(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    code: &str,
) -> Result<Result<(), Value>, AccountError> {
    let code = code.trim();
    if code.is_empty() {
        return Ok(Err(message("missingOtp")));
    }
    let presented = app.master_key.mac_hex(&code_context(&viewer.user.id), code.as_bytes());
    let same = |a: &str, b: &str| constant_time_eq(a.as_bytes(), b.as_bytes());
    match app.store.check_phone_code(&viewer.user.id, &presented, same).await? {
        PhoneCheck::Verified(number) => {
            record(
                app,
                rt,
                viewer,
                "phone_verified",
                json!({ "number": crate::sms::masked(&number) }),
            )
            .await;
            Ok(Ok(()))
        }
        PhoneCheck::Wrong { left } if left > 0 => Ok(Err(message("invalidOtp"))),
        PhoneCheck::Wrong { .. } | PhoneCheck::NoCode => Ok(Err(message("accountPhoneNoCode"))),
    }
}

/// Forgets the number (and codes by text with it), unless those codes are the last second
/// factor the realm makes the user keep.
pub async fn remove(app: &AppState, rt: &RealmRuntime, viewer: &Viewer) -> Result<Result<(), Value>, AccountError> {
    let keep_one = super::factors::must_keep_a_second_factor(app, rt, viewer).await?;
    match app.store.remove_phone(&viewer.user.id, keep_one).await? {
        OtpRemoval::NotFound => Ok(Ok(())),
        OtpRemoval::LastKept => Ok(Err(message("accountLastFactorRequired"))),
        OtpRemoval::Removed { last } => {
            record(app, rt, viewer, "phone_removed", json!({ "last": last })).await;
            Ok(Ok(()))
        }
    }
}

/// Turns codes by text on (for a verified number, where a flow offers them) or off (unless
/// they are the last second factor the realm makes the user keep).
pub async fn set_codes(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    on: bool,
) -> Result<Result<(), Value>, AccountError> {
    let user_id = &viewer.user.id;
    if on {
        if !app.flows.realm_uses(&rt.realm, "sms-otp-form") {
            return Ok(Err(message("accountSmsCodesUnavailable")));
        }
        let verified = app.store.phone_of(user_id).await?.is_some_and(|p| p.number.is_some());
        if !verified {
            return Ok(Err(message("accountSmsCodesNeedNumber")));
        }
    }
    super::factors::switch_sent_codes(app, rt, viewer, SMS_OTP, on).await
}
