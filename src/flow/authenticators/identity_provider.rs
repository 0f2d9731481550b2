//! `identity-provider`: sign-in through an upstream provider (identity brokering). The login
//! page of the same level offers a button per provider of the realm; choosing one (or reaching
//! `identity-provider-redirector`, which picks its `default_provider`) sends the browser to
//! the provider with `state`, `nonce` and PKCE. The browser comes back to the realm's broker
//! callback, which checks the answer and finds (or links, or creates) the user; the flow then
//! resumes here and the step succeeds with that user, `amr` `fed`. Later steps (a second factor
//! of our own) run as for any sign-in.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::flow::{BrokerFlow, EngineError, FlowContext, StepResult};

/// Keycloak's `identity-provider` step: the buttons' provider, or the one chosen.
pub struct IdentityProvider;
/// Keycloak's `identity-provider-redirector`: straight to `default_provider`.
pub struct Redirector;

const NAME: &str = "identity-provider";

/// The providers the login page offers (alias, words, link), when this level of the flow has
/// an `identity-provider` step. Each link carries the sign-in's CSRF token.
pub fn offer(ctx: &FlowContext<'_>) -> Vec<Value> {
    if !ctx.siblings.iter().any(|s| s == NAME) {
        return Vec::new();
    }
    ctx.realm
        .identity_providers
        .iter()
        .map(|p| {
            let link = format!(
                "/realms/{}/broker/{}/login?csrf={}",
                ctx.realm.name, p.alias, ctx.flow.csrf
            );
            json!({ "alias": p.alias, "label": p.label(), "link": link })
        })
        .collect()
}

/// Whether the person chose an upstream provider in this sign-in (the login form then steps
/// aside for the `identity-provider` step).
pub fn chosen(ctx: &FlowContext<'_>) -> bool {
    ctx.flow.broker.as_ref().is_some_and(|b| !b.link_after_sign_in)
}

/// Runs the chosen provider's part: the user, once back; else the request upstream.
async fn run(ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
    let Some(broker) = ctx.flow.broker.clone().filter(|b| !b.link_after_sign_in) else {
        return Ok(StepResult::Attempted);
    };
    if let Some(user_id) = broker.user_id {
        let user = ctx.services.store.find_user(&user_id).await?;
        let Some(user) = user.filter(|u| u.enabled) else {
            ctx.flow.broker = None;
            return Ok(StepResult::Failure("accountDisabled".into()));
        };
        // A flow that named someone already (identifier-first) does not become another's.
        if ctx.flow.user_id.as_deref().is_some_and(|named| named != user.id) {
            ctx.flow.broker = None;
            return Ok(StepResult::Failure("brokerOtherUser".into()));
        }
        ctx.flow.user_id = Some(user.id);
        ctx.flow.username = Some(user.username);
        ctx.flow.add_amr("fed");
        return Ok(StepResult::Success);
    }
    let Some(provider) = ctx.realm.identity_providers.iter().find(|p| p.alias == broker.alias) else {
        ctx.flow.broker = None;
        return Ok(StepResult::Attempted);
    };
    let back = crate::broker::callback_url(ctx.services.public_url, &ctx.realm.name, &provider.alias);
    match ctx.services.broker.start(provider, &back).await {
        Ok((url, pending)) => {
            ctx.flow.broker = Some(BrokerFlow {
                pending: Some(pending),
                ..broker
            });
            Ok(StepResult::Redirect(url))
        }
        Err(e) => {
            tracing::warn!(provider = %provider.alias, error = %crate::ops::logging::untrusted(&e.to_string()), "cannot start an upstream sign-in");
            ctx.flow.broker = None;
            Ok(StepResult::Failure("brokerUnreachable".into()))
        }
    }
}

#[async_trait::async_trait]
impl Authenticator for IdentityProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn amr(&self) -> Option<&'static str> {
        Some("fed")
    }

    fn identifies_user(&self) -> bool {
        true
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        run(ctx).await
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        _form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        run(ctx).await
    }
}

#[async_trait::async_trait]
impl Authenticator for Redirector {
    fn name(&self) -> &'static str {
        "identity-provider-redirector"
    }

    fn amr(&self) -> Option<&'static str> {
        Some("fed")
    }

    fn identifies_user(&self) -> bool {
        true
    }

    fn check_config(&self, config: &Value) -> Result<(), String> {
        crate::flow::step::check_keys(config, &["default_provider"], &["default_provider"])
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        if ctx.flow.broker.is_none() {
            // Once per sign-in: after a refused trip upstream the login page shows instead
            // (going again could loop while the provider's own session lasts).
            if ctx.flow.notice.as_deref().is_some_and(|n| n.starts_with("broker")) {
                return Ok(StepResult::Attempted);
            }
            let Some(alias) = ctx.step_config.get("default_provider").and_then(Value::as_str) else {
                return Ok(StepResult::Attempted);
            };
            if !ctx.realm.identity_providers.iter().any(|p| p.alias == alias) {
                return Ok(StepResult::Attempted);
            }
            ctx.flow.broker = Some(BrokerFlow {
                alias: alias.to_string(),
                ..BrokerFlow::default()
            });
        }
        run(ctx).await
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        _form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        self.authenticate(ctx).await
    }
}
