//! The user's trusted devices in the console ("Remember this device"): listed with their name,
//! last use and expiry, revoked one at a time or all at once (each revocation logged).

use serde_json::json;

use super::{AccountError, Viewer, record};
use crate::state::{AppState, RealmRuntime};

/// One trusted device as the sessions page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceView {
    pub id: String,
    pub name: String,
    pub created: i64,
    pub last_used: i64,
    pub expires: i64,
}

pub async fn list(app: &AppState, viewer: &Viewer) -> Result<Vec<DeviceView>, AccountError> {
    Ok(app
        .store
        .trusted_devices_of(&viewer.user.id)
        .await?
        .into_iter()
        .map(|d| DeviceView {
            id: d.id,
            name: d.name,
            created: d.created_at,
            last_used: d.last_used_at,
            expires: d.expires_at,
        })
        .collect())
}

/// Revokes the device `id` (or all with `None`); how many were revoked.
pub async fn revoke(app: &AppState, rt: &RealmRuntime, viewer: &Viewer, id: Option<&str>) -> Result<u64, AccountError> {
    let revoked = match id {
        Some(id) => u64::from(app.store.revoke_trusted_device(&viewer.user.id, id).await?),
        None => app.store.revoke_trusted_devices(&viewer.user.id).await?,
    };
    if revoked > 0 {
        let details = json!({ "device": id.unwrap_or("all"), "count": revoked });
        record(app, rt, viewer, "trusted_device_revoked", details).await;
    }
    Ok(revoked)
}
