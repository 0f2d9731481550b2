//! Executing a flow with Keycloak's semantics:
//! - at one level, required and conditional steps must all succeed, and alternatives are then
//!   ignored (conditions do not count as required steps);
//! - without required steps, the first alternative that succeeds is enough;
//! - a conditional subflow runs only when all its (non-disabled) conditions hold;
//! - disabled steps are skipped.
//!
//! A step that shows a page pauses the flow; the form posted back resumes it at that step.
//! Completed steps are remembered by path (e.g. `1.0`), so re-running the flow on each request
//! never repeats a step.

use std::collections::HashMap;

use futures_util::future::BoxFuture;

use super::model::{Flow, Requirement, Step, StepKind};
use super::{EngineError, FlowContext, Page, StepResult, authenticators, conditions};

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success,
    Challenge(Page),
    Redirect(String),
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
        StepResult::Redirect(url) => Outcome::Redirect(url),
        StepResult::Failure(m) => Outcome::Failure(m),
        StepResult::Attempted => Outcome::Failure("noWayToSignIn".into()),
    })
}

fn path(prefix: &str, i: usize) -> String {
    if prefix.is_empty() {
        i.to_string()
    } else {
        format!("{prefix}.{i}")
    }
}

fn is_condition(s: &Step) -> bool {
    matches!(s.kind, StepKind::Condition(_))
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
        let siblings: Vec<String> = steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Authenticator(n) if s.requirement != Requirement::Disabled => Some(n.clone()),
                _ => None,
            })
            .collect();
        let has_required = steps
            .iter()
            .any(|s| !is_condition(s) && matches!(s.requirement, Requirement::Required | Requirement::Conditional));
        if has_required {
            for (i, step) in steps.iter().enumerate() {
                if is_condition(step) || !matches!(step.requirement, Requirement::Required | Requirement::Conditional) {
                    continue;
                }
                ctx.siblings = siblings.clone();
                match run_step(step, path(&prefix, i), ctx, input).await? {
                    StepResult::Success => {}
                    other => return Ok(other),
                }
            }
            return Ok(StepResult::Success);
        }
        let mut input = input;
        let mut i = 0;
        while let Some(step) = steps.get(i) {
            i += 1;
            if is_condition(step) || step.requirement != Requirement::Alternative {
                continue;
            }
            ctx.siblings = siblings.clone();
            match run_step(step, path(&prefix, i - 1), ctx, input).await? {
                // Once per request: the flag is taken, and the alternatives' pages show again.
                StepResult::Attempted if std::mem::take(&mut ctx.flow.back_to_first_alternative) => {
                    i = 0;
                    input = None;
                }
                StepResult::Attempted => continue,
                other => return Ok(other),
            }
        }
        Ok(StepResult::Attempted)
    })
}

/// Whether every enabled condition of a conditional subflow holds.
async fn conditions_hold(steps: &[Step], ctx: &mut FlowContext<'_>) -> Result<bool, EngineError> {
    for s in steps {
        let StepKind::Condition(name) = &s.kind else { continue };
        if s.requirement == Requirement::Disabled {
            continue;
        }
        let Some(condition) = conditions::find(name) else {
            return Ok(false);
        };
        let holds = condition.holds(ctx, &s.config, steps).await?;
        ctx.flow.trace.push(format!("condition {name}:{holds}"));
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
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
        StepKind::Subflow { steps, .. } => {
            if step.requirement == Requirement::Conditional && !conditions_hold(steps, ctx).await? {
                // Skipped: the subflow does not apply. Not remembered, so it is decided afresh
                // if the flow runs again.
                return Ok(StepResult::Success);
            }
            level(steps, at.clone(), ctx, input).await?
        }
        StepKind::Condition(_) => StepResult::Success,
        StepKind::Authenticator(name) => {
            let Some(auth) = authenticators::find(name) else {
                // Flow files are checked when they load, so this is a build without a piece the
                // file names: said to the person as a key, the name in the log.
                tracing::error!(authenticator = %name, flow = %ctx.flow.flow, "the flow names an unknown authenticator");
                return Ok(StepResult::Failure("flowMisconfigured".into()));
            };
            ctx.step_config = step.config.clone();
            if carried_over(auth, ctx).await? {
                ctx.flow.trace.push(format!("{name}:carried"));
                ctx.flow.completed.push(at);
                return Ok(StepResult::Success);
            }
            let resumed = ctx.flow.challenge.as_deref() == Some(at.as_str());
            let result = match input {
                Some(form) if resumed => auth.action(ctx, form).await?,
                _ => auth.authenticate(ctx).await?,
            };
            match &result {
                StepResult::Success => ctx.flow.trace.push(format!("{name}:success")),
                StepResult::Challenge(_) => ctx.flow.challenge = Some(at.clone()),
                StepResult::Redirect(_) => {
                    ctx.flow.challenge = Some(at.clone());
                    ctx.flow.trace.push(format!("{name}:redirect"));
                }
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

/// Step-up: a first-factor authenticator whose method the raised SSO session already proved
/// for the same user is not asked again (its method counts towards the new level).
async fn carried_over(
    auth: &dyn authenticators::Authenticator,
    ctx: &mut FlowContext<'_>,
) -> Result<bool, EngineError> {
    let Some(method) = auth.amr() else { return Ok(false) };
    let same_user = ctx.flow.user_id.is_some()
        && ctx.flow.carried_from.as_ref().map(|c| c.user_id.as_str()) == ctx.flow.user_id.as_deref();
    if !auth.identifies_user() || !same_user || !ctx.flow.carried_amr.iter().any(|m| m == method) {
        return Ok(false);
    }
    if passkey_is_the_way_up(ctx).await? {
        return Ok(false);
    }
    ctx.flow.add_amr(method);
    Ok(true)
}

/// Two factors asked of a user whose only way to them is a passkey (no second factor after
/// the password): the first factor is not carried, so the sign-in page, which offers
/// passkeys, shows, and the passkey (two factors on its own) reaches the level.
async fn passkey_is_the_way_up(ctx: &FlowContext<'_>) -> Result<bool, EngineError> {
    use crate::store::{EMAIL_OTP, OTP, SECURITY_KEY, SMS_OTP};
    let asks_two = ctx.request.acr.as_ref().is_some_and(|acr| acr.level >= 2);
    let Some(user_id) = ctx.flow.user_id.as_deref() else {
        return Ok(false);
    };
    if !asks_two || ctx.realm.webauthn.is_none() {
        return Ok(false);
    }
    let store = ctx.services.store;
    if !store.has_credential(user_id, crate::webauthn::PASSKEY).await? {
        return Ok(false);
    }
    for kind in [OTP, EMAIL_OTP, SMS_OTP, SECURITY_KEY] {
        if store.has_credential(user_id, kind).await? {
            return Ok(false);
        }
    }
    Ok(true)
}
