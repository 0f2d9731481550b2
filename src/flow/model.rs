//! Flow files: their shape, parsing and validation (every mistake with `file:line:column`).

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::authenticators;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    Required,
    Alternative,
    Conditional,
    Disabled,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowFile {
    flow: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    steps: Vec<Spanned<StepFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    authenticator: Option<Spanned<String>>,
    condition: Option<Spanned<String>>,
    subflow: Option<Spanned<String>>,
    requirement: Spanned<Requirement>,
    #[serde(default)]
    steps: Vec<Spanned<StepFile>>,
}

/// A validated flow.
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
    pub line: u64,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    Authenticator(String),
    Condition(String),
    Subflow { name: String, steps: Vec<Step> },
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

pub fn parse(path: &str, text: &str) -> Result<Flow, Vec<FlowError>> {
    let file: FlowFile = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        let message = e.to_string().lines().next().unwrap_or_default().to_string();
        vec![FlowError {
            path: path.into(),
            line,
            column,
            message,
        }]
    })?;
    let mut errors = Vec::new();
    let steps = convert(path, &file.steps, &mut errors);
    if steps.is_empty() {
        errors.push(error(path, file.flow.referenced, "a flow needs at least one step"));
    }
    if errors.is_empty() {
        Ok(Flow {
            name: file.flow.value,
            description: file.description.unwrap_or_default(),
            content_hash: crate::crypto::sha256_hex(text.as_bytes()),
            steps,
        })
    } else {
        Err(errors)
    }
}

fn error(path: &str, at: Location, message: impl Into<String>) -> FlowError {
    FlowError {
        path: path.into(),
        line: at.line(),
        column: at.column(),
        message: message.into(),
    }
}

fn convert(path: &str, steps: &[Spanned<StepFile>], errors: &mut Vec<FlowError>) -> Vec<Step> {
    let mut out = Vec::new();
    for s in steps {
        let at = s.referenced;
        let file = &s.value;
        let requirement = file.requirement.value;
        let kinds = [
            file.authenticator.is_some(),
            file.condition.is_some(),
            file.subflow.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            errors.push(error(
                path,
                at,
                "a step is exactly one of: authenticator, condition, subflow",
            ));
            continue;
        }
        let kind = if let Some(name) = &file.authenticator {
            if authenticators::find(&name.value).is_none() {
                errors.push(error(
                    path,
                    name.referenced,
                    format!(
                        "unknown authenticator '{}'; known: {}",
                        name.value,
                        authenticators::names().join(", ")
                    ),
                ));
            }
            StepKind::Authenticator(name.value.clone())
        } else if let Some(name) = &file.condition {
            errors.push(error(
                path,
                name.referenced,
                format!("unknown condition '{}'", name.value),
            ));
            StepKind::Condition(name.value.clone())
        } else {
            let name = file.subflow.as_ref().map(|n| n.value.clone()).unwrap_or_default();
            if file.steps.is_empty() {
                errors.push(error(path, at, format!("subflow '{name}' has no steps")));
            }
            StepKind::Subflow {
                name,
                steps: convert(path, &file.steps, errors),
            }
        };
        if !matches!(kind, StepKind::Subflow { .. }) && !file.steps.is_empty() {
            errors.push(error(path, at, "only a subflow may have steps"));
        }
        if requirement == Requirement::Conditional && !matches!(kind, StepKind::Subflow { .. }) {
            errors.push(error(
                path,
                file.requirement.referenced,
                "only a subflow can be conditional",
            ));
        }
        out.push(Step {
            kind,
            requirement,
            line: at.line(),
        });
    }
    let has_required = out.iter().any(|s| s.requirement == Requirement::Required);
    let has_alternative = out.iter().any(|s| s.requirement == Requirement::Alternative);
    if has_required
        && has_alternative
        && let Some(first) = steps
            .iter()
            .find(|s| s.value.requirement.value == Requirement::Alternative)
    {
        errors.push(error(
            path,
            first.value.requirement.referenced,
            "alternative steps beside a required step are never used; make them a subflow or remove them",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_browser_flow_parses() {
        let f = parse("browser.yaml", include_str!("../../flows/browser.yaml")).unwrap();
        assert_eq!(f.name, "browser");
        assert_eq!(f.steps.len(), 2);
    }

    #[test]
    fn mistakes_are_reported_with_lines() {
        let e = parse(
            "f.yaml",
            "flow: f\nsteps:\n  - authenticator: nope\n    requirement: required\n  - authenticator: cookie\n    requirement: alternative\n",
        )
        .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!((e[0].line, e[0].column), (3, 20));
        assert_eq!(e[1].line, 6);
        let e = parse(
            "f.yaml",
            "flow: f\nsteps:\n  - authenticator: cookie\n    requirement: sometimes\n",
        )
        .unwrap_err();
        assert_eq!(e[0].line, 4, "{e:?}");
    }
}
