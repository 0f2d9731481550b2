//! The authenticator registry. Each authenticator is one file implementing [`Authenticator`];
//! adding one is a new file plus one line in [`ALL`].

mod cookie;
mod deny_access;
mod direct_grant;
pub mod identity_provider;
pub mod magic_link;
mod otp_form;
mod passkey;
mod password_form;
mod recovery_code_form;
pub mod reset_credentials;
mod sent_code_form;
mod username_form;
mod username_password_form;
mod webauthn_form;

use std::collections::HashMap;

use serde_json::Value;

use super::{EngineError, FlowContext, Services, StepResult, brute_force};

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
    /// Where it can run: on pages of a browser sign-in, or on a token request's parameters.
    fn runs(&self) -> Runs {
        Runs::Browser
    }
    /// Refuses settings it does not understand (checked by `flow check`).
    fn check_config(&self, config: &Value) -> Result<(), String> {
        crate::flow::step::check_keys(config, &[], &[])
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

/// Where an authenticator can run (a flow uses one kind, see `flow::model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// In a browser sign-in, on pages.
    Browser,
    /// In a direct grant, on the token request's parameters.
    DirectGrant,
    /// In either.
    Anywhere,
}

static ALL: &[&dyn Authenticator] = &[
    &cookie::Cookie,
    &username_password_form::UsernamePasswordForm,
    &username_form::UsernameForm,
    &password_form::PasswordForm,
    &otp_form::OtpForm,
    &recovery_code_form::RecoveryCodeForm,
    &deny_access::DenyAccess,
    &direct_grant::ValidateUsername,
    &direct_grant::ValidatePassword,
    &direct_grant::ValidateOtp,
    &sent_code_form::SentCodeForm::Email,
    &sent_code_form::SentCodeForm::Sms,
    &magic_link::MagicLink,
    &passkey::PasskeyForm,
    &identity_provider::IdentityProvider,
    &identity_provider::Redirector,
    &webauthn_form::WebauthnForm,
    &reset_credentials::ChooseUser,
    &reset_credentials::EmailLink,
    &reset_credentials::ResetPassword,
];

pub use otp_form::otp_context;
pub use recovery_code_form::normalize as normalize_recovery_code;
pub use sent_code_form::new_code;

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
    // Bounded before anything is looked up, hashed or logged.
    if let Some(problem) = input_too_long(username, password) {
        return Ok(Err(super::message(problem)));
    }
    let services = ctx.services;
    let user = services.store.find_user_by_username(&ctx.realm.name, username).await?;
    let user_id = user.as_ref().map(|u| u.id.clone());
    let subject = brute_force::user_subject(user_id.as_deref(), username);
    let attempt = match brute_force::begin(ctx, subject).await? {
        Ok(attempt) => attempt,
        Err(refusal) => return Ok(Err(refused(ctx, user_id.as_deref(), refusal).await)),
    };
    let stored = match &user {
        Some(u) => services.store.password_hash(&u.id).await?,
        None => None,
    };
    let ok = services.hasher.verify(password, stored.as_deref()).await?;
    match user {
        Some(u) if ok && u.enabled => {
            if let Err(refusal) = attempt.succeeded().await? {
                return Ok(Err(refused(ctx, Some(&u.id), refusal).await));
            }
            rehash_if_needed(services, &u.id, stored.as_deref(), password).await;
            ctx.flow.user_id = Some(u.id.clone());
            ctx.flow.username = Some(u.username.clone());
            ctx.flow.add_amr("pwd");
            Ok(Ok(()))
        }
        Some(u) if ok => disabled_user(ctx, attempt, &u.id).await,
        _ => wrong_credentials(ctx, attempt, user_id.as_deref()).await,
    }
}

/// After a successful check: a stored hash that needs it (an imported (Keycloak) hash or
/// older parameters) is hashed anew while the password is at hand.
async fn rehash_if_needed(services: Services<'_>, user_id: &str, stored: Option<&str>, password: &str) {
    if let Some(old) = stored
        && services.hasher.needs_rehash(old)
    {
        // A failure here costs only the upgrade, never the sign-in.
        let rehashed = match services.hasher.hash(password).await {
            Ok(new) => services
                .store
                .rehash_password(user_id, old, new)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = rehashed {
            tracing::warn!(user = %user_id, error = %crate::ops::logging::untrusted(&e), "could not rehash a password");
        }
    }
}

/// The right password for a disabled user: the attempt does not count against them.
async fn disabled_user(
    ctx: &FlowContext<'_>,
    attempt: brute_force::Attempt,
    user_id: &str,
) -> Result<Result<(), Value>, EngineError> {
    if let Err(refusal) = attempt.release().await? {
        return Ok(Err(refused(ctx, Some(user_id), refusal).await));
    }
    ctx.event(
        "login_error",
        Some(user_id),
        serde_json::json!({ "reason": "user_disabled" }),
    )
    .await;
    Ok(Err(super::message("accountDisabled")))
}

/// A wrong password or an unknown user: a failure counted, which may lock the user out.
async fn wrong_credentials(
    ctx: &FlowContext<'_>,
    attempt: brute_force::Attempt,
    user_id: Option<&str>,
) -> Result<Result<(), Value>, EngineError> {
    let locked = attempt.failed().await?;
    let reason = if locked.is_some() {
        "invalid_credentials_locked"
    } else {
        "invalid_credentials"
    };
    ctx.event("login_error", user_id, serde_json::json!({ "reason": reason }))
        .await;
    Ok(Err(match locked {
        Some(refusal) => refusal.message(),
        None => super::message("invalidCredentials"),
    }))
}

pub use crate::flow::password::MAX_PASSWORD_BYTES;
pub(crate) use crate::flow::password::input_too_long;

/// An attempt refused by the lockout: logged once per lockout window, answered with the
/// lockout message.
async fn refused(ctx: &FlowContext<'_>, user_id: Option<&str>, refusal: brute_force::Refusal) -> Value {
    if refusal.first {
        ctx.event("login_error", user_id, serde_json::json!({ "reason": "locked_out" }))
            .await;
    }
    refusal.message()
}

/// Reserves an attempt at the (known) user's second factor; the refusal's message if locked.
pub(crate) async fn begin_second_factor(
    ctx: &FlowContext<'_>,
) -> Result<Result<brute_force::Attempt, Value>, EngineError> {
    let user_id = ctx.flow.user_id.clone().unwrap_or_default();
    let subject = brute_force::second_factor_subject(&user_id);
    Ok(match brute_force::begin(ctx, subject).await? {
        Ok(attempt) => Ok(attempt),
        Err(refusal) => Err(refused(ctx, Some(&user_id), refusal).await),
    })
}

/// A second factor was right: accepted unless a lockout began while it was checked.
pub(crate) async fn second_factor_succeeded(
    ctx: &FlowContext<'_>,
    attempt: brute_force::Attempt,
) -> Result<Result<(), Value>, EngineError> {
    let user_id = ctx.flow.user_id.clone();
    Ok(match attempt.succeeded().await? {
        Ok(()) => Ok(()),
        Err(refusal) => Err(refused(ctx, user_id.as_deref(), refusal).await),
    })
}

/// Counts a failed second factor against the (known) user, locking out as for passwords.
pub(crate) async fn second_factor_failed(
    ctx: &FlowContext<'_>,
    attempt: brute_force::Attempt,
    reason: &str,
) -> Result<Option<Value>, EngineError> {
    let locked = attempt.failed().await?;
    let user_id = ctx.flow.user_id.clone();
    ctx.event(
        "login_error",
        user_id.as_deref(),
        serde_json::json!({ "reason": reason }),
    )
    .await;
    Ok(locked.map(|r| r.message()))
}

/// A second factor just succeeded: "Remember this device" ticked on its page (field
/// `remember-device`) is kept for the end of the sign-in, where the device is recorded.
pub(super) fn note_remember_device(ctx: &mut FlowContext<'_>, form: &HashMap<String, String>) {
    if ctx.realm.trusted_devices.enabled && form.get("remember-device").is_some_and(|v| v == "on") {
        ctx.flow.remember_device = true;
    }
}

/// The user's passkeys or security keys (`kind`): the stored rows, and the keys as the relying
/// party takes them (row id, parsed).
pub(super) async fn webauthn_keys(
    ctx: &FlowContext<'_>,
    user_id: &str,
    kind: &str,
) -> Result<
    (
        Vec<crate::store::entity::credential::Model>,
        Vec<(String, crate::webauthn::StoredKey)>,
    ),
    EngineError,
> {
    let rows = ctx.services.store.credentials(user_id, kind).await?;
    let keys = rows
        .iter()
        .filter_map(|c| crate::webauthn::stored(&c.secret).map(|k| (c.id.clone(), k)))
        .collect();
    Ok((rows, keys))
}

/// Records a passed key check against the stored row it was made on (`rows`, as
/// [`webauthn_keys`] read them). A key changed meanwhile means two signatures raced on one
/// counter, which a single authenticator cannot do: refused as a clone.
pub(super) async fn record_key_use(
    ctx: &FlowContext<'_>,
    rows: &[crate::store::entity::credential::Model],
    checked: Result<crate::webauthn::SignedIn, crate::webauthn::PasskeyError>,
) -> Result<Result<(), crate::webauthn::PasskeyError>, EngineError> {
    let done = match checked {
        Ok(done) => done,
        Err(e) => return Ok(Err(e)),
    };
    let previous = rows
        .iter()
        .find(|c| c.id == done.credential_id)
        .map(|c| c.secret.as_str())
        .unwrap_or_default();
    let recorded = ctx
        .services
        .store
        .used_webauthn_key(&done.credential_id, previous, done.updated)
        .await?;
    Ok(if recorded {
        Ok(())
    } else {
        Err(crate::webauthn::PasskeyError::PossibleClone)
    })
}
