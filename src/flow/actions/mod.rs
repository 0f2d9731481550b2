//! Required actions: what a user must do after the flow succeeds and before the code is
//! issued. Each is one file implementing [`RequiredAction`]; [`ORDER`] is the stable order in
//! which pending actions run.

pub mod configure_otp;
pub mod delete_credential;
mod terms;
pub mod update_password;
pub mod update_profile;
pub mod verify_email;
mod webauthn_register;

use std::collections::HashMap;

use super::{EngineError, FlowContext, Page};

pub use configure_otp::RECOVERY_CODE_COUNT;
/// The password policy check, for administrators' resets too.
pub use update_password::violation as password_policy_violation;

/// What submitting an action's page led to.
#[derive(Debug)]
pub enum ActionResult {
    /// Done; it has been removed from the user's pending actions.
    Done,
    /// Show (another) page of the action.
    Page(Page),
    /// The user refused (e.g. declined the terms): the sign-in ends with this message.
    Refused(String),
    /// The user declined to set up what an organization's app requires: the sign-in ends with
    /// a page saying so, then `access_denied` to the app.
    Declined,
}

#[async_trait::async_trait]
pub trait RequiredAction: Send + Sync {
    fn name(&self) -> &'static str;
    /// Whether the action is done already (e.g. the address was verified through a link
    /// opened elsewhere); it is then completed without a page.
    async fn satisfied(&self, _ctx: &FlowContext<'_>) -> Result<bool, EngineError> {
        Ok(false)
    }
    /// The page to show when the action starts (or is shown again).
    async fn page(&self, ctx: &mut FlowContext<'_>) -> Result<Page, EngineError>;
    async fn submit(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<ActionResult, EngineError>;
}

static ORDER: &[&dyn RequiredAction] = &[
    &terms::Terms,
    &update_password::UpdatePassword,
    &update_profile::UpdateProfile,
    &verify_email::VerifyEmail,
    &configure_otp::ConfigureOtp,
    &webauthn_register::WebauthnRegister::Passkey,
    &webauthn_register::WebauthnRegister::SecurityKey,
];

/// Actions only an app starts (`kc_action`), never assigned to a user; they run after the
/// assigned ones.
static APP_ONLY: &[&dyn RequiredAction] = &[&delete_credential::DeleteCredential];

pub fn find(name: &str) -> Option<&'static dyn RequiredAction> {
    ORDER.iter().chain(APP_ONLY).copied().find(|a| a.name() == name)
}

/// The action an app asks for with `kc_action`, as the sign-in keeps it: a required action the
/// realm enables, by Gatehouse's name or Keycloak's alias; or `delete-credential:{id}`
/// (Keycloak's `delete_credential:{id}`). `None` for anything else.
pub fn app_initiated(name: &str, realm: &crate::realm::Realm) -> Option<String> {
    let credential = name
        .strip_prefix("delete_credential:")
        .or_else(|| name.strip_prefix("delete-credential:"));
    if let Some(id) = credential {
        let safe = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        return safe.then(|| format!("{}:{id}", delete_credential::NAME));
    }
    canonical(name)
        .filter(|a| realm.is_required_action_enabled(a))
        .map(str::to_string)
}

/// An app-initiated action's name, without its argument (`delete-credential:{id}`).
pub fn action_name(kc_action: &str) -> &str {
    kc_action.split_once(':').map_or(kc_action, |(name, _)| name)
}

/// Keycloak's names of the actions (`kc_action`, its admin API), beside Gatehouse's own.
const KEYCLOAK_ALIASES: &[(&str, &str)] = &[
    ("CONFIGURE_TOTP", "configure-otp"),
    ("UPDATE_PASSWORD", "update-password"),
    ("UPDATE_PROFILE", "update-profile"),
    ("TERMS_AND_CONDITIONS", "terms-and-conditions"),
    ("VERIFY_EMAIL", "verify-email"),
    ("WEBAUTHN_REGISTER", "webauthn-register"),
    ("WEBAUTHN_REGISTER_PASSWORDLESS", "webauthn-register-passwordless"),
];

/// The action `name` stands for, under Gatehouse's name or Keycloak's alias.
pub fn canonical(name: &str) -> Option<&'static str> {
    KEYCLOAK_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map(|(_, ours)| *ours)
        .or_else(|| find(name).map(|a| a.name()))
}

pub fn names() -> Vec<&'static str> {
    ORDER.iter().map(|a| a.name()).collect()
}

/// The next action the user must complete: the one in progress, else the first pending one
/// (from the store, and added by the flow) in [`ORDER`], among those the realm enables.
pub async fn next(ctx: &FlowContext<'_>) -> Result<Option<&'static dyn RequiredAction>, EngineError> {
    if let Some(current) = ctx.flow.action.as_deref().and_then(find) {
        return Ok(Some(current));
    }
    let Some(user_id) = ctx.flow.user_id.as_deref() else {
        return Ok(None);
    };
    let mut pending = ctx.services.store.required_actions(user_id).await?;
    pending.extend(ctx.flow.extra_actions.iter().cloned());
    let assigned = ORDER
        .iter()
        .copied()
        .find(|a| pending.iter().any(|p| p == a.name()) && ctx.realm.is_required_action_enabled(a.name()));
    Ok(assigned.or_else(|| {
        APP_ONLY
            .iter()
            .copied()
            .find(|a| ctx.flow.extra_actions.iter().any(|p| p == a.name()))
    }))
}
