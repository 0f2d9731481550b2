//! `client`: the sign-in is for one of `clients`.

use serde_json::Value;

use super::Condition;
use crate::flow::step::Step;
use crate::flow::{EngineError, FlowContext};

pub struct ClientCondition;

#[async_trait::async_trait]
impl Condition for ClientCondition {
    fn name(&self) -> &'static str {
        "client"
    }

    fn check_config(&self, config: &Value) -> Result<(), String> {
        crate::flow::step::check_keys(config, &["clients", "negate"], &["clients"])?;
        crate::flow::step::string_list(config, "clients").map(|_| ())
    }

    async fn holds(&self, ctx: &FlowContext<'_>, config: &Value, _: &[Step]) -> Result<bool, EngineError> {
        let clients = crate::flow::step::string_list(config, "clients").unwrap_or_default();
        Ok(clients.contains(&ctx.request.client_id) != super::negated(config))
    }
}
