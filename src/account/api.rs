//! The console's JSON face: Keycloak's Account REST API shapes over the same functions the
//! pages use, for a user's access token whose audience includes `account`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::sessions::SessionView;
use super::{AccountError, Viewer, record};
use crate::state::{AppState, RealmRuntime};
use crate::store::{OTP, PASSWORD, ProfileUpdate};

/// Keycloak's `UserRepresentation` as the account API gives it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub id: String,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub attributes: BTreeMap<String, Vec<String>>,
}

pub async fn profile(app: &AppState, viewer: &Viewer) -> Result<Profile, AccountError> {
    let u = &viewer.user;
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in app.store.attributes(&u.id).await? {
        attributes.entry(name).or_default().push(value);
    }
    Ok(Profile {
        id: u.id.clone(),
        username: u.username.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        email: u.email.clone(),
        email_verified: u.email_verified,
        attributes,
    })
}

/// What a client may change of the profile (Keycloak's fields; others, such as `username`, are
/// read-only and ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileChange {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// Updates the viewer's names and email under the same rules as the update-profile page; a
/// new email is unverified. `Err` lists the problems by field (catalog keys).
pub async fn update_profile(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    change: ProfileChange,
) -> Result<Result<(), serde_json::Map<String, Value>>, AccountError> {
    let u = &viewer.user;
    let pick = |new: Option<String>, old: &Option<String>| new.map(|s| s.trim().to_string()).or_else(|| old.clone());
    let email = pick(change.email, &u.email).unwrap_or_default();
    let first = pick(change.first_name, &u.first_name).unwrap_or_default();
    let last = pick(change.last_name, &u.last_name).unwrap_or_default();
    let errors = crate::flow::actions::update_profile::profile_errors(&email, &first, &last);
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let unique = !rt.realm.users.duplicate_emails;
    let outcome = app
        .store
        .update_profile(&u.id, Some(email.clone()), Some(first), Some(last), unique)
        .await?;
    if outcome == ProfileUpdate::EmailTaken {
        let mut errors = serde_json::Map::new();
        errors.insert("email".into(), json!("emailTaken"));
        return Ok(Err(errors));
    }
    let email_changed = u.email.as_deref() != Some(email.as_str());
    record(
        app,
        rt,
        viewer,
        "profile_updated",
        json!({ "email_changed": email_changed }),
    )
    .await;
    if email_changed && !email.is_empty() && app.mailer.settings(&rt.realm).is_some() {
        // The new address is unverified: its verification link goes out at once. A failure
        // costs only the mail (the console offers to send it again).
        let mut changed = viewer.clone();
        changed.user.email = Some(email.clone());
        changed.user.email_verified = false;
        let lang = app.templates.negotiate(&rt.realm.theme, None, None);
        match super::email::send_verification(app, rt, &changed, &lang).await {
            Ok(Ok(())) => {}
            Ok(Err(problem)) => tracing::info!(user = %u.id, %problem, "no verification link for a changed address"),
            Err(e) => tracing::warn!(user = %u.id, error = %e, "could not send a verification link"),
        }
    }
    Ok(Ok(()))
}

/// Keycloak's `SessionRepresentation` (times in Unix seconds).
pub fn session_json(s: &SessionView) -> SessionJson<'_> {
    SessionJson {
        id: &s.id,
        ip_address: s.ip.as_deref(),
        started: s.started,
        last_access: s.last_access,
        expires: s.expires,
        browser: &s.browser,
        os: &s.os,
        device: &s.device,
        mobile: matches!(s.device.as_str(), "mobile" | "tablet"),
        location: s.location.as_deref(),
        current: s.current,
        clients: s
            .clients
            .iter()
            .map(|c| ClientJson {
                client_id: c,
                client_name: c,
            })
            .collect(),
    }
}

/// Keycloak's `SessionRepresentation`, serialized straight from the view (the sessions list
/// is a hot read: no intermediate JSON tree).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionJson<'a> {
    id: &'a str,
    ip_address: Option<&'a str>,
    started: i64,
    last_access: i64,
    expires: i64,
    browser: &'a str,
    os: &'a str,
    device: &'a str,
    mobile: bool,
    location: Option<&'a str>,
    current: bool,
    clients: Vec<ClientJson<'a>>,
}

/// Keycloak's `ClientRepresentation` in a session: we have no display names apart from ids.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ClientJson<'a> {
    client_id: &'a str,
    client_name: &'a str,
}

/// Keycloak's `DeviceRepresentation`s: sessions grouped by browser and system.
pub fn devices_json(sessions: &[SessionView]) -> Vec<Value> {
    let mut groups: BTreeMap<(String, String, String), Vec<&SessionView>> = BTreeMap::new();
    for s in sessions {
        groups
            .entry((s.os.clone(), s.browser.clone(), s.device.clone()))
            .or_default()
            .push(s);
    }
    groups
        .into_iter()
        .map(|((os, browser, device), list)| {
            let newest = list.iter().map(|s| s.last_access).max().unwrap_or_default();
            json!({
                "id": list.first().map(|s| s.id.clone()),
                "os": os,
                "browser": browser,
                "device": device,
                "mobile": matches!(device.as_str(), "mobile" | "tablet"),
                "lastAccess": newest,
                "current": list.iter().any(|s| s.current),
                "ipAddress": list.first().and_then(|s| s.ip.clone()),
                "sessions": list.iter().map(|s| session_json(s)).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Keycloak's credential containers: the password, then the authenticator apps.
pub async fn credentials_json(app: &AppState, viewer: &Viewer) -> Result<Vec<Value>, AccountError> {
    let all = app.store.user_credentials(&viewer.user.id).await?;
    let meta = |kind: &str| -> Vec<Value> {
        all.iter()
            .filter(|c| c.kind == kind)
            .map(|c| {
                json!({ "credential": {
                    "id": c.id, "type": c.kind, "userLabel": c.label, "createdDate": c.created_at * 1000,
                } })
            })
            .collect()
    };
    let mut containers = vec![
        json!({
            "type": PASSWORD, "category": "basic-authentication", "displayName": "Password",
            "removeable": false, "userCredentialMetadatas": meta(PASSWORD),
        }),
        json!({
            "type": OTP, "category": "two-factor", "displayName": "Authenticator application",
            "removeable": true, "userCredentialMetadatas": meta(OTP),
        }),
    ];
    for (kind, category, name) in [
        (crate::webauthn::PASSKEY, "passwordless", "Passkey"),
        (crate::webauthn::SECURITY_KEY, "two-factor", "Security key"),
    ] {
        let keys = meta(kind);
        if !keys.is_empty() {
            containers.push(json!({
                "type": kind, "category": category, "displayName": name,
                "removeable": true, "userCredentialMetadatas": keys,
            }));
        }
    }
    // Listed when on; turned off on the security page (after a fresh sign-in), not here.
    let email_codes = meta(crate::store::EMAIL_OTP);
    if !email_codes.is_empty() {
        containers.push(json!({
            "type": crate::store::EMAIL_OTP, "category": "two-factor", "displayName": "Codes by email",
            "removeable": false, "userCredentialMetadatas": email_codes,
        }));
    }
    let sms_codes = meta(crate::store::SMS_OTP);
    if !sms_codes.is_empty() {
        containers.push(json!({
            "type": crate::store::SMS_OTP, "category": "two-factor", "displayName": "Codes by text message",
            "removeable": false, "userCredentialMetadatas": sms_codes,
        }));
    }
    Ok(containers)
}

/// One line of the security log as the JSON face gives it.
pub fn log_entry_json(e: &super::log::Entry) -> Value {
    json!({
        "time": e.time,
        "type": e.kind,
        "outcome": e.outcome,
        "reason": e.reason,
        "clientId": e.client,
        "ipAddress": e.ip,
        "location": e.location,
        "browser": e.browser,
        "os": e.os,
        "methods": e.methods,
        "secondFactor": e.second_factor,
        "unfamiliar": e.unfamiliar,
    })
}
