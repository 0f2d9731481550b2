//! Time-based one-time passwords (RFC 6238) through totp-rs, under a realm's OTP policy.
//! Replay protection (a code accepted once is never accepted again) is the caller's: this
//! module returns the matched time step, and the store refuses steps not newer than the last.

use qrcode::QrCode;
use qrcode::render::svg;
use totp_rs::{Algorithm as TotpAlgorithm, Builder, Secret, Totp};

use serde::{Deserialize, Serialize};

/// A realm's OTP policy (the realm file's `otp_policy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtpPolicy {
    #[serde(rename = "type")]
    pub kind: OtpType,
    pub algorithm: OtpAlgorithm,
    pub digits: u32,
    pub period: u64,
    pub look_around: u64,
}

impl Default for OtpPolicy {
    fn default() -> Self {
        OtpPolicy {
            kind: OtpType::Totp,
            algorithm: OtpAlgorithm::SHA1,
            digits: 6,
            period: 30,
            look_around: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtpType {
    Totp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtpAlgorithm {
    SHA1,
    SHA256,
    SHA512,
}

#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    #[error("invalid OTP setup: {0}")]
    Setup(String),
}

/// A fresh secret of the size the algorithm's HMAC wants (RFC 4226 §4: at least 128 bits).
pub fn new_secret(policy: &OtpPolicy) -> Vec<u8> {
    let len = match policy.algorithm {
        OtpAlgorithm::SHA1 => 20,
        OtpAlgorithm::SHA256 => 32,
        OtpAlgorithm::SHA512 => 64,
    };
    super::random_bytes(len)
}

fn totp(policy: &OtpPolicy, secret: &[u8], issuer: &str, account: &str) -> Result<Totp, OtpError> {
    let algorithm = match policy.algorithm {
        OtpAlgorithm::SHA1 => TotpAlgorithm::SHA1,
        OtpAlgorithm::SHA256 => TotpAlgorithm::SHA256,
        OtpAlgorithm::SHA512 => TotpAlgorithm::SHA512,
    };
    // ':' separates issuer and account in otpauth URIs, so it may appear in neither.
    let clean = |s: &str| s.replace(':', " ");
    Builder::new()
        .with_algorithm(algorithm)
        .with_digits(policy.digits as u8)
        .with_skew(policy.look_around as u16)
        .with_step_duration(policy.period)
        .with_secret(secret.to_vec())
        .with_account_name(clean(account))
        .with_issuer(Some(clean(issuer)))
        .build()
        .map_err(|e| OtpError::Setup(e.to_string()))
}

/// The time step a code matches within the policy's look-around window, if any.
pub fn matching_step(policy: &OtpPolicy, secret: &[u8], code: &str, now: u64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != policy.digits as usize || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let t = totp(policy, secret, "x", "x").ok()?;
    t.check(&code, now).map(|step| step as i64)
}

/// The code for time `now` (used by tests and `flow simulate`).
pub fn code_at(policy: &OtpPolicy, secret: &[u8], now: u64) -> Option<String> {
    Some(totp(policy, secret, "x", "x").ok()?.generate(now).to_string())
}

/// The secret in base32, as authenticator apps take it by hand.
pub fn base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

/// Base32 in groups of four, easier to type.
pub fn grouped(base32: &str) -> String {
    base32
        .trim_end_matches('=')
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `otpauth://` URI and its QR code as inline SVG.
pub fn enrolment(policy: &OtpPolicy, secret: &[u8], issuer: &str, account: &str) -> Result<(String, String), OtpError> {
    let url = totp(policy, secret, issuer, account)?
        .to_url()
        .map_err(|e| OtpError::Setup(e.to_string()))?;
    let qr = QrCode::new(url.as_bytes()).map_err(|e| OtpError::Setup(e.to_string()))?;
    let svg = qr
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Drop the XML prolog: the SVG is inlined into an HTML page.
    let svg = match svg.find("<svg") {
        Some(i) => svg[i..].to_string(),
        None => svg,
    };
    Ok((url, svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OtpPolicy {
        OtpPolicy::default()
    }

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B, T = 59, 8 digits, secret "12345678901234567890".
        let p = OtpPolicy { digits: 8, ..policy() };
        assert_eq!(code_at(&p, b"12345678901234567890", 59).unwrap(), "94287082");
        assert_eq!(matching_step(&p, b"12345678901234567890", "94287082", 59), Some(1));
    }

    #[test]
    fn rfc6238_sha256_and_sha512_vectors() {
        // RFC 6238 appendix B: the seed repeats "1234567890" to the hash's length.
        let sha256 = OtpPolicy {
            digits: 8,
            algorithm: OtpAlgorithm::SHA256,
            ..policy()
        };
        let seed256 = b"12345678901234567890123456789012";
        assert_eq!(code_at(&sha256, seed256, 59).unwrap(), "46119246");
        assert_eq!(code_at(&sha256, seed256, 1_111_111_109).unwrap(), "68084774");
        assert_eq!(
            matching_step(&sha256, seed256, "68084774", 1_111_111_109),
            Some(37_037_036)
        );
        let sha512 = OtpPolicy {
            digits: 8,
            algorithm: OtpAlgorithm::SHA512,
            ..policy()
        };
        let seed512 = b"1234567890123456789012345678901234567890123456789012345678901234";
        assert_eq!(code_at(&sha512, seed512, 59).unwrap(), "90693936");
        assert_eq!(code_at(&sha512, seed512, 1_111_111_109).unwrap(), "25091201");
        // A SHA-1 code is not a SHA-512 code.
        assert!(matching_step(&sha512, seed512, "94287082", 59).is_none());
        // Authenticator apps learn the algorithm from the enrolment URL.
        let (url, _) = enrolment(&sha512, &new_secret(&sha512), "Demo", "alice").unwrap();
        assert!(url.contains("algorithm=SHA512"), "{url}");
        assert_eq!(new_secret(&sha512).len(), 64);
    }

    #[test]
    fn window_and_format() {
        let p = policy();
        let secret = new_secret(&p);
        let now = 1_800_000_000;
        let code = code_at(&p, &secret, now).unwrap();
        assert_eq!(code.len(), 6);
        assert_eq!(matching_step(&p, &secret, &code, now), Some((now / 30) as i64));
        // One step of look-around either way, not two.
        assert!(matching_step(&p, &secret, &code, now + 30).is_some());
        assert!(matching_step(&p, &secret, &code, now + 61).is_none());
        assert!(matching_step(&p, &secret, "12345", now).is_none());
        assert!(matching_step(&p, &secret, "abcdef", now).is_none());
    }

    #[test]
    fn enrolment_has_qr_and_readable_secret() {
        let p = policy();
        let secret = new_secret(&p);
        let (url, svg) = enrolment(&p, &secret, "Demo", "alice@example.com").unwrap();
        assert!(url.starts_with("otpauth://totp/"));
        assert!(svg.starts_with("<svg"));
        let b32 = base32(&secret);
        assert!(url.contains(b32.trim_end_matches('=')));
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
    }
}
