//! Changing (or, for a user who has none, setting) one's own password from the console: the
//! current password, the realm's policy, and then, by default, every other session signed out.

use serde_json::{Value, json};

use super::{AccountError, Viewer, record};
use crate::flow::actions::update_password;
use crate::state::{AppState, RealmRuntime};

/// What the person typed (Keycloak's field names: `password`, `password-new`,
/// `password-confirm`).
#[derive(Debug, Clone, Default)]
pub struct PasswordForm {
    pub current: String,
    pub new: String,
    pub confirm: String,
    /// End every other session of the user (checked by default on the page).
    pub sign_out_others: bool,
}

/// Why a change was refused: the field the message belongs to, and the message (a catalog key,
/// or `{key, args}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub field: &'static str,
    pub message: Value,
}

impl Refusal {
    fn at(field: &'static str, message: Value) -> Refusal {
        Refusal { field, message }
    }
}

/// Changes the viewer's password when the form holds: the current one right (unless they
/// have none yet), the new one twice and within the realm's policy. One transaction replaces it
/// and, if asked, ends the user's other sessions and revokes their tokens.
pub async fn change(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    form: &PasswordForm,
) -> Result<Result<(), Refusal>, AccountError> {
    let user_id = &viewer.user.id;
    let policy = &rt.realm.password_policy;
    let stored = app.store.password_hash(user_id).await?;
    if stored.is_some() {
        if form.current.is_empty() {
            return Ok(Err(Refusal::at("password", Value::from("missingPassword"))));
        }
        if form.current.len() > crate::flow::authenticators::MAX_PASSWORD_BYTES {
            return Ok(Err(Refusal::at("password", Value::from("passwordTooLong"))));
        }
        // Each check costs a hash: the address's sign-in budget pays for it.
        if let Some(ip) = &viewer.origin.ip
            && !app.sign_in_budget.spend(ip, crate::store::now())
        {
            return Ok(Err(Refusal::at("password", Value::from("tooManyAttempts"))));
        }
        if !app.hasher.verify(&form.current, stored.as_deref()).await? {
            record(
                app,
                rt,
                viewer,
                "password_change_refused",
                json!({ "reason": "wrong current password" }),
            )
            .await;
            return Ok(Err(Refusal::at("password", Value::from("currentPasswordWrong"))));
        }
    }
    if form.new.is_empty() {
        return Ok(Err(Refusal::at("password-new", Value::from("missingNewPassword"))));
    }
    if let Some(problem) = update_password::violation(policy, &viewer.user.username, &form.new) {
        return Ok(Err(Refusal::at("password-new", problem)));
    }
    if form.new != form.confirm {
        return Ok(Err(Refusal::at("password-confirm", Value::from("passwordMismatch"))));
    }
    if update_password::recently_used(&app.store, &app.hasher, user_id, &form.new, policy.history).await? {
        let recent = json!({ "key": "passwordRecentlyUsed", "args": { "count": policy.history } });
        return Ok(Err(Refusal::at("password-new", recent)));
    }
    let hash = app.hasher.hash(&form.new).await?;
    let keep = viewer.session_id();
    app.store
        .change_password(user_id, hash, policy.history, keep, form.sign_out_others)
        .await?;
    let details = json!({ "signed_out_other_sessions": form.sign_out_others });
    record(app, rt, viewer, "password_changed", details).await;
    let lang = app.templates.negotiate(&rt.realm.theme, None, None);
    let origin = &viewer.origin;
    crate::mail::notify_password_changed(
        app.mail(),
        &rt.realm,
        &viewer.user,
        &lang,
        origin.ip.as_deref(),
        origin.user_agent.as_deref(),
    )
    .await;
    Ok(Ok(()))
}

/// Removes the viewer's password, leaving their passkeys as the way to sign in (a passkey-only
/// account, which can set a password again later); refused without a passkey.
pub async fn remove(app: &AppState, rt: &RealmRuntime, viewer: &Viewer) -> Result<Result<(), Value>, AccountError> {
    if !app.store.remove_password(&viewer.user.id).await? {
        return Ok(Err(Value::from("accountPasswordKeptWithoutPasskey")));
    }
    record(app, rt, viewer, "password_removed", json!({})).await;
    Ok(Ok(()))
}
