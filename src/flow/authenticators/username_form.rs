//! `username-form`: the first page of an identifier-first sign-in. It never says whether the
//! username exists; the password step that follows fails the same way for both.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::flow::{EngineError, FlowContext, Page, StepResult, message};

pub struct UsernameForm;

fn page(username: &str, error: Option<Value>) -> StepResult {
    StepResult::Challenge(Page::new(
        "username.html",
        json!({ "username": username, "error": error }),
    ))
}

#[async_trait::async_trait]
impl Authenticator for UsernameForm {
    fn name(&self) -> &'static str {
        "username-form"
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        let hint = ctx.request.login_hint.clone().unwrap_or_default();
        Ok(page(&hint, None))
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        let username = form.get("username").map(|s| s.trim()).unwrap_or_default();
        if username.is_empty() {
            return Ok(page("", Some(message("missingUsername"))));
        }
        if let Some(problem) = super::input_too_long(username, "") {
            return Ok(page("", Some(message(problem))));
        }
        // The user is only *named* here; `password-form` proves it. Until then `user_id`
        // stays empty so nothing can rely on an unproven identity.
        ctx.flow.username = Some(username.to_string());
        Ok(StepResult::Success)
    }
}
