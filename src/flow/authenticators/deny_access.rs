//! `deny-access`: ends the sign-in with a message (config `message`), e.g. in a conditional
//! subflow that matches a forbidden network or role.

use std::collections::HashMap;

use serde_json::Value;

use super::Authenticator;
use crate::flow::{EngineError, FlowContext, StepResult};

pub struct DenyAccess;

/// Catalog key; a configured `message` may be a key too, or plain text.
const DEFAULT_MESSAGE: &str = "accessDenied";

#[async_trait::async_trait]
impl Authenticator for DenyAccess {
    fn name(&self) -> &'static str {
        "deny-access"
    }

    fn runs(&self) -> super::Runs {
        super::Runs::Anywhere
    }

    fn check_config(&self, config: &Value) -> Result<(), String> {
        crate::flow::step::check_keys(config, &["message"], &[])?;
        match config.get("message") {
            Some(Value::String(_)) | None => Ok(()),
            Some(_) => Err("'message' must be a string".into()),
        }
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        let message = ctx
            .step_config
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_MESSAGE);
        let user_id = ctx.flow.user_id.clone();
        ctx.event(
            "login_error",
            user_id.as_deref(),
            serde_json::json!({ "reason": "access_denied" }),
        )
        .await;
        Ok(StepResult::Failure(message.to_string()))
    }

    async fn action(&self, ctx: &mut FlowContext<'_>, _: &HashMap<String, String>) -> Result<StepResult, EngineError> {
        self.authenticate(ctx).await
    }
}
