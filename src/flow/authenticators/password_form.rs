//! `password-form`: the password for the username given on the previous page.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::flow::{EngineError, FlowContext, Page, StepResult, message};

pub struct PasswordForm;

fn page(username: &str, error: Option<Value>) -> StepResult {
    StepResult::Challenge(Page::new(
        "password.html",
        json!({ "username": username, "error": error }),
    ))
}

#[async_trait::async_trait]
impl Authenticator for PasswordForm {
    fn name(&self) -> &'static str {
        "password-form"
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
        let username = ctx.flow.username.clone().unwrap_or_default();
        Ok(page(&username, None))
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        let username = ctx.flow.username.clone().unwrap_or_default();
        let password = form.get("password").map(String::as_str).unwrap_or_default();
        if password.is_empty() {
            return Ok(page(&username, Some(message("missingPassword"))));
        }
        Ok(match super::check_password(ctx, &username, password).await? {
            Ok(()) => StepResult::Success,
            Err(error) => page(&username, Some(error)),
        })
    }
}
