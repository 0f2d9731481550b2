//! `trusted-device`: the browser holds the cookie of a device the signed-in user trusted
//! ("Remember this device" on a second-factor page), not expired or revoked, in a realm that
//! enables trusted devices. Flows skip the second factor with it (`negate: true`).

use serde_json::{Value, json};

use super::Condition;
use crate::crypto::{constant_time_eq, sha256_hex};
use crate::flow::step::Step;
use crate::flow::{EngineError, FlowContext};

pub struct TrustedDevice;

/// Whether `ctx`'s browser is one of the user's trusted devices (and notes its use).
pub async fn is_trusted(ctx: &FlowContext<'_>) -> Result<bool, EngineError> {
    // A request for two factors (step-up) is not met by the device alone.
    if !ctx.realm.trusted_devices.enabled || ctx.request.acr.as_ref().is_some_and(|a| a.level >= 2) {
        return Ok(false);
    }
    let (Some(user_id), Some(cookie)) = (ctx.flow.user_id.as_deref(), ctx.device_cookie.as_deref()) else {
        return Ok(false);
    };
    let Some((id, secret)) = cookie.split_once('.') else {
        return Ok(false);
    };
    let Some(device) = ctx.services.store.live_trusted_device(id, user_id).await? else {
        return Ok(false);
    };
    let presented = sha256_hex(secret.as_bytes());
    if device.realm != ctx.realm.name || !constant_time_eq(presented.as_bytes(), device.secret_hash.as_bytes()) {
        return Ok(false);
    }
    ctx.services.store.touch_trusted_device(&device.id).await?;
    ctx.event("trusted_device_used", Some(user_id), json!({ "device": device.id }))
        .await;
    Ok(true)
}

#[async_trait::async_trait]
impl Condition for TrustedDevice {
    fn name(&self) -> &'static str {
        "trusted-device"
    }

    fn check_config(&self, config: &Value) -> Result<(), String> {
        crate::flow::step::check_keys(config, &["negate"], &[])
    }

    async fn holds(&self, ctx: &FlowContext<'_>, config: &Value, _: &[Step]) -> Result<bool, EngineError> {
        Ok(is_trusted(ctx).await? != super::negated(config))
    }
}
