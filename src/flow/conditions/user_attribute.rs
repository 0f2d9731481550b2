//! `user-attribute`: the user has attribute `name`, equal to `value` when one is given.

use serde_json::Value;

use super::Condition;
use crate::flow::step::Step;
use crate::flow::{EngineError, FlowContext};

pub struct UserAttribute;

#[async_trait::async_trait]
impl Condition for UserAttribute {
    fn name(&self) -> &'static str {
        "user-attribute"
    }

    fn check_config(&self, config: &Value) -> Result<(), String> {
        crate::flow::step::check_keys(config, &["name", "value", "negate"], &["name"])?;
        if !config.get("name").is_some_and(Value::is_string) {
            return Err("'name' must be a string".into());
        }
        if config.get("value").is_some_and(|v| !v.is_string()) {
            return Err("'value' must be a string".into());
        }
        Ok(())
    }

    async fn holds(&self, ctx: &FlowContext<'_>, config: &Value, _: &[Step]) -> Result<bool, EngineError> {
        let Some(user_id) = ctx.flow.user_id.as_deref() else {
            return Ok(false);
        };
        let name = config.get("name").and_then(Value::as_str).unwrap_or_default();
        let actual = ctx.services.store.attribute(user_id, name).await?;
        let holds = match (actual, config.get("value").and_then(Value::as_str)) {
            (Some(a), Some(want)) => a == want,
            (Some(_), None) => true,
            (None, _) => false,
        };
        Ok(holds != super::negated(config))
    }
}
