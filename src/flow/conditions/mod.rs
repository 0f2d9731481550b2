//! The condition registry. A condition decides whether its conditional subflow runs; each is
//! one file implementing [`Condition`], registered with one line in [`ALL`].

mod client;
mod ip_range;
mod user_attribute;
mod user_configured;
mod user_role;

use serde_json::Value;

use super::model::Step;
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
];

pub fn find(name: &str) -> Option<&'static dyn Condition> {
    ALL.iter().copied().find(|c| c.name() == name)
}

pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|c| c.name()).collect()
}

/// Checks that `config` is an object with only `allowed` keys and the `required` ones.
pub fn check_keys(config: &Value, allowed: &[&str], required: &[&str]) -> Result<(), String> {
    let empty = serde_json::Map::new();
    let map = match config {
        Value::Null => &empty,
        Value::Object(m) => m,
        _ => return Err("config must be a mapping".into()),
    };
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unknown config key '{k}'; allowed: {}", allowed.join(", ")));
    }
    if let Some(k) = required.iter().find(|k| !map.contains_key(**k)) {
        return Err(format!("config needs '{k}'"));
    }
    Ok(())
}

/// A config value that is a list of strings (a single string counts as a list of one).
pub fn string_list(config: &Value, key: &str) -> Result<Vec<String>, String> {
    match config.get(key) {
        None => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| format!("'{key}' must list strings"))
            })
            .collect(),
        Some(_) => Err(format!("'{key}' must be a string or a list of strings")),
    }
}

/// `negate: true` inverts a condition.
pub fn negated(config: &Value) -> bool {
    config.get("negate").and_then(Value::as_bool).unwrap_or(false)
}
