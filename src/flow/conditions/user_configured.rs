//! `user-configured`: the user has the credentials its subflow's authenticators need — all of
//! them for required steps, at least one for alternatives (as Keycloak decides). A sign-in that
//! already has two factors (a passkey: something the user has, verified by something they are
//! or know) needs no further one: the condition does not hold then.

use serde_json::Value;

use super::Condition;
use crate::flow::authenticators;
use crate::flow::step::{Requirement, Step, StepKind};
use crate::flow::{EngineError, FlowContext};

pub struct UserConfigured;

#[async_trait::async_trait]
impl Condition for UserConfigured {
    fn name(&self) -> &'static str {
        "user-configured"
    }

    fn check_config(&self, config: &Value) -> Result<(), String> {
        crate::flow::step::check_keys(config, &["negate"], &[])
    }

    async fn holds(&self, ctx: &FlowContext<'_>, config: &Value, siblings: &[Step]) -> Result<bool, EngineError> {
        let Some(user_id) = ctx.flow.user_id.as_deref() else {
            return Ok(false);
        };
        if crate::flow::level::reached(&crate::flow::methods_and_level(&ctx.flow.amr).0) >= 2 {
            return Ok(super::negated(config));
        }
        let mut required_ok = true;
        let mut any_alternative = false;
        let mut alternative_ok = false;
        for s in siblings {
            let StepKind::Authenticator(name) = &s.kind else {
                continue;
            };
            let Some(kind) = authenticators::find(name).and_then(|a| a.credential_kind()) else {
                continue;
            };
            let has = ctx.services.store.has_credential(user_id, kind).await?;
            match s.requirement {
                Requirement::Required => required_ok &= has,
                Requirement::Alternative => {
                    any_alternative = true;
                    alternative_ok |= has;
                }
                _ => {}
            }
        }
        let holds = required_ok && (!any_alternative || alternative_ok);
        Ok(holds != super::negated(config))
    }
}
