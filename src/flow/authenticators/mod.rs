//! The authenticator registry. Each authenticator is one file implementing [`Authenticator`];
//! adding one is a new file plus one line in [`ALL`].

mod cookie;
mod deny_access;
mod otp_form;
mod password_form;
mod recovery_code_form;
mod username_form;
mod username_password_form;

use std::collections::HashMap;

use serde_json::Value;

use super::{EngineError, FlowContext, StepResult};

#[async_trait::async_trait]
pub trait Authenticator: Send + Sync {
    /// The name flow files use.
    fn name(&self) -> &'static str;
    /// RFC 8176 method reference this authenticator contributes, if any.
    fn amr(&self) -> Option<&'static str> {
        None
    }
    /// Whether success tells who the user is.
    fn identifies_user(&self) -> bool {
        false
    }
    /// Whether it can only run once the user is known.
    fn needs_user(&self) -> bool {
        false
    }
    /// The credential kind the user must have for it (read by `user-configured`).
    fn credential_kind(&self) -> Option<&'static str> {
        None
    }
    /// Refuses settings it does not understand (checked by `flow check`).
    fn check_config(&self, config: &Value) -> Result<(), String> {
        super::conditions::check_keys(config, &[], &[])
    }
    /// Called when the flow reaches this step: decide at once, or show a page.
    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError>;
    /// Called with the form the page posted back.
    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError>;
}

static ALL: &[&dyn Authenticator] = &[
    &cookie::Cookie,
    &username_password_form::UsernamePasswordForm,
    &username_form::UsernameForm,
    &password_form::PasswordForm,
    &otp_form::OtpForm,
    &recovery_code_form::RecoveryCodeForm,
    &deny_access::DenyAccess,
];

pub use otp_form::otp_context;
pub use recovery_code_form::normalize as normalize_recovery_code;

pub fn find(name: &str) -> Option<&'static dyn Authenticator> {
    ALL.iter().copied().find(|a| a.name() == name)
}

pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|a| a.name()).collect()
}

/// Checks a password for the named user, with brute-force protection. On success the user
/// is identified in the flow state. Returns the error message to show on failure.
pub(crate) async fn check_password(
    ctx: &mut FlowContext<'_>,
    username: &str,
    password: &str,
) -> Result<Result<(), Value>, EngineError> {
    let wait = super::brute_force::wait_secs(ctx, username).await?;
    if wait > 0 {
        ctx.event(
            "login_error",
            None,
            serde_json::json!({ "reason": "locked_out", "username": username }),
        )
        .await;
        return Ok(Err(super::brute_force::locked_message(wait)));
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
            super::brute_force::succeed(ctx, username).await?;
            ctx.flow.user_id = Some(u.id.clone());
            ctx.flow.username = Some(u.username.clone());
            ctx.flow.add_amr("pwd");
            Ok(Ok(()))
        }
        Some(u) if ok => {
            ctx.event(
                "login_error",
                Some(&u.id),
                serde_json::json!({ "reason": "user_disabled" }),
            )
            .await;
            Ok(Err(super::message("accountDisabled")))
        }
        other => {
            let locked = super::brute_force::fail(ctx, username).await?;
            let user_id = other.as_ref().map(|u| u.id.clone());
            let reason = if locked > 0 {
                "invalid_credentials_locked"
            } else {
                "invalid_credentials"
            };
            ctx.event(
                "login_error",
                user_id.as_deref(),
                serde_json::json!({ "reason": reason }),
            )
            .await;
            if locked > 0 {
                return Ok(Err(super::brute_force::locked_message(locked)));
            }
            Ok(Err(super::message("invalidCredentials")))
        }
    }
}

/// Counts a failed second factor against the (known) user, locking out as for passwords.
pub(crate) async fn second_factor_failed(
    ctx: &mut FlowContext<'_>,
    reason: &str,
) -> Result<Option<Value>, EngineError> {
    let username = ctx.flow.username.clone().unwrap_or_default();
    let locked = super::brute_force::fail(ctx, &username).await?;
    let user_id = ctx.flow.user_id.clone();
    ctx.event(
        "login_error",
        user_id.as_deref(),
        serde_json::json!({ "reason": reason }),
    )
    .await;
    Ok((locked > 0).then(|| super::brute_force::locked_message(locked)))
}
