//! `otp-form`: a one-time code from the user's authenticator app (field `otp`). A code is
//! accepted once: the time step it matched must be newer than the last accepted one.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::crypto::totp;
use crate::flow::{EngineError, FlowContext, Page, StepResult, message};
use crate::store::{EMAIL_OTP, OTP, RECOVERY_CODE, SMS_OTP};

pub struct OtpForm;

async fn page(ctx: &FlowContext<'_>, error: Option<Value>) -> Result<StepResult, EngineError> {
    let user_id = ctx.flow.user_id.clone().unwrap_or_default();
    let can_use_recovery_code = ctx.siblings.iter().any(|s| s == "recovery-code-form")
        && ctx.services.store.has_credential(&user_id, RECOVERY_CODE).await?;
    let can_use_email_code = sent_code_offered(ctx, &user_id, SentCode::Email).await?;
    let can_use_sms_code = sent_code_offered(ctx, &user_id, SentCode::Sms).await?;
    let can_use_security_key = security_key_offered(ctx, &user_id).await?;
    Ok(StepResult::Challenge(Page::new(
        "otp.html",
        json!({
            "error": error, "can_use_recovery_code": can_use_recovery_code,
            "can_use_email_code": can_use_email_code, "can_use_sms_code": can_use_sms_code,
            "can_use_security_key": can_use_security_key,
        }),
    )))
}

/// Whether the person came here from their security key's page ("use your authenticator app
/// instead") and can go back to it.
async fn security_key_offered(ctx: &FlowContext<'_>, user_id: &str) -> Result<bool, EngineError> {
    Ok(ctx.flow.use_otp_instead
        && ctx.realm.webauthn.is_some()
        && ctx.siblings.iter().any(|s| s == "webauthn-form")
        && ctx
            .services
            .store
            .has_credential(user_id, crate::webauthn::SECURITY_KEY)
            .await?)
}

#[derive(Clone, Copy)]
enum SentCode {
    Email,
    Sms,
}

/// Whether an `email-otp-form` (or `sms-otp-form`) beside this step could take over: the user
/// has those codes on.
async fn sent_code_offered(ctx: &FlowContext<'_>, user_id: &str, which: SentCode) -> Result<bool, EngineError> {
    let (step, kind) = match which {
        SentCode::Email => ("email-otp-form", EMAIL_OTP),
        SentCode::Sms => ("sms-otp-form", SMS_OTP),
    };
    Ok(ctx.siblings.iter().any(|s| s == step) && ctx.services.store.has_credential(user_id, kind).await?)
}

#[async_trait::async_trait]
impl Authenticator for OtpForm {
    fn name(&self) -> &'static str {
        "otp-form"
    }

    fn amr(&self) -> Option<&'static str> {
        Some("otp")
    }

    fn needs_user(&self) -> bool {
        true
    }

    fn credential_kind(&self) -> Option<&'static str> {
        Some(OTP)
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        if ctx.flow.use_recovery_code || ctx.flow.use_email_code || ctx.flow.use_sms_code {
            return Ok(StepResult::Attempted);
        }
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let has_app = ctx.services.store.has_credential(&user_id, OTP).await?;
        let sent_codes = sent_code_offered(ctx, &user_id, SentCode::Email).await?
            || sent_code_offered(ctx, &user_id, SentCode::Sms).await?;
        if !has_app && sent_codes {
            // Codes by email or text beside this step, and no app: they are the second factor.
            return Ok(StepResult::Attempted);
        }
        if !has_app
            && ctx
                .services
                .store
                .has_credential(&user_id, crate::webauthn::SECURITY_KEY)
                .await?
        {
            // A security key is this user's second factor: a new app is set up in the console
            // after signing in with it, never in place of it.
            ctx.event("login_error", Some(&user_id), json!({ "reason": "otp_not_configured" }))
                .await;
            return Ok(StepResult::Failure("otpNotConfigured".into()));
        }
        if !has_app {
            // As Keycloak: a required OTP step for a user without a device sends them to set
            // one up before the sign-in completes — if the realm allows that; otherwise the
            // step cannot be passed at all (never with the password alone).
            if !ctx.realm.is_required_action_enabled("configure-otp") {
                ctx.event("login_error", Some(&user_id), json!({ "reason": "otp_not_configured" }))
                    .await;
                return Ok(StepResult::Failure("otpNotConfigured".into()));
            }
            // Added by the flow even when an app asked for it too (`kc_action`): a second
            // entry marks it as required, so the person cannot cancel it.
            let by_flow = ctx.flow.extra_actions.iter().filter(|a| *a == "configure-otp").count();
            let by_app = usize::from(ctx.request.kc_action.as_deref() == Some("configure-otp"));
            if by_flow <= by_app {
                ctx.flow.extra_actions.push("configure-otp".into());
            }
            return Ok(StepResult::Success);
        }
        page(ctx, None).await
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        match form.get("try_another").map(String::as_str) {
            Some("recovery-code") => {
                ctx.flow.use_recovery_code = true;
                return Ok(StepResult::Attempted);
            }
            Some("email-otp") => {
                let user_id = ctx.flow.user_id.clone().unwrap_or_default();
                if sent_code_offered(ctx, &user_id, SentCode::Email).await? {
                    ctx.flow.use_email_code = true;
                    return Ok(StepResult::Attempted);
                }
            }
            Some("security-key") => {
                let user_id = ctx.flow.user_id.clone().unwrap_or_default();
                if security_key_offered(ctx, &user_id).await? {
                    ctx.flow.use_otp_instead = false;
                    ctx.flow.back_to_first_alternative = true;
                    return Ok(StepResult::Attempted);
                }
            }
            Some("sms-otp") => {
                let user_id = ctx.flow.user_id.clone().unwrap_or_default();
                if sent_code_offered(ctx, &user_id, SentCode::Sms).await? {
                    ctx.flow.use_sms_code = true;
                    return Ok(StepResult::Attempted);
                }
            }
            _ => {}
        }
        let code = form.get("otp").map(|s| s.trim()).unwrap_or_default();
        if code.is_empty() {
            return page(ctx, Some(message("missingOtp"))).await;
        }
        match verify(ctx, code).await? {
            Ok(()) => {
                super::note_remember_device(ctx, form);
                Ok(StepResult::Success)
            }
            Err(message) => page(ctx, Some(message)).await,
        }
    }
}

/// Checks `code` against the (known) user's authenticator apps, once per time step and under
/// the second-factor lockout; the message to show when it is refused.
pub(super) async fn verify(ctx: &mut FlowContext<'_>, code: &str) -> Result<Result<(), Value>, EngineError> {
    let attempt = match super::begin_second_factor(ctx).await? {
        Ok(attempt) => attempt,
        Err(locked) => return Ok(Err(locked)),
    };
    let user_id = ctx.flow.user_id.clone().unwrap_or_default();
    let policy = ctx.realm.otp_policy.clone();
    let now = crate::store::now().max(0) as u64;
    for device in ctx.services.store.credentials(&user_id, OTP).await? {
        let Ok(secret) = ctx.services.master_key.open(&otp_context(&device.id), &device.secret) else {
            tracing::error!(credential = %device.id, "OTP secret cannot be opened with this master key");
            continue;
        };
        let Some(step) = totp::matching_step(&policy, &secret, code, now) else {
            continue;
        };
        if ctx.services.store.accept_otp_step(&device.id, step).await? {
            if let Err(locked) = super::second_factor_succeeded(ctx, attempt).await? {
                return Ok(Err(locked));
            }
            ctx.flow.add_amr("otp");
            ctx.event("otp_used", Some(&user_id), json!({ "credential": device.id }))
                .await;
            return Ok(Ok(()));
        }
        let locked = super::second_factor_failed(ctx, attempt, "otp_reused").await?;
        return Ok(Err(locked.unwrap_or_else(|| message("otpAlreadyUsed"))));
    }
    let locked = super::second_factor_failed(ctx, attempt, "invalid_otp").await?;
    Ok(Err(locked.unwrap_or_else(|| message("invalidOtp"))))
}

pub fn otp_context(credential_id: &str) -> String {
    format!("otp:{credential_id}")
}
