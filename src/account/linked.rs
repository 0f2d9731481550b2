//! "Linked accounts": the upstream sign-in providers of the realm, which of them stand for the
//! user, linking another (through `login::broker`, after a fresh sign-in) and unlinking one —
//! never the last way the user has to sign in.

use serde::Serialize;
use serde_json::json;

use super::{AccountError, Viewer, record};
use crate::state::{AppState, RealmRuntime};

/// One provider as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderView {
    pub alias: String,
    pub label: String,
    /// The upstream account linked, if any.
    pub linked: Option<LinkedView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkedView {
    pub upstream_username: Option<String>,
    pub email: Option<String>,
    pub since: i64,
}

pub async fn list(app: &AppState, rt: &RealmRuntime, viewer: &Viewer) -> Result<Vec<ProviderView>, AccountError> {
    let links = app.store.federated_identities(&viewer.user.id).await?;
    Ok(rt
        .realm
        .identity_providers
        .iter()
        .map(|p| ProviderView {
            alias: p.alias.clone(),
            label: p.label().to_string(),
            linked: links.iter().find(|l| l.provider == p.alias).map(|l| LinkedView {
                upstream_username: l.upstream_username.clone(),
                email: l.email.clone(),
                since: l.created_at,
            }),
        })
        .collect())
}

/// Why an account was not unlinked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlinkRefusal {
    NotLinked,
    /// It is the user's last way to sign in: no password, no passkey, no other linked account.
    LastWay,
}

pub async fn unlink(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    alias: &str,
) -> Result<Result<(), UnlinkRefusal>, AccountError> {
    let user_id = &viewer.user.id;
    let links = app.store.federated_identities(user_id).await?;
    if !links.iter().any(|l| l.provider == alias) {
        return Ok(Err(UnlinkRefusal::NotLinked));
    }
    let other_link = links.iter().any(|l| l.provider != alias);
    let password = app.store.has_credential(user_id, crate::store::PASSWORD).await?;
    let passkey = app.store.has_credential(user_id, crate::webauthn::PASSKEY).await?;
    if !other_link && !password && !passkey {
        return Ok(Err(UnlinkRefusal::LastWay));
    }
    if !app.store.unlink_identity(user_id, alias).await? {
        return Ok(Err(UnlinkRefusal::NotLinked));
    }
    record(
        app,
        rt,
        viewer,
        "identity_provider_unlinked",
        json!({ "provider": alias }),
    )
    .await;
    Ok(Ok(()))
}
