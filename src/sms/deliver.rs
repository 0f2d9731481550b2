//! Delivering one queued text: a signed JSON POST to the realm's webhook, or a `.json` file in
//! its file outbox.
//!
//! The webhook receives `{"to": "+4917…", "body": "…", "realm": "demo"}` with the headers
//! `X-Gatehouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body bytes>">` (keyed
//! with the realm's `sms.secret`) and `X-Gatehouse-Message-Id` (the same on every retry of one
//! text, so a receiver can drop repeats). Any 2xx answer counts as sent.

use std::sync::OnceLock;
use std::time::Duration;

use super::Payload;

/// The shortest webhook secret worth signing with.
const MIN_SECRET_LEN: usize = 16;

/// How long one webhook call may take before the attempt counts as failed.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// The `X-Gatehouse-Signature` value for `body` sent at `t`.
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    format!("t={t},v1={}", crate::crypto::hmac_sha256_hex(secret, &signed))
}

/// Sends one text the way `payload.settings` says; `id` is the message's outbox id.
pub async fn deliver(payload: &Payload, id: &str) -> Result<(), String> {
    let body = serde_json::to_vec(&serde_json::json!({
        "to": payload.to, "body": payload.body, "realm": payload.realm,
    }))
    .map_err(|e| e.to_string())?;
    let settings = &payload.settings;
    if let Some(dir) = &settings.outbox {
        return crate::ops::files::write_whole(std::path::Path::new(dir), &format!("{id}.json"), &body).await;
    }
    let Some(url) = &settings.webhook else {
        return Err("the realm's sms settings name neither a webhook nor an outbox".into());
    };
    let reference = settings.secret.as_deref().unwrap_or_default();
    let name = crate::realm::env_reference(reference).unwrap_or_default();
    let secret = std::env::var(name)
        .ok()
        .filter(|s| s.len() >= MIN_SECRET_LEN)
        .ok_or_else(|| format!("the SMS webhook secret's environment variable {name} is not set on this node, or shorter than {MIN_SECRET_LEN} characters"))?;
    let response = client()
        .post(url)
        .header("content-type", "application/json")
        .header(
            "x-gatehouse-signature",
            signature(secret.as_bytes(), crate::store::now(), &body),
        )
        .header("x-gatehouse-message-id", id)
        .body(body)
        .send()
        .await
        // The error's own text would end with the whole URL (a gateway key may be in it).
        .map_err(|e| format!("SMS webhook {}: {}", crate::config::redact_url(url), e.without_url()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "SMS webhook {} answered {}",
            crate::config::redact_url(url),
            response.status()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_time_and_body() {
        let a = signature(b"key", 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, signature(b"key", 1_700_000_001, b"{}"));
        assert_ne!(a, signature(b"key", 1_700_000_000, b"{ }"));
        assert_ne!(a, signature(b"other", 1_700_000_000, b"{}"));
    }
}
