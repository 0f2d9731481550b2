//! Cryptographic building blocks: random tokens and ids, hashing of machine secrets,
//! constant-time comparison, password hashing, the master key and signing keys.
//! Everything here is a thin, well-named layer over aws-lc-rs and argon2.

mod master_key;
mod password;
mod signing;
pub mod totp;

pub use master_key::{MasterKey, MasterKeyError};
pub use password::{PasswordError, PasswordHasher, PasswordParams, argon2_within_bounds, parse_pbkdf2};
pub use signing::{
    ACCESS_TOKEN_TYP, Algorithm, ID_TOKEN_TYP, REFRESH_TOKEN_TYP, SigningError, SigningKey, VerifyingKeys, jwt_typ,
};

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `n` bytes from the system's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // The system RNG only fails if the OS cannot provide randomness at all; nothing secure
    // can continue then.
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random source failed");
    buf
}

/// A 256-bit random secret, base64url (43 characters): codes, refresh tokens, cookies.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(32))
}

/// A 128-bit random identifier, base64url (22 characters).
pub fn new_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(16))
}

/// SHA-256 as lowercase hex: how high-entropy machine secrets are stored.
pub fn sha256_hex(data: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256, base64url without padding (as PKCE S256 and `at_hash` use it).
pub fn sha256_b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, data).as_ref())
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA256 of `data` under `key`, as lower-case hex.
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    use aws_lc_rs::hmac;
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a presented machine secret against its stored SHA-256 hex hash in constant time.
pub fn verify_sha256(presented: &str, stored_hex: &str) -> bool {
    constant_time_eq(sha256_hex(presented.as_bytes()).as_bytes(), stored_hex.as_bytes())
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_url_safe() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(new_id().len(), 22);
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 7636 appendix B
        assert_eq!(
            sha256_b64(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(verify_sha256("abc", &sha256_hex(b"abc")));
        assert!(!verify_sha256("abd", &sha256_hex(b"abc")));
    }
}
