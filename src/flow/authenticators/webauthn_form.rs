//! `webauthn-form`: a security key (or a passkey used as one) as the second factor, after the
//! user is known (`amr` `hwk`). Its page asks the browser for one of the user's keys; "Use
//! your authenticator app instead" and the other ways beside it hand over to the next
//! alternative. A user without a key passes the step on (Attempted), so the app's code is asked.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::flow::{EngineError, FlowContext, Page, StepResult, message};
use crate::store::OTP;
use crate::webauthn::{PasskeyError, RelyingParty, SECURITY_KEY};

pub struct WebauthnForm;

/// The user's keys (id, stored).
async fn keys(ctx: &FlowContext<'_>) -> Result<Vec<(String, crate::webauthn::StoredKey)>, EngineError> {
    let user_id = ctx.flow.user_id.clone().unwrap_or_default();
    Ok(super::webauthn_keys(ctx, &user_id, SECURITY_KEY).await?.1)
}

async fn page(ctx: &mut FlowContext<'_>, error: Option<Value>) -> Result<StepResult, EngineError> {
    let user_id = ctx.flow.user_id.clone().unwrap_or_default();
    let stored: Vec<_> = keys(ctx).await?.into_iter().map(|(_, k)| k).collect();
    let started = RelyingParty::new(ctx.services.public_url, ctx.realm)
        .and_then(|rp| rp.start_key_check(&stored))
        .ok();
    let webauthn = started.map(|(options, state)| {
        ctx.flow.keep_ceremony("webauthn-form", state);
        json!({ "options": options, "mode": "get" })
    });
    let can_use_otp =
        ctx.siblings.iter().any(|s| s == "otp-form") && ctx.services.store.has_credential(&user_id, OTP).await?;
    Ok(StepResult::Challenge(Page::new(
        "security_key.html",
        json!({ "webauthn": webauthn, "error": error, "can_use_otp": can_use_otp }),
    )))
}

#[async_trait::async_trait]
impl Authenticator for WebauthnForm {
    fn name(&self) -> &'static str {
        "webauthn-form"
    }

    fn amr(&self) -> Option<&'static str> {
        Some("hwk")
    }

    fn needs_user(&self) -> bool {
        true
    }

    fn credential_kind(&self) -> Option<&'static str> {
        Some(SECURITY_KEY)
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        if ctx.flow.use_otp_instead || ctx.realm.webauthn.is_none() || keys(ctx).await?.is_empty() {
            return Ok(StepResult::Attempted);
        }
        page(ctx, None).await
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        if form.get("try_another").is_some_and(|v| v == "otp") {
            // Only to an app the user has: the next step must not offer to enrol a new one.
            let user_id = ctx.flow.user_id.clone().unwrap_or_default();
            if ctx.services.store.has_credential(&user_id, OTP).await? {
                ctx.flow.use_otp_instead = true;
                return Ok(StepResult::Attempted);
            }
            return page(ctx, None).await;
        }
        let answer = form.get("credential").map(String::as_str).unwrap_or_default();
        let Some(state) = ctx.flow.take_ceremony("webauthn-form").filter(|_| !answer.is_empty()) else {
            return page(ctx, Some(message("securityKeyNeeded"))).await;
        };
        let attempt = match super::begin_second_factor(ctx).await? {
            Ok(attempt) => attempt,
            Err(locked) => return page(ctx, Some(locked)).await,
        };
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let (rows, stored) = super::webauthn_keys(ctx, &user_id, SECURITY_KEY).await?;
        let checked = RelyingParty::new(ctx.services.public_url, ctx.realm)
            .and_then(|rp| rp.finish_key_check(answer, &state, stored));
        match super::record_key_use(ctx, &rows, checked).await? {
            Ok(()) => {
                if let Err(locked) = super::second_factor_succeeded(ctx, attempt).await? {
                    return page(ctx, Some(locked)).await;
                }
                ctx.flow.add_amr("hwk");
                super::note_remember_device(ctx, form);
                Ok(StepResult::Success)
            }
            Err(e) => {
                if matches!(e, PasskeyError::PossibleClone) {
                    ctx.event(
                        "webauthn_clone_detected",
                        Some(&user_id),
                        json!({ "reason": "counter_went_back" }),
                    )
                    .await;
                }
                let locked = super::second_factor_failed(ctx, attempt, "security_key_refused").await?;
                page(ctx, Some(locked.unwrap_or_else(|| message("securityKeyFailed")))).await
            }
        }
    }
}
