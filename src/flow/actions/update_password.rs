//! `update-password`: a new password under the realm's policy (fields `password-new`,
//! `password-confirm`): length, character classes, not the username, not one of the last N.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{ActionResult, RequiredAction};
/// The policy checks, for the pages and the account console that share them.
pub use crate::flow::password::{recently_used, requirements, violation};
use crate::flow::{EngineError, FlowContext, Page};
use crate::realm::PasswordPolicy;

pub struct UpdatePassword;

fn page(policy: &PasswordPolicy, error: Option<Value>) -> Page {
    Page::new(
        "update_password.html",
        json!({ "error": error, "requirements": requirements(policy) }),
    )
}

#[async_trait::async_trait]
impl RequiredAction for UpdatePassword {
    fn name(&self) -> &'static str {
        "update-password"
    }

    async fn page(&self, ctx: &mut FlowContext<'_>) -> Result<Page, EngineError> {
        Ok(page(&ctx.realm.password_policy, None))
    }

    async fn submit(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<ActionResult, EngineError> {
        let policy = &ctx.realm.password_policy;
        let new = form.get("password-new").map(String::as_str).unwrap_or_default();
        let confirm = form.get("password-confirm").map(String::as_str).unwrap_or_default();
        if new != confirm {
            return Ok(ActionResult::Page(page(policy, Some(Value::from("passwordMismatch")))));
        }
        let username = ctx.flow.username.clone().unwrap_or_default();
        if let Some(problem) = violation(policy, &username, new) {
            return Ok(ActionResult::Page(page(policy, Some(problem))));
        }
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let store = &ctx.services.store;
        if recently_used(store, ctx.services.hasher, &user_id, new, policy.history).await? {
            let recent = json!({ "key": "passwordRecentlyUsed", "args": { "count": policy.history } });
            return Ok(ActionResult::Page(page(policy, Some(recent))));
        }
        let hash = ctx.services.hasher.hash(new).await?;
        // This browser's own session (if it signed in with one) stays; every other ends.
        let keep = ctx
            .sso_session
            .as_ref()
            .filter(|s| s.user_id == user_id)
            .map(|s| s.id.clone());
        store
            .change_password(&user_id, hash, policy.history, keep.as_deref(), true)
            .await?;
        ctx.event(
            "password_changed",
            Some(&user_id),
            json!({ "by": "user", "via": "update-password" }),
        )
        .await;
        crate::flow::password::notify_changed(ctx, &user_id).await?;
        Ok(ActionResult::Done)
    }
}
