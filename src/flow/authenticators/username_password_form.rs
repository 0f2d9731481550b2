//! `username-password-form`: the classic sign-in form (fields `username`, `password`).
//! A wrong username and a wrong password get the same message and take the same time.

use std::collections::HashMap;

use serde_json::json;

use super::Authenticator;
use crate::flow::{EngineError, FlowContext, Page, StepResult};

pub struct UsernamePasswordForm;

fn page(username: &str, error: Option<&str>) -> StepResult {
    StepResult::Challenge(Page::new("login.html", json!({ "username": username, "error": error })))
}

#[async_trait::async_trait]
impl Authenticator for UsernamePasswordForm {
    fn name(&self) -> &'static str {
        "username-password-form"
    }

    fn amr(&self) -> Option<&'static str> {
        Some("pwd")
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        let hint = ctx.request.login_hint.clone().unwrap_or_default();
        Ok(page(&hint, None))
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        let username = form.get("username").map(|s| s.trim()).unwrap_or_default();
        let password = form.get("password").map(String::as_str).unwrap_or_default();
        if username.is_empty() || password.is_empty() {
            return Ok(page(username, Some("Enter your username and password.")));
        }
        let app = ctx.app;
        let user = app.store.find_user_by_username(&ctx.realm.name, username).await?;
        let stored = match &user {
            Some(u) => app.store.password_hash(&u.id).await?,
            None => None,
        };
        let ok = app.hasher.verify(password, stored.as_deref()).await?;
        match user {
            Some(u) if ok && u.enabled => {
                ctx.flow.user_id = Some(u.id.clone());
                ctx.event("login", Some(&u.id), json!({ "username": u.username })).await;
                Ok(StepResult::Success)
            }
            Some(u) if ok => {
                ctx.event("login_error", Some(&u.id), json!({ "reason": "user_disabled" }))
                    .await;
                Ok(page(
                    username,
                    Some("This account is disabled. Contact your administrator."),
                ))
            }
            other => {
                let user_id = other.as_ref().map(|u| u.id.as_str());
                ctx.event(
                    "login_error",
                    user_id,
                    json!({ "reason": "invalid_credentials", "username": username }),
                )
                .await;
                Ok(page(username, Some("Invalid username or password.")))
            }
        }
    }
}
