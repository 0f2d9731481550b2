//! The user's passkeys and security keys: listed, renamed, removed (after a recent sign-in,
//! and never the last way to sign in or, under a second-factor policy, the last second
//! factor). Adding one runs `webauthn-register-passwordless` or `webauthn-register` through
//! `kc_action`, as apps built for Keycloak do.

use serde::Serialize;
use serde_json::{Value, json};

use super::{AccountError, Viewer, record};
use crate::state::{AppState, RealmRuntime};
use crate::store::OtpRemoval;
use crate::webauthn::{PASSKEY, SECURITY_KEY};

/// One passkey or security key of the user's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Key {
    pub id: String,
    /// `webauthn-passwordless` (a passkey) or `webauthn` (a security key).
    pub kind: String,
    pub label: Option<String>,
    /// Unix seconds.
    pub created: i64,
    pub last_used: Option<i64>,
}

pub async fn keys(app: &AppState, viewer: &Viewer) -> Result<Vec<Key>, AccountError> {
    let mut keys = Vec::new();
    for kind in [PASSKEY, SECURITY_KEY] {
        for c in app.store.credentials(&viewer.user.id, kind).await? {
            keys.push(Key {
                id: c.id,
                kind: c.kind,
                label: c.label,
                created: c.created_at,
                last_used: c.last_used_at,
            });
        }
    }
    Ok(keys)
}

/// Removes the viewer's key `id`: `Ok(false)` when they have no such key, the message when it
/// must stay.
pub async fn remove(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    id: &str,
) -> Result<Result<bool, Value>, AccountError> {
    let Some(key) = keys(app, viewer).await?.into_iter().find(|k| k.id == id) else {
        return Ok(Ok(false));
    };
    let keep = super::factors::must_keep_a_second_factor(app, rt, viewer).await?;
    Ok(
        match app
            .store
            .remove_webauthn_key(&viewer.user.id, id, &key.kind, keep)
            .await?
        {
            OtpRemoval::NotFound => Ok(false),
            OtpRemoval::LastKept => Err(Value::from("accountLastKeyKept")),
            OtpRemoval::Removed { .. } => {
                let details = json!({ "type": key.kind, "credential": id });
                record(app, rt, viewer, "credential_removed", details).await;
                // A factor gone (perhaps lost): devices trusted to skip it are forgotten too.
                super::devices::revoke(app, rt, viewer, None).await?;
                Ok(true)
            }
        },
    )
}

/// Names the viewer's key `id`: `Ok(false)` when they have no such key.
pub async fn rename(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    id: &str,
    label: &str,
) -> Result<Result<bool, Value>, AccountError> {
    let label = label.trim();
    if label.chars().count() > 64 || crate::realm::usernames::has_hidden_characters(label) {
        return Ok(Err(Value::from("otpLabelTooLong")));
    }
    let label = (!label.is_empty()).then(|| label.to_string());
    if !app.store.set_webauthn_label(&viewer.user.id, id, label).await? {
        return Ok(Ok(false));
    }
    record(app, rt, viewer, "credential_renamed", json!({ "credential": id })).await;
    Ok(Ok(true))
}
