//! `cookie`: an existing SSO session signs the user in without a page, unless the client
//! asked for a fresh sign-in (`prompt=login`), the session is older than `max_age`, or the app
//! asked for a higher level of authentication than the session reached (step-up): then the
//! user stays identified and the factors the session proved are carried into the sign-in, so
//! the flow asks only for what is missing.

use std::collections::HashMap;

use super::Authenticator;
use crate::flow::{EngineError, FlowContext, StepResult};

pub struct Cookie;

#[async_trait::async_trait]
impl Authenticator for Cookie {
    fn name(&self) -> &'static str {
        "cookie"
    }

    fn identifies_user(&self) -> bool {
        true
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        let Some(session) = ctx.sso_session.clone() else {
            return Ok(StepResult::Attempted);
        };
        if ctx.request.prompt_login && !ctx.request.prompt_none {
            return Ok(StepResult::Attempted);
        }
        if let Some(max_age) = ctx.request.max_age
            && crate::store::now() - session.auth_time >= max_age
        {
            return Ok(StepResult::Attempted);
        }
        let amr: Vec<String> = serde_json::from_str(&session.amr).unwrap_or_default();
        ctx.flow.user_id = Some(session.user_id.clone());
        ctx.flow.username = ctx
            .services
            .store
            .find_user(&session.user_id)
            .await?
            .map(|u| u.username);
        if let Some(asked) = &ctx.request.acr
            && crate::flow::level::reached(&amr) < asked.level
        {
            ctx.flow.trace.push(format!("cookie:step-up to level {}", asked.level));
            ctx.flow.carried_amr = amr;
            ctx.flow.carried_from = Some(crate::flow::CarriedSession {
                user_id: session.user_id.clone(),
                session_id: session.id.clone(),
                auth_time: session.auth_time,
            });
            return Ok(StepResult::Attempted);
        }
        ctx.flow.sso_session_id = Some(session.id.clone());
        ctx.flow.auth_time = Some(session.auth_time);
        ctx.flow.amr = amr;
        Ok(StepResult::Success)
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        _form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        self.authenticate(ctx).await
    }
}
