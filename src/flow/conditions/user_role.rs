//! `user-role`: the user holds one of `roles`.

use serde_json::Value;

use super::Condition;
use crate::flow::step::Step;
use crate::flow::{EngineError, FlowContext};

pub struct UserRole;

#[async_trait::async_trait]
impl Condition for UserRole {
    fn name(&self) -> &'static str {
        "user-role"
    }

    fn check_config(&self, config: &Value) -> Result<(), String> {
        crate::flow::step::check_keys(config, &["roles", "negate"], &["roles"])?;
        crate::flow::step::string_list(config, "roles").map(|_| ())
    }

    async fn holds(&self, ctx: &FlowContext<'_>, config: &Value, _: &[Step]) -> Result<bool, EngineError> {
        let Some(user_id) = ctx.flow.user_id.as_deref() else {
            return Ok(false);
        };
        let wanted = crate::flow::step::string_list(config, "roles").unwrap_or_default();
        let has = ctx.services.store.roles(user_id).await?;
        Ok(has.iter().any(|r| wanted.contains(r)) != super::negated(config))
    }
}
