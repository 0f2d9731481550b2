//! `email-otp-form`: a six-digit code mailed to the user's verified address (field `otp`), as a
//! second factor the user turns on in the account console. A code is valid 10 minutes, once;
//! only a keyed hash of it is kept (in the sign-in's state); wrong codes count towards the same
//! lockout as authenticator-app codes; a new code may be sent a few times per sign-in.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::crypto::constant_time_eq;
use crate::flow::{EmailCode, EngineError, FlowContext, Page, StepResult, message};
use crate::mail::{Letter, MailError};
use crate::store::{EMAIL_OTP, now};

pub struct EmailOtpForm;

/// How long a mailed code is valid.
const CODE_TTL_SECS: i64 = 600;

/// Codes one sign-in may have mailed (the first and two more).
const MAX_SENDS: u8 = 3;

/// A uniformly random six-digit code.
fn new_code() -> String {
    loop {
        let bytes = crate::crypto::random_bytes(4);
        let n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        // Rejection sampling: no digit more likely than another.
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

fn code_context(user_id: &str) -> String {
    format!("mac:email-code:{user_id}")
}

/// `a…@example.com`: enough for the person to recognise the address, not to learn it.
fn masked(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".into(),
    }
}

impl EmailOtpForm {
    /// Mails a new code; `Some` is a message for the page.
    async fn send(&self, ctx: &mut FlowContext<'_>) -> Result<Option<Value>, EngineError> {
        let sends = ctx.flow.email_code.as_ref().map_or(0, |c| c.sends);
        if sends >= MAX_SENDS {
            return Ok(Some(message("tooManyMessages")));
        }
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let Some(user) = ctx.services.store.find_user(&user_id).await? else {
            return Err(EngineError::NoUser);
        };
        let Some(email) = user.email.clone().filter(|_| user.email_verified) else {
            return Ok(Some(message("emailCodeNoAddress")));
        };
        let code = new_code();
        let letter = Letter {
            realm: ctx.realm,
            to: &email,
            to_name: None,
            template: "email_code",
            lang: ctx.lang.as_deref().unwrap_or("en"),
            context: json!({ "code": code, "username": user.username, "minutes": CODE_TTL_SECS / 60 }),
            requested_by_ip: ctx.ip.as_deref(),
            limited: true,
            link: None,
        };
        match ctx.services.mail.send(letter).await {
            Ok(()) => {}
            Err(MailError::TooManyFromAddress | MailError::TooManyForRecipient) => {
                return Ok(Some(message("tooManyMessages")));
            }
            Err(MailError::NotConfigured | MailError::BadAddress) => return Ok(Some(message("mailNotConfigured"))),
            Err(MailError::Store(e)) => return Err(e.into()),
        }
        ctx.flow.email_code = Some(EmailCode {
            mac: ctx
                .services
                .master_key
                .mac_hex(&code_context(&user_id), code.as_bytes()),
            expires_at: now() + CODE_TTL_SECS,
            sends: sends + 1,
        });
        Ok(None)
    }

    async fn page(
        &self,
        ctx: &FlowContext<'_>,
        notice: Option<Value>,
        error: Option<Value>,
    ) -> Result<StepResult, EngineError> {
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let email = ctx
            .services
            .store
            .find_user(&user_id)
            .await?
            .and_then(|u| u.email)
            .map(|e| masked(&e));
        let can_resend = ctx.flow.email_code.as_ref().is_none_or(|c| c.sends < MAX_SENDS);
        Ok(StepResult::Challenge(Page::new(
            "email_otp.html",
            json!({ "email": email, "minutes": CODE_TTL_SECS / 60, "can_resend": can_resend, "notice": notice, "error": error }),
        )))
    }

    /// Checks `code` against the code mailed in this sign-in, under the second-factor lockout.
    async fn verify(&self, ctx: &mut FlowContext<'_>, code: &str) -> Result<Result<(), Value>, EngineError> {
        let attempt = match super::begin_second_factor(ctx).await? {
            Ok(attempt) => attempt,
            Err(locked) => return Ok(Err(locked)),
        };
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let presented = ctx
            .services
            .master_key
            .mac_hex(&code_context(&user_id), code.as_bytes());
        let matches = ctx.flow.email_code.as_ref().is_some_and(|c| {
            c.expires_at > now() && !c.mac.is_empty() && constant_time_eq(c.mac.as_bytes(), presented.as_bytes())
        });
        if !matches {
            let expired = ctx.flow.email_code.as_ref().is_some_and(|c| c.expires_at <= now());
            let locked = super::second_factor_failed(ctx, attempt, "invalid_email_otp").await?;
            let shown = if expired { "emailCodeExpired" } else { "invalidOtp" };
            return Ok(Err(locked.unwrap_or_else(|| message(shown))));
        }
        if let Err(locked) = super::second_factor_succeeded(ctx, attempt).await? {
            return Ok(Err(locked));
        }
        // Used up: the same code cannot be entered again.
        if let Some(c) = ctx.flow.email_code.as_mut() {
            c.mac.clear();
        }
        ctx.flow.add_amr("otp");
        ctx.event("email_otp_used", Some(&user_id), json!({})).await;
        Ok(Ok(()))
    }
}

#[async_trait::async_trait]
impl Authenticator for EmailOtpForm {
    fn name(&self) -> &'static str {
        "email-otp-form"
    }

    fn amr(&self) -> Option<&'static str> {
        Some("otp")
    }

    fn needs_user(&self) -> bool {
        true
    }

    fn credential_kind(&self) -> Option<&'static str> {
        Some(EMAIL_OTP)
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        if ctx.flow.use_recovery_code || !ctx.services.store.has_credential(&user_id, EMAIL_OTP).await? {
            return Ok(StepResult::Attempted);
        }
        let error = if ctx.flow.email_code.is_none() {
            self.send(ctx).await?
        } else {
            None
        };
        self.page(ctx, None, error).await
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        if form.get("resend").is_some_and(|v| v == "true") {
            let error = self.send(ctx).await?;
            let notice = error.is_none().then(|| message("emailCodeResent"));
            return self.page(ctx, notice, error).await;
        }
        let code = form.get("otp").map(|s| s.trim()).unwrap_or_default();
        if code.is_empty() {
            return self.page(ctx, None, Some(message("missingOtp"))).await;
        }
        match self.verify(ctx, code).await? {
            Ok(()) => Ok(StepResult::Success),
            Err(shown) => self.page(ctx, None, Some(shown)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_addresses_are_masked() {
        for _ in 0..100 {
            let code = new_code();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
        assert_eq!(masked("alice@example.com"), "a…@example.com");
    }
}
