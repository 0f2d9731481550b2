//! `email-otp-form` and `sms-otp-form`: a six-digit code sent to the user's verified email
//! address or phone number (field `otp`), as a second factor the user turns on in the account
//! console. A code is valid 10 minutes, once; only a keyed hash of it is kept (in the sign-in's
//! state); wrong codes count towards the same lockout as authenticator-app codes; a new code
//! may be sent a few times per sign-in.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::crypto::constant_time_eq;
use crate::flow::{EmailCode, EngineError, FlowContext, Page, StepResult, message};
use crate::mail::{Letter, MailError};
use crate::sms::{SmsError, Text};
use crate::store::{EMAIL_OTP, SMS_OTP, now};

/// Where the code goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SentCodeForm {
    Email,
    Sms,
}

/// How long a sent code is valid.
const CODE_TTL_SECS: i64 = 600;

/// Codes one sign-in may have sent (the first and two more).
const MAX_SENDS: u8 = 3;

/// A uniformly random six-digit code.
pub fn new_code() -> String {
    loop {
        let bytes = crate::crypto::random_bytes(4);
        let n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        // Rejection sampling: no digit more likely than another.
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return format!("{:06}", n % 1_000_000);
        }
    }
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

impl SentCodeForm {
    fn kind(self) -> &'static str {
        match self {
            SentCodeForm::Email => "email",
            SentCodeForm::Sms => "sms",
        }
    }

    fn code_context(self, user_id: &str) -> String {
        format!("mac:{}-code:{user_id}", self.kind())
    }

    fn state<'s>(self, ctx: &'s FlowContext<'_>) -> Option<&'s EmailCode> {
        match self {
            SentCodeForm::Email => ctx.flow.email_code.as_ref(),
            SentCodeForm::Sms => ctx.flow.sms_code.as_ref(),
        }
    }

    fn state_mut<'s>(self, ctx: &'s mut FlowContext<'_>) -> &'s mut Option<EmailCode> {
        match self {
            SentCodeForm::Email => &mut ctx.flow.email_code,
            SentCodeForm::Sms => &mut ctx.flow.sms_code,
        }
    }

    /// Where codes go: the verified address or number, if the user has one.
    async fn destination(self, ctx: &FlowContext<'_>, user_id: &str) -> Result<Option<String>, EngineError> {
        Ok(match self {
            SentCodeForm::Email => {
                let user = ctx.services.store.find_user(user_id).await?;
                user.filter(|u| u.email_verified).and_then(|u| u.email)
            }
            SentCodeForm::Sms => ctx.services.store.phone_of(user_id).await?.and_then(|p| p.number),
        })
    }

    /// Sends a new code; `Some` is a message for the page.
    async fn send(self, ctx: &mut FlowContext<'_>) -> Result<Option<Value>, EngineError> {
        let sends = self.state(ctx).map_or(0, |c| c.sends);
        if sends >= MAX_SENDS {
            return Ok(Some(message("tooManyMessages")));
        }
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let Some(user) = ctx.services.store.find_user(&user_id).await? else {
            return Err(EngineError::NoUser);
        };
        let Some(to) = self.destination(ctx, &user_id).await? else {
            return Ok(Some(message(match self {
                SentCodeForm::Email => "emailCodeNoAddress",
                SentCodeForm::Sms => "smsCodeNoNumber",
            })));
        };
        let code = new_code();
        let lang = ctx.lang.as_deref().unwrap_or("en");
        let context = json!({ "code": code, "username": user.username, "minutes": CODE_TTL_SECS / 60 });
        let refused = match self {
            SentCodeForm::Email => send_mail(ctx, &to, lang, context).await?,
            SentCodeForm::Sms => send_text(ctx, &to, &user_id, lang, context).await?,
        };
        if refused.is_some() {
            return Ok(refused);
        }
        let mac = ctx
            .services
            .master_key
            .mac_hex(&self.code_context(&user_id), code.as_bytes());
        *self.state_mut(ctx) = Some(EmailCode {
            mac,
            expires_at: now() + CODE_TTL_SECS,
            sends: sends + 1,
        });
        Ok(None)
    }

    async fn page(
        self,
        ctx: &FlowContext<'_>,
        notice: Option<Value>,
        error: Option<Value>,
    ) -> Result<StepResult, EngineError> {
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let to = self.destination(ctx, &user_id).await?.map(|to| match self {
            SentCodeForm::Email => masked(&to),
            SentCodeForm::Sms => crate::sms::masked(&to),
        });
        let can_resend = self.state(ctx).is_none_or(|c| c.sends < MAX_SENDS);
        let channel = match self {
            SentCodeForm::Email => "mail",
            SentCodeForm::Sms => crate::sms::CHANNEL,
        };
        let delayed = ctx.services.store.delivery_failing(&ctx.realm.name, channel).await?;
        Ok(StepResult::Challenge(Page::new(
            "sent_code.html",
            json!({
                "channel": self.kind(), "to": to, "minutes": CODE_TTL_SECS / 60, "can_resend": can_resend,
                "delayed": delayed, "notice": notice, "error": error,
            }),
        )))
    }

    /// Checks `code` against the code sent in this sign-in, under the second-factor lockout.
    async fn verify(self, ctx: &mut FlowContext<'_>, code: &str) -> Result<Result<(), Value>, EngineError> {
        let attempt = match super::begin_second_factor(ctx).await? {
            Ok(attempt) => attempt,
            Err(locked) => return Ok(Err(locked)),
        };
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let presented = ctx
            .services
            .master_key
            .mac_hex(&self.code_context(&user_id), code.as_bytes());
        let sent = self.state(ctx).cloned();
        let matches = sent.as_ref().is_some_and(|c| {
            c.expires_at > now() && !c.mac.is_empty() && constant_time_eq(c.mac.as_bytes(), presented.as_bytes())
        });
        if !matches {
            let expired = sent.as_ref().is_some_and(|c| c.expires_at <= now());
            let reason = format!("invalid_{}_otp", self.kind());
            let locked = super::second_factor_failed(ctx, attempt, &reason).await?;
            let shown = if expired { "emailCodeExpired" } else { "invalidOtp" };
            return Ok(Err(locked.unwrap_or_else(|| message(shown))));
        }
        if let Err(locked) = super::second_factor_succeeded(ctx, attempt).await? {
            return Ok(Err(locked));
        }
        // Used up: the same code cannot be entered again.
        if let Some(c) = self.state_mut(ctx).as_mut() {
            c.mac.clear();
        }
        ctx.flow.add_amr(self.amr_value());
        let event = format!("{}_otp_used", self.kind());
        ctx.event(&event, Some(&user_id), json!({})).await;
        Ok(Ok(()))
    }

    /// RFC 8176: `otp` for a code by email (as for an app), `sms` for one by text.
    fn amr_value(self) -> &'static str {
        match self {
            SentCodeForm::Email => "otp",
            SentCodeForm::Sms => "sms",
        }
    }
}

/// Mails `context`'s code; `Some` is a message for the page.
async fn send_mail(ctx: &FlowContext<'_>, to: &str, lang: &str, context: Value) -> Result<Option<Value>, EngineError> {
    let letter = Letter {
        realm: ctx.realm,
        to,
        to_name: None,
        template: "email_code",
        lang,
        context,
        requested_by_ip: ctx.ip.as_deref(),
        limited: true,
        link: None,
    };
    Ok(match ctx.services.mail.send(letter).await {
        Ok(()) => None,
        Err(MailError::TooManyFromAddress | MailError::TooManyForRecipient) => Some(message("tooManyMessages")),
        Err(MailError::NotConfigured | MailError::BadAddress) => Some(message("mailNotConfigured")),
        Err(MailError::Store(e)) => return Err(e.into()),
    })
}

/// Texts `context`'s code; `Some` is a message for the page.
async fn send_text(
    ctx: &FlowContext<'_>,
    to: &str,
    user_id: &str,
    lang: &str,
    context: Value,
) -> Result<Option<Value>, EngineError> {
    let text = Text {
        realm: ctx.realm,
        to,
        user_id,
        template: "code",
        lang,
        context,
        requested_by_ip: ctx.ip.as_deref(),
    };
    Ok(match ctx.services.sms.send(text).await {
        Ok(()) => None,
        Err(SmsError::TooManyFromAddress | SmsError::TooManyForRecipient) => Some(message("tooManyMessages")),
        Err(SmsError::NotConfigured | SmsError::NumberNotAllowed) => Some(message("smsNotConfigured")),
        Err(SmsError::Store(e)) => return Err(e.into()),
    })
}

#[async_trait::async_trait]
impl Authenticator for SentCodeForm {
    fn name(&self) -> &'static str {
        match self {
            SentCodeForm::Email => "email-otp-form",
            SentCodeForm::Sms => "sms-otp-form",
        }
    }

    fn amr(&self) -> Option<&'static str> {
        Some(self.amr_value())
    }

    fn needs_user(&self) -> bool {
        true
    }

    fn credential_kind(&self) -> Option<&'static str> {
        Some(match self {
            SentCodeForm::Email => EMAIL_OTP,
            SentCodeForm::Sms => SMS_OTP,
        })
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let kind = self.credential_kind().unwrap_or_default();
        // The person asked for the other kind of code on the authenticator-app page.
        let other_chosen = match self {
            SentCodeForm::Email => ctx.flow.use_sms_code,
            SentCodeForm::Sms => ctx.flow.use_email_code,
        };
        if ctx.flow.use_recovery_code || other_chosen || !ctx.services.store.has_credential(&user_id, kind).await? {
            return Ok(StepResult::Attempted);
        }
        let error = if self.state(ctx).is_none() {
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
            Ok(()) => {
                super::note_remember_device(ctx, form);
                Ok(StepResult::Success)
            }
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
