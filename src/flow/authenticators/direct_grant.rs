//! The direct grant (`grant_type=password`, RFC 6749 §4.3) authenticators, Keycloak's names:
//! they read the token request's parameters instead of showing pages, so a direct grant flow
//! is made of these (and conditions, `deny-access`) only — `flow check` refuses a mix.
//!
//! - `direct-grant-validate-username`: the `username` parameter is present;
//! - `direct-grant-validate-password`: the password for it (brute-force protection as on the
//!   form; the same answer whether or not the user exists);
//! - `direct-grant-validate-otp`: a current one-time code in `totp` (Keycloak's parameter).

use std::collections::HashMap;

use serde_json::Value;

use super::{Authenticator, Runs};
use crate::flow::{EngineError, FlowContext, StepResult};
use crate::store::OTP;

/// A refusal as the step's failure: a catalog key, or a message with arguments as JSON text
/// (the token endpoint turns either into the error description).
fn refusal(message: Value) -> StepResult {
    StepResult::Failure(match message {
        Value::String(key) => key,
        other => other.to_string(),
    })
}

fn parameter<'a>(ctx: &'a FlowContext<'_>, name: &str) -> Option<&'a str> {
    ctx.credentials
        .and_then(|c| c.get(name))
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

pub struct ValidateUsername;

#[async_trait::async_trait]
impl Authenticator for ValidateUsername {
    fn name(&self) -> &'static str {
        "direct-grant-validate-username"
    }

    fn runs(&self) -> Runs {
        Runs::DirectGrant
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        // Who it is stays unknown until the password proves it: a missing user and a wrong
        // password must look the same.
        let Some(username) = parameter(ctx, "username").map(|u| u.trim().to_string()) else {
            return Ok(StepResult::Failure("missingUsername".into()));
        };
        ctx.flow.username = Some(username);
        Ok(StepResult::Success)
    }

    async fn action(&self, ctx: &mut FlowContext<'_>, _: &HashMap<String, String>) -> Result<StepResult, EngineError> {
        self.authenticate(ctx).await
    }
}

pub struct ValidatePassword;

#[async_trait::async_trait]
impl Authenticator for ValidatePassword {
    fn name(&self) -> &'static str {
        "direct-grant-validate-password"
    }

    fn amr(&self) -> Option<&'static str> {
        Some("pwd")
    }

    fn identifies_user(&self) -> bool {
        true
    }

    fn credential_kind(&self) -> Option<&'static str> {
        Some(crate::store::PASSWORD)
    }

    fn runs(&self) -> Runs {
        Runs::DirectGrant
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        let Some(username) = ctx
            .flow
            .username
            .clone()
            .or_else(|| parameter(ctx, "username").map(String::from))
        else {
            return Ok(StepResult::Failure("missingUsername".into()));
        };
        let Some(password) = parameter(ctx, "password").map(str::to_string) else {
            return Ok(StepResult::Failure("missingPassword".into()));
        };
        Ok(match super::check_password(ctx, &username, &password).await? {
            Ok(()) => StepResult::Success,
            Err(message) => refusal(message),
        })
    }

    async fn action(&self, ctx: &mut FlowContext<'_>, _: &HashMap<String, String>) -> Result<StepResult, EngineError> {
        self.authenticate(ctx).await
    }
}

/// `code` padded with the zeros a client dropped by sending it as a number (python-keycloak
/// types `totp` as an integer, so `012345` arrives as `12345`).
fn with_leading_zeros(code: &str, digits: usize) -> String {
    if code.len() < digits && code.bytes().all(|b| b.is_ascii_digit()) {
        format!("{code:0>digits$}")
    } else {
        code.to_string()
    }
}

pub struct ValidateOtp;

#[async_trait::async_trait]
impl Authenticator for ValidateOtp {
    fn name(&self) -> &'static str {
        "direct-grant-validate-otp"
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

    fn runs(&self) -> Runs {
        Runs::DirectGrant
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        if !ctx.services.store.has_credential(&user_id, OTP).await? {
            // No pages here to set one up: the step cannot be passed.
            ctx.event(
                "login_error",
                Some(&user_id),
                serde_json::json!({ "reason": "otp_not_configured" }),
            )
            .await;
            return Ok(StepResult::Failure("otpNotConfigured".into()));
        }
        let digits = ctx.realm.otp_policy.digits as usize;
        let Some(code) = parameter(ctx, "totp").map(|c| with_leading_zeros(c.trim(), digits)) else {
            let user_id = ctx.flow.user_id.clone();
            ctx.event(
                "login_error",
                user_id.as_deref(),
                serde_json::json!({ "reason": "otp_missing" }),
            )
            .await;
            return Ok(StepResult::Failure("missingOtp".into()));
        };
        Ok(match super::otp_form::verify(ctx, &code).await? {
            Ok(()) => StepResult::Success,
            Err(message) => refusal(message),
        })
    }

    async fn action(&self, ctx: &mut FlowContext<'_>, _: &HashMap<String, String>) -> Result<StepResult, EngineError> {
        self.authenticate(ctx).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_sent_as_numbers_get_their_leading_zeros_back() {
        assert_eq!(super::with_leading_zeros("12345", 6), "012345");
        assert_eq!(super::with_leading_zeros("123456", 6), "123456");
        assert_eq!(super::with_leading_zeros("12a45", 6), "12a45");
        assert_eq!(super::with_leading_zeros("7", 8), "00000007");
    }
}
