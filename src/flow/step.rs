//! A flow as the engine runs it: steps, their requirements and their `config`. Plain data,
//! read by the parser (`model`), the registries and the engine alike.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    Required,
    Alternative,
    Conditional,
    Disabled,
}

#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub description: String,
    /// SHA-256 of the file's text, recorded with every sign-in.
    pub content_hash: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub kind: StepKind,
    pub requirement: Requirement,
    pub config: serde_json::Value,
    pub line: u64,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    Authenticator(String),
    Condition(String),
    Subflow { name: String, steps: Vec<Step> },
}

impl Step {
    pub fn label(&self) -> String {
        match &self.kind {
            StepKind::Authenticator(n) => n.clone(),
            StepKind::Condition(n) => format!("condition {n}"),
            StepKind::Subflow { name, .. } => format!("subflow {name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    pub path: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: {}", self.path, self.line, self.column, self.message)
    }
}

/// Whether running `step` can only ever fail: a `deny-access`, or a subflow that cannot get
/// past one (a required step that always fails, or only alternatives that all do).
pub fn always_fails(step: &Step) -> bool {
    match &step.kind {
        StepKind::Authenticator(n) => n == "deny-access",
        StepKind::Condition(_) => false,
        StepKind::Subflow { steps, .. } => level_always_fails(steps),
    }
}

/// Whether a level of steps can only ever fail (see [`always_fails`]).
pub fn level_always_fails(steps: &[Step]) -> bool {
    let live: Vec<&Step> = steps
        .iter()
        .filter(|s| !matches!(s.kind, StepKind::Condition(_)) && s.requirement != Requirement::Disabled)
        .collect();
    let required: Vec<&&Step> = live.iter().filter(|s| s.requirement == Requirement::Required).collect();
    if !required.is_empty() {
        return required.iter().any(|s| always_fails(s));
    }
    let has_conditional = live.iter().any(|s| s.requirement == Requirement::Conditional);
    !has_conditional && !live.is_empty() && live.iter().all(|s| always_fails(s))
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
