//! The master key seals secrets kept in the database (signing keys, later OTP secrets) with
//! AES-256-GCM. It comes from `GATEHOUSE_MASTER_KEY` (base64, 32 bytes) or a key file that is
//! generated on first start with mode 0600.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be 32 bytes, base64-encoded (generate one with `openssl rand -base64 32`)")]
    BadFormat,
    #[error("cannot read or create the master key file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("a sealed secret could not be opened: wrong master key, or the data is damaged")]
    Open,
}

#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(****)")
    }
}

impl MasterKey {
    pub fn from_base64(text: &str) -> Result<MasterKey, MasterKeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| MasterKeyError::BadFormat)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| MasterKeyError::BadFormat)?;
        Ok(MasterKey { key })
    }

    /// Reads the key file, creating it (mode 0600) with a fresh random key if it is missing.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, MasterKeyError> {
        let err = |reason: String| MasterKeyError::File {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => MasterKey::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
                }
                let encoded = STANDARD.encode(super::random_bytes(32));
                match write_private(path, &encoded) {
                    Ok(()) => {
                        tracing::warn!(path = %path.display(), "generated a new master key file; back it up, and give every node the same key");
                        MasterKey::from_base64(&encoded)
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
                        MasterKey::from_base64(&text)
                    }
                    Err(e) => Err(err(e.to_string())),
                }
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Encrypts `plain`, binding it to `context` (e.g. "signing-key:{kid}") so a sealed value
    /// cannot be swapped for another's.
    pub fn seal(&self, context: &str, plain: &[u8]) -> String {
        let key = self.aead();
        let nonce_bytes: [u8; NONCE_LEN] = super::random_bytes(NONCE_LEN)
            .try_into()
            .expect("random_bytes returns the requested length");
        let mut data = plain.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(context), &mut data)
            .expect("AES-GCM sealing cannot fail for in-memory buffers");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&data);
        STANDARD.encode(out)
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, MasterKeyError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| MasterKeyError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(MasterKeyError::Open);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::Open)?;
        let mut data = rest.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::from(context), &mut data)
            .map_err(|_| MasterKeyError::Open)?;
        Ok(plain.to_vec())
    }

    /// A compact JWS (HS256) over `claims` with a key derived from the master key for
    /// `context`: for tokens only this server reads (refresh tokens, which it looks up by hash
    /// anyway), at a fraction of an RS256 signature's cost.
    pub fn sign_hs256_jwt(&self, context: &str, typ: &str, claims: &serde_json::Value) -> String {
        use aws_lc_rs::hmac;
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.key), context.as_bytes());
        let key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
        let header = serde_json::json!({ "alg": "HS256", "typ": typ });
        let mut out = format!(
            "{}.{}",
            super::b64url(header.to_string().as_bytes()),
            super::b64url(claims.to_string().as_bytes())
        );
        let tag = hmac::sign(&key, out.as_bytes());
        out.push('.');
        out.push_str(&super::b64url(tag.as_ref()));
        out
    }

    /// HMAC-SHA256 (hex) of `data` under a key derived from the master key for `context`: for
    /// short secrets (a six-digit code) that must not be guessable from what is stored.
    pub fn mac_hex(&self, context: &str, data: &[u8]) -> String {
        use aws_lc_rs::hmac;
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.key), context.as_bytes());
        let key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
        hmac::sign(&key, data)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.key).expect("a 32-byte key is valid for AES-256"))
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_with_context() {
        let key = MasterKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let sealed = key.seal("a", b"secret");
        assert_eq!(key.open("a", &sealed).unwrap(), b"secret");
        assert!(key.open("b", &sealed).is_err());
        let other = MasterKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.open("a", &sealed).is_err());
    }

    #[test]
    fn rejects_short_keys() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("gh-mk-{}", super::super::new_id()));
        let path = dir.join("master.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.key, b.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
