//! The user's second factors: their authenticator apps, each named, each removable with the
//! password and a current code (so a stolen session alone cannot turn two-factor off).
//! Adding one runs the `configure-otp` action through `kc_action`, as apps built for Keycloak do.

use serde::Serialize;
use serde_json::{Value, json};

use super::{AccountError, Viewer, record};
use crate::crypto::totp;
use crate::flow::authenticators::otp_context;
use crate::state::{AppState, RealmRuntime};
use crate::store::{OTP, OtpRemoval};

/// One authenticator app of the user's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtpDevice {
    pub id: String,
    pub label: Option<String>,
    /// Unix seconds.
    pub created: i64,
    pub last_used: Option<i64>,
}

pub async fn otp_devices(app: &AppState, viewer: &Viewer) -> Result<Vec<OtpDevice>, AccountError> {
    Ok(app
        .store
        .credentials(&viewer.user.id, OTP)
        .await?
        .into_iter()
        .map(|c| OtpDevice {
            id: c.id,
            label: c.label,
            created: c.created_at,
            last_used: c.last_used_at,
        })
        .collect())
}

/// New recovery codes for the viewer (the old ones stop working at once), to be shown once;
/// `None` when they have no authenticator app the codes would stand in for.
pub async fn regenerate_recovery_codes(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
) -> Result<Option<Vec<String>>, AccountError> {
    let (codes, hashes) = crate::flow::actions::configure_otp::recovery_codes();
    if !app.store.replace_recovery_codes(&viewer.user.id, hashes).await? {
        return Ok(None);
    }
    record(
        app,
        rt,
        viewer,
        "recovery_codes_regenerated",
        json!({ "count": codes.len() }),
    )
    .await;
    Ok(Some(codes))
}

/// Removes the authenticator app `device` for a bearer of a recent access token (the JSON face);
/// false when the viewer has no such app.
pub async fn remove_otp_by_token(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    device: &str,
) -> Result<bool, AccountError> {
    let keep_one = must_keep_a_second_factor(app, rt, viewer).await?;
    let others = app.flows.second_factors_besides_apps(&rt.realm);
    match app.store.remove_otp(&viewer.user.id, device, keep_one, &others).await? {
        OtpRemoval::NotFound => Ok(false),
        OtpRemoval::LastKept => Err(AccountError::LastFactor),
        OtpRemoval::Removed { last } => {
            let details = json!({ "type": "otp", "credential": device, "last": last });
            record(app, rt, viewer, "credential_removed", details).await;
            super::devices::revoke(app, rt, viewer, None).await?;
            Ok(true)
        }
    }
}

/// Renames the viewer's authenticator app `device` (Keycloak's `PUT /credentials/{id}/label`):
/// `Ok(false)` when they have no such app, `Err` for a name the realm refuses.
pub async fn rename_otp(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    device: &str,
    label: &str,
) -> Result<Result<bool, &'static str>, AccountError> {
    let label = label.trim();
    if label.chars().count() > 64 || crate::realm::usernames::has_hidden_characters(label) {
        return Ok(Err("otpLabelTooLong"));
    }
    let label = (!label.is_empty()).then(|| label.to_string());
    if !app.store.set_otp_label(&viewer.user.id, device, label).await? {
        return Ok(Ok(false));
    }
    record(
        app,
        rt,
        viewer,
        "credential_renamed",
        json!({ "type": "otp", "credential": device }),
    )
    .await;
    Ok(Ok(true))
}

/// Whether the realm makes the viewer keep a second factor (`account.required_second_factor`,
/// or a role of theirs in `account.second_factor_roles`).
pub async fn must_keep_a_second_factor(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
) -> Result<bool, AccountError> {
    let policy = &rt.realm.account;
    if policy.required_second_factor {
        return Ok(true);
    }
    if policy.second_factor_roles.is_empty() {
        return Ok(false);
    }
    let roles = app.store.roles(&viewer.user.id).await?;
    Ok(policy.requires_second_factor(&roles))
}

/// Why a removal was refused: the field the message belongs to, and a catalog key.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub field: &'static str,
    pub message: Value,
}

impl Refusal {
    fn at(field: &'static str, key: &str) -> Refusal {
        Refusal {
            field,
            message: Value::from(key),
        }
    }
}

/// Removes the authenticator app `device` of the viewer when `password` is theirs (if they have
/// one) and `code` is a current code of that same app, never used before. Removing the last
/// app also removes the recovery codes, which only stand in for it.
pub async fn remove_otp(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    device: &str,
    password: &str,
    code: &str,
) -> Result<Result<(), Refusal>, AccountError> {
    let user_id = &viewer.user.id;
    let devices = app.store.credentials(user_id, OTP).await?;
    let Some(found) = devices.iter().find(|d| d.id == device) else {
        return Ok(Err(Refusal::at("device", "accountNoSuchDevice")));
    };
    let keep_one = must_keep_a_second_factor(app, rt, viewer).await?;
    let others = app.flows.second_factors_besides_apps(&rt.realm);
    let mut another_factor = false;
    for kind in &others {
        another_factor |= app.store.has_credential(user_id, kind).await?;
    }
    if devices.len() == 1 && keep_one && !another_factor {
        return Ok(Err(Refusal::at("device", "accountLastFactorRequired")));
    }
    if let Err(refusal) = check_password(app, rt, viewer, password).await? {
        return Ok(Err(refusal));
    }
    if let Err(refusal) = check_code(app, rt, viewer, found, code).await? {
        return Ok(Err(refusal));
    }
    // Checked again with the user's row locked: another removal may have run meanwhile.
    Ok(
        match app.store.remove_otp(user_id, &found.id, keep_one, &others).await? {
            OtpRemoval::NotFound => Err(Refusal::at("device", "accountNoSuchDevice")),
            OtpRemoval::LastKept => Err(Refusal::at("device", "accountLastFactorRequired")),
            OtpRemoval::Removed { last } => {
                let details = json!({ "type": "otp", "credential": found.id, "last": last });
                record(app, rt, viewer, "credential_removed", details).await;
                super::devices::revoke(app, rt, viewer, None).await?;
                Ok(())
            }
        },
    )
}

/// The viewer's current password (when they have one), within the address's attempt budget.
async fn check_password(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    password: &str,
) -> Result<Result<(), Refusal>, AccountError> {
    if password.len() > crate::flow::authenticators::MAX_PASSWORD_BYTES {
        return Ok(Err(Refusal::at("password", "passwordTooLong")));
    }
    if let Some(ip) = &viewer.origin.ip
        && !app.sign_in_budget.spend(ip, crate::store::now())
    {
        return Ok(Err(Refusal::at("password", "tooManyAttempts")));
    }
    let stored = app.store.password_hash(&viewer.user.id).await?;
    if stored.is_some() && !app.hasher.verify(password, stored.as_deref()).await? {
        let details = json!({ "reason": "wrong password" });
        record(app, rt, viewer, "credential_removal_refused", details).await;
        return Ok(Err(Refusal::at("password", "currentPasswordWrong")));
    }
    Ok(Ok(()))
}

/// A current code of the app `device`, never used before (accepting it spends it).
async fn check_code(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    device: &crate::store::entity::credential::Model,
    code: &str,
) -> Result<Result<(), Refusal>, AccountError> {
    let code = code.trim();
    if code.is_empty() {
        return Ok(Err(Refusal::at("otp", "missingOtp")));
    }
    let Ok(secret) = app.master_key.open(&otp_context(&device.id), &device.secret) else {
        tracing::error!(credential = %device.id, "OTP secret cannot be opened with this master key");
        return Ok(Err(Refusal::at("otp", "invalidOtp")));
    };
    let now = crate::store::now().max(0) as u64;
    let accepted = match totp::matching_step(&rt.realm.otp_policy, &secret, code, now) {
        Some(step) => app.store.accept_otp_step(&device.id, step).await?,
        None => false,
    };
    if !accepted {
        let details = json!({ "reason": "wrong code" });
        record(app, rt, viewer, "credential_removal_refused", details).await;
        return Ok(Err(Refusal::at("otp", "invalidOtp")));
    }
    Ok(Ok(()))
}

/// Codes by email or text (`kind`) on or off, once the caller has checked they may be on; off
/// unless they are the last second factor the realm makes the user keep. Each change is logged.
pub async fn switch_sent_codes(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    kind: &'static str,
    on: bool,
) -> Result<Result<(), Value>, AccountError> {
    let user_id = &viewer.user.id;
    if on {
        if app.store.enable_sent_codes(user_id, kind).await? {
            record(app, rt, viewer, "credential_added", json!({ "type": kind })).await;
        }
        return Ok(Ok(()));
    }
    let keep_one = must_keep_a_second_factor(app, rt, viewer).await?;
    match app.store.disable_sent_codes(user_id, kind, keep_one).await? {
        OtpRemoval::NotFound => Ok(Ok(())),
        OtpRemoval::LastKept => Ok(Err(crate::flow::message("accountLastFactorRequired"))),
        OtpRemoval::Removed { last } => {
            record(
                app,
                rt,
                viewer,
                "credential_removed",
                json!({ "type": kind, "last": last }),
            )
            .await;
            Ok(Ok(()))
        }
    }
}
