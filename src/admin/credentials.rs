//! A user's credentials as administrators see them: reset the password (optionally
//! temporary), list credentials (kind and dates, never a secret) and remove one, e.g. a lost
//! OTP device.

use serde_json::json;

use super::users::{find, user_in_realm};
use super::{Actor, AdminError, record};
use crate::state::AppState;
use crate::store::{OTP, PASSWORD, RECOVERY_CODE, RECOVERY_CODES_ID};

/// One credential, as listed (all recovery codes together as one entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    pub id: String,
    /// `password`, `otp` or `recovery-code`.
    pub kind: String,
    pub label: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// For recovery codes: how many are left.
    pub remaining: Option<usize>,
}

/// Sets a user's password as `actor`, under the realm's password policy and history. A
/// temporary password makes the user choose a new one at the next sign-in.
pub async fn reset_password(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    password: &str,
    temporary: bool,
) -> Result<(), AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let user = user_in_realm(app, realm, id).await?;
    if password.is_empty() {
        return Err(AdminError::Invalid("the password is empty".into()));
    }
    if temporary && !rt.realm.is_required_action_enabled("update-password") {
        return Err(AdminError::Invalid(format!(
            "a temporary password needs the update-password required action, which realm '{realm}' does not enable"
        )));
    }
    let policy = &rt.realm.password_policy;
    if let Some(problem) = crate::flow::actions::password_policy_violation(policy, &user.username, password) {
        return Err(AdminError::Invalid(app.templates.message_text(
            &rt.realm.theme,
            "en",
            &problem,
        )));
    }
    if policy.history > 0 {
        // The current password and the remembered ones, `history` in all (as the
        // update-password action counts them).
        let mut previous: Vec<String> = app.store.password_hash(&user.id).await?.into_iter().collect();
        previous.extend(
            app.store
                .password_history(&user.id)
                .await?
                .into_iter()
                .take(policy.history.saturating_sub(1)),
        );
        for old in previous {
            if app.hasher.verify(password, Some(&old)).await? {
                let recent = json!({ "key": "passwordRecentlyUsed", "args": { "count": policy.history } });
                return Err(AdminError::Invalid(app.templates.message_text(
                    &rt.realm.theme,
                    "en",
                    &recent,
                )));
            }
        }
    }
    let hash = app.hasher.hash(password).await?;
    app.store
        .reset_password(&user.id, hash, policy.history, temporary)
        .await?;
    record(
        app,
        actor,
        realm,
        "password_reset",
        Some(&user.id),
        json!({ "username": user.username, "temporary": temporary }),
    )
    .await;
    Ok(())
}

/// `gatehouse user set-password`: a permanent reset by the command line.
pub async fn set_password(app: &AppState, realm: &str, username: &str, password: &str) -> Result<(), AdminError> {
    let user = find(app, realm, username).await?;
    reset_password(app, &Actor::cli(), realm, &user.id, password, false).await
}

/// A user's credentials, oldest first: never a secret.
pub async fn list_credentials(app: &AppState, realm: &str, id: &str) -> Result<Vec<CredentialInfo>, AdminError> {
    let user = user_in_realm(app, realm, id).await?;
    let mut out = Vec::new();
    let mut codes: Option<CredentialInfo> = None;
    for c in app.store.user_credentials(&user.id).await? {
        match c.kind.as_str() {
            RECOVERY_CODE => {
                let entry = codes.get_or_insert_with(|| CredentialInfo {
                    id: RECOVERY_CODES_ID.into(),
                    kind: RECOVERY_CODE.into(),
                    label: None,
                    created_at: c.created_at,
                    last_used_at: None,
                    remaining: Some(0),
                });
                entry.remaining = entry.remaining.map(|n| n + 1);
                entry.created_at = entry.created_at.min(c.created_at);
                entry.last_used_at = entry.last_used_at.max(c.last_used_at);
            }
            kind => {
                // Sign-ins record when a password was last used on the session, not on the
                // credential.
                let last_used_at = if kind == PASSWORD {
                    app.store.last_password_sign_in(&user.id).await?
                } else {
                    c.last_used_at
                };
                out.push(CredentialInfo {
                    id: c.id,
                    kind: c.kind,
                    label: c.label,
                    created_at: c.created_at,
                    last_used_at,
                    remaining: None,
                });
            }
        }
    }
    // Keycloak's order: the password first, then second factors, each oldest first.
    out.sort_by_key(|c| (c.kind != PASSWORD, c.created_at));
    out.extend(codes);
    Ok(out)
}

/// Removes one credential as `actor` (`recovery-codes` removes all recovery codes; removing
/// the last OTP device removes them too).
pub async fn delete_credential(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    credential_id: &str,
) -> Result<(), AdminError> {
    let user = user_in_realm(app, realm, id).await?;
    let kind = app
        .store
        .delete_credential(&user.id, credential_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("credential '{credential_id}' of user '{id}'")))?;
    let mut details = json!({ "username": user.username, "type": kind, "id": credential_id });
    if kind == OTP && !app.store.has_credential(&user.id, OTP).await? {
        details["recoveryCodesRemoved"] = json!(true);
    }
    record(app, actor, realm, "credential_removed", Some(&user.id), details).await;
    Ok(())
}

/// [`delete_credential`] for the command line, naming the user by username or id.
pub async fn delete_credential_of(
    app: &AppState,
    realm: &str,
    user: &str,
    credential_id: &str,
) -> Result<(), AdminError> {
    let user = super::users::resolve_user(app, realm, user).await?;
    delete_credential(app, &Actor::cli(), realm, &user.id, credential_id).await
}
