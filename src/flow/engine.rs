//! Executing a flow: Keycloak's semantics. At one level, required (and conditional) steps
//! all have to succeed and alternatives are then ignored; without required steps, the first
//! alternative that succeeds is enough. A step that shows a page pauses the flow; the posted
//! form resumes it at that step.

use std::collections::HashMap;

use futures_util::future::BoxFuture;

use super::authenticators;
use super::model::{Flow, Requirement, Step, StepKind};
use super::{EngineError, FlowContext, Page, StepResult};

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success,
    Challenge(Page),
    Failure(String),
}

/// Runs `flow` as far as it goes: to success, a page, or failure. `input` is the form posted
/// for the step whose page was showing.
pub async fn run(
    flow: &Flow,
    ctx: &mut FlowContext<'_>,
    input: Option<&HashMap<String, String>>,
) -> Result<Outcome, EngineError> {
    Ok(match level(&flow.steps, String::new(), ctx, input).await? {
        StepResult::Success => Outcome::Success,
        StepResult::Challenge(p) => Outcome::Challenge(p),
        StepResult::Failure(m) => Outcome::Failure(m),
        StepResult::Attempted => Outcome::Failure("no way to sign in succeeded".into()),
    })
}

fn path(prefix: &str, i: usize) -> String {
    if prefix.is_empty() {
        i.to_string()
    } else {
        format!("{prefix}.{i}")
    }
}

fn level<'a, 'c>(
    steps: &'a [Step],
    prefix: String,
    ctx: &'a mut FlowContext<'c>,
    input: Option<&'a HashMap<String, String>>,
) -> BoxFuture<'a, Result<StepResult, EngineError>>
where
    'c: 'a,
{
    Box::pin(async move {
        let has_required = steps
            .iter()
            .any(|s| matches!(s.requirement, Requirement::Required | Requirement::Conditional));
        if has_required {
            for (i, step) in steps.iter().enumerate() {
                if !matches!(step.requirement, Requirement::Required | Requirement::Conditional) {
                    continue;
                }
                match run_step(step, path(&prefix, i), ctx, input).await? {
                    StepResult::Success => {}
                    StepResult::Attempted => return Ok(StepResult::Attempted),
                    other => return Ok(other),
                }
            }
            return Ok(StepResult::Success);
        }
        for (i, step) in steps.iter().enumerate() {
            if step.requirement != Requirement::Alternative {
                continue;
            }
            match run_step(step, path(&prefix, i), ctx, input).await? {
                StepResult::Attempted => continue,
                other => return Ok(other),
            }
        }
        Ok(StepResult::Attempted)
    })
}

async fn run_step(
    step: &Step,
    at: String,
    ctx: &mut FlowContext<'_>,
    input: Option<&HashMap<String, String>>,
) -> Result<StepResult, EngineError> {
    if ctx.flow.completed.contains(&at) {
        return Ok(StepResult::Success);
    }
    let result = match &step.kind {
        StepKind::Subflow { steps, .. } => level(steps, at.clone(), ctx, input).await?,
        // Conditions are evaluated by their conditional sub-flow; none are registered yet, and
        // flow validation refuses them, so a condition step here always holds.
        StepKind::Condition(_) => StepResult::Success,
        StepKind::Authenticator(name) => {
            let Some(auth) = authenticators::find(name) else {
                return Ok(StepResult::Failure(format!("unknown authenticator '{name}'")));
            };
            let resumed = ctx.flow.challenge.as_deref() == Some(at.as_str());
            let result = match input {
                Some(form) if resumed => auth.action(ctx, form).await?,
                _ => auth.authenticate(ctx).await?,
            };
            match &result {
                StepResult::Success => {
                    ctx.flow.trace.push(format!("{name}:success"));
                    if let Some(amr) = auth.amr()
                        && !ctx.flow.amr.iter().any(|a| a == amr)
                    {
                        ctx.flow.amr.push(amr.to_string());
                    }
                }
                StepResult::Challenge(_) => ctx.flow.challenge = Some(at.clone()),
                StepResult::Attempted => ctx.flow.trace.push(format!("{name}:attempted")),
                StepResult::Failure(_) => ctx.flow.trace.push(format!("{name}:failure")),
            }
            result
        }
    };
    if result == StepResult::Success {
        ctx.flow.completed.push(at);
    }
    Ok(result)
}
