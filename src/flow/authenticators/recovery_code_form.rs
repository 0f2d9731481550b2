//! `recovery-code-form`: one of the user's single-use recovery codes (field `recovery_code`).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::flow::{EngineError, FlowContext, Page, StepResult, message};
use crate::store::RECOVERY_CODE;

pub struct RecoveryCodeForm;

fn page(error: Option<Value>) -> StepResult {
    StepResult::Challenge(Page::new("recovery_code.html", json!({ "error": error })))
}

/// Recovery codes are shown grouped (`xxxx-xxxx-…`); people type them with or without dashes
/// and in any case.
pub fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

#[async_trait::async_trait]
impl Authenticator for RecoveryCodeForm {
    fn name(&self) -> &'static str {
        "recovery-code-form"
    }

    fn amr(&self) -> Option<&'static str> {
        Some("otp")
    }

    fn needs_user(&self) -> bool {
        true
    }

    fn credential_kind(&self) -> Option<&'static str> {
        Some(RECOVERY_CODE)
    }

    async fn authenticate(&self, _ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        Ok(page(None))
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        let code = normalize(form.get("recovery_code").map(String::as_str).unwrap_or_default());
        if code.is_empty() {
            return Ok(page(Some(message("missingRecoveryCode"))));
        }
        let attempt = match super::begin_second_factor(ctx).await? {
            Ok(attempt) => attempt,
            Err(locked) => return Ok(page(Some(locked))),
        };
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        match ctx.services.store.use_recovery_code(&user_id, &code).await? {
            Some(left) => {
                if let Err(locked) = super::second_factor_succeeded(ctx, attempt).await? {
                    return Ok(page(Some(locked)));
                }
                ctx.flow.add_amr("otp");
                ctx.event("recovery_code_used", Some(&user_id), json!({ "remaining": left }))
                    .await;
                super::note_remember_device(ctx, form);
                Ok(StepResult::Success)
            }
            None => {
                let locked = super::second_factor_failed(ctx, attempt, "invalid_recovery_code").await?;
                Ok(page(Some(locked.unwrap_or_else(|| message("invalidRecoveryCode")))))
            }
        }
    }
}
