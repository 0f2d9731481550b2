//! `configure-otp`: set up an authenticator app. The page shows a QR code (inline SVG) and the
//! secret as text; the first code confirms the device; then ten single-use recovery codes are
//! shown, once. Secrets in flight are sealed with the master key even inside the
//! authentication session.

use std::collections::HashMap;

use serde_json::json;

use super::{ActionResult, RequiredAction};
use crate::crypto::{self, totp};
use crate::flow::authenticators::otp_context;
use crate::flow::{EngineError, FlowContext, Page};

pub struct ConfigureOtp;

pub const RECOVERY_CODE_COUNT: usize = 10;
/// The longest name a user may give an OTP device.
const MAX_DEVICE_NAME_CHARS: usize = 64;
const PENDING_CONTEXT: &str = "pending-otp";
const CODES_CONTEXT: &str = "pending-recovery-codes";
/// Unambiguous characters for recovery codes (no 0/o, 1/l/i).
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A recovery code such as `k7mq-x2pa-9tce` (about 59 bits).
fn new_recovery_code() -> String {
    let bytes = crypto::random_bytes(12);
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

impl ConfigureOtp {
    fn pending_secret(&self, ctx: &mut FlowContext<'_>) -> Vec<u8> {
        if let Some(sealed) = &ctx.flow.pending_otp
            && let Ok(secret) = ctx.services.master_key.open(PENDING_CONTEXT, sealed)
        {
            return secret;
        }
        let secret = totp::new_secret(&ctx.realm.otp_policy);
        ctx.flow.pending_otp = Some(ctx.services.master_key.seal(PENDING_CONTEXT, &secret));
        secret
    }

    async fn setup_page(&self, ctx: &mut FlowContext<'_>, error: Option<&str>) -> Result<Page, EngineError> {
        let secret = self.pending_secret(ctx);
        let policy = ctx.realm.otp_policy.clone();
        let account = ctx.flow.username.clone().unwrap_or_default();
        let issuer = ctx.realm.display_name.clone();
        let (_, svg) =
            totp::enrolment(&policy, &secret, &issuer, &account).map_err(|e| EngineError::Internal(e.to_string()))?;
        let b32 = totp::base32(&secret);
        Ok(Page::new(
            "configure_otp.html",
            json!({
                "qr_svg": svg,
                "secret_grouped": totp::grouped(&b32),
                "issuer": issuer,
                "account": account,
                "algorithm": format!("{:?}", policy.algorithm),
                "digits": policy.digits,
                "period": policy.period,
                "error": error,
                "org_enrolment": ctx.flow.org_enrolment,
            }),
        ))
    }

    fn codes_page(codes: &[String]) -> Page {
        Page::new("recovery_codes.html", json!({ "codes": codes }))
    }

    fn shown_codes(&self, ctx: &FlowContext<'_>) -> Option<Vec<String>> {
        let sealed = ctx.flow.recovery_codes.as_ref()?;
        let plain = ctx.services.master_key.open(CODES_CONTEXT, sealed).ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

#[async_trait::async_trait]
impl RequiredAction for ConfigureOtp {
    fn name(&self) -> &'static str {
        "configure-otp"
    }

    async fn page(&self, ctx: &mut FlowContext<'_>) -> Result<Page, EngineError> {
        if let Some(codes) = self.shown_codes(ctx) {
            return Ok(Self::codes_page(&codes));
        }
        self.setup_page(ctx, None).await
    }

    async fn submit(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<ActionResult, EngineError> {
        if let Some(codes) = self.shown_codes(ctx) {
            if form.get("acknowledge").map(String::as_str) == Some("yes") {
                ctx.flow.recovery_codes = None;
                ctx.flow.pending_otp = None;
                return Ok(ActionResult::Done);
            }
            return Ok(ActionResult::Page(Self::codes_page(&codes)));
        }
        if ctx.flow.org_enrolment.is_some() && form.get("decline-enrolment").is_some_and(|v| v == "true") {
            ctx.flow.pending_otp = None;
            return Ok(ActionResult::Declined);
        }
        let Ok(label) = device_label(form) else {
            return Ok(ActionResult::Page(self.setup_page(ctx, Some("otpLabelTooLong")).await?));
        };
        let code = form.get("otp").map(|s| s.trim()).unwrap_or_default();
        let secret = self.pending_secret(ctx);
        let policy = ctx.realm.otp_policy.clone();
        let now = crate::store::now().max(0) as u64;
        let Some(step) = totp::matching_step(&policy, &secret, code, now) else {
            let message = if code.is_empty() {
                "configureOtpMissingCode"
            } else {
                "configureOtpWrongCode"
            };
            return Ok(ActionResult::Page(self.setup_page(ctx, Some(message)).await?));
        };
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        // The device id comes from the enrolment itself, so a double submit adds one device.
        let enrolment = ctx.flow.pending_otp.clone().unwrap_or_default();
        let credential_id = crypto::sha256_hex(enrolment.as_bytes())[..32].to_string();
        let sealed = ctx.services.master_key.seal(&otp_context(&credential_id), &secret);
        let (codes, hashes) = recovery_codes();
        let added = ctx
            .services
            .store
            .configure_otp(&user_id, &credential_id, sealed, label, step, hashes)
            .await?;
        if !added {
            return Ok(ActionResult::Refused("otpAlreadyConfigured".into()));
        }
        ctx.flow.add_amr("otp");
        ctx.flow.extra_actions.retain(|a| a != "configure-otp");
        ctx.event(
            "credential_added",
            Some(&user_id),
            json!({ "type": "otp", "credential": credential_id }),
        )
        .await;
        let sealed_codes = ctx.services.master_key.seal(
            CODES_CONTEXT,
            serde_json::to_string(&codes).unwrap_or_default().as_bytes(),
        );
        ctx.flow.recovery_codes = Some(sealed_codes);
        ctx.flow.pending_otp = None;
        Ok(ActionResult::Page(Self::codes_page(&codes)))
    }
}

/// The device name the user gave (none if blank); `Err` when it is too long or hides
/// characters.
fn device_label(form: &HashMap<String, String>) -> Result<Option<String>, ()> {
    let label = form
        .get("device_name")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let refused = label.as_ref().is_some_and(|l| {
        l.chars().count() > MAX_DEVICE_NAME_CHARS || crate::realm::usernames::has_hidden_characters(l)
    });
    if refused { Err(()) } else { Ok(label) }
}

/// A fresh set of recovery codes, and the hashes the store keeps of them.
pub fn recovery_codes() -> (Vec<String>, Vec<String>) {
    let codes: Vec<String> = (0..RECOVERY_CODE_COUNT).map(|_| new_recovery_code()).collect();
    let hashes = codes
        .iter()
        .map(|c| crypto::sha256_hex(crate::flow::authenticators::normalize_recovery_code(c).as_bytes()))
        .collect();
    (codes, hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_grouped_and_distinct() {
        let a = new_recovery_code();
        assert_eq!(a.len(), 14);
        assert_eq!(a.matches('-').count(), 2);
        assert_ne!(a, new_recovery_code());
        assert!(a.chars().all(|c| c == '-' || ALPHABET.contains(&(c as u8))));
    }
}
