//! The condition registry. A condition decides whether its conditional subflow runs; each is
//! one file implementing [`Condition`], registered with one line in [`ALL`].

mod client;
mod ip_range;
mod trusted_device;
mod user_attribute;
mod user_configured;
mod user_role;

use serde_json::Value;

use super::step::Step;
use super::{EngineError, FlowContext};

#[async_trait::async_trait]
pub trait Condition: Send + Sync {
    fn name(&self) -> &'static str;
    /// Refuses settings the condition does not understand (checked by `flow check`).
    fn check_config(&self, config: &Value) -> Result<(), String>;
    /// Whether the condition holds. `siblings` are the other steps of its subflow.
    async fn holds(&self, ctx: &FlowContext<'_>, config: &Value, siblings: &[Step]) -> Result<bool, EngineError>;
}

static ALL: &[&dyn Condition] = &[
    &user_configured::UserConfigured,
    &user_role::UserRole,
    &user_attribute::UserAttribute,
    &client::ClientCondition,
    &ip_range::IpRange,
    &trusted_device::TrustedDevice,
];

pub fn find(name: &str) -> Option<&'static dyn Condition> {
    ALL.iter().copied().find(|c| c.name() == name)
}

pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|c| c.name()).collect()
}

/// `negate: true` inverts a condition.
pub fn negated(config: &Value) -> bool {
    config.get("negate").and_then(Value::as_bool).unwrap_or(false)
}
