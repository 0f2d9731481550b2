//! `username-password-form`: the classic sign-in form (fields `username`, `password`).
//! A wrong username and a wrong password get the same message and take the same time.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::flow::{EngineError, FlowContext, Page, StepResult, message};

pub struct UsernamePasswordForm;

/// The form, offering the realm's passkeys beside the password (autofill and a button).
fn page(ctx: &mut FlowContext<'_>, username: &str, error: Option<Value>) -> StepResult {
    let webauthn = super::passkey::offer(ctx);
    let providers = super::identity_provider::offer(ctx);
    StepResult::Challenge(Page::new(
        "login.html",
        json!({ "username": username, "error": error, "webauthn": webauthn, "providers": providers }),
    ))
}

#[async_trait::async_trait]
impl Authenticator for UsernamePasswordForm {
    fn name(&self) -> &'static str {
        "username-password-form"
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

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        // The person chose an upstream provider instead.
        if super::identity_provider::chosen(ctx) {
            return Ok(StepResult::Attempted);
        }
        let hint = ctx.request.login_hint.clone().unwrap_or_default();
        Ok(page(ctx, &hint, None))
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        if let Some(answer) = form.get("credential").filter(|a| !a.is_empty()) {
            return Ok(match super::passkey::sign_in(ctx, answer).await? {
                Ok(()) => StepResult::Success,
                Err(error) => page(ctx, "", Some(error)),
            });
        }
        let username = form.get("username").map(|s| s.trim()).unwrap_or_default().to_string();
        let password = form.get("password").map(String::as_str).unwrap_or_default();
        if username.is_empty() || password.is_empty() {
            return Ok(page(ctx, &username, Some(message("missingCredentials"))));
        }
        if let Some(problem) = super::input_too_long(&username, password) {
            // The over-long name is not shown again.
            return Ok(page(ctx, "", Some(message(problem))));
        }
        Ok(match super::check_password(ctx, &username, password).await? {
            Ok(()) => StepResult::Success,
            Err(error) => page(ctx, &username, Some(error)),
        })
    }
}
