//! Token signing keys. Private keys are parsed once and kept ready in memory (jsonwebtoken
//! re-parses a DER key on every signature, which for RSA costs more than the signature), so
//! signing is done here over aws-lc-rs and produces a standard JWS compact serialization.
//! Verification goes through jsonwebtoken, which checks algorithm, signature and time claims.

use std::collections::HashMap;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use jsonwebtoken::{DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::b64url;

/// The JWS algorithms Gatehouse signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Algorithm {
    #[default]
    RS256,
    ES256,
    EdDSA,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "RS256" => Some(Algorithm::RS256),
            "ES256" => Some(Algorithm::ES256),
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        }
    }

    fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("key generation failed")]
    Generate,
    #[error("stored signing key {0} is not a valid key")]
    BadKey(String),
    #[error("signing failed")]
    Sign,
    #[error("invalid token: {0}")]
    Invalid(String),
}

enum KeyPairKind {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pair: KeyPairKind,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.kid, self.alg.as_str())
    }
}

impl SigningKey {
    /// Generates a key and returns it with its PKCS#8 DER encoding (to be sealed and stored).
    pub fn generate(kid: String, alg: Algorithm) -> Result<(SigningKey, Vec<u8>), SigningError> {
        let der = match alg {
            Algorithm::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map(|d| d.as_ref().to_vec()),
            Algorithm::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map(|d| d.as_ref().to_vec()),
            Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| SigningError::Generate)?;
        let key = SigningKey::from_pkcs8(kid, alg, &der)?;
        Ok((key, der))
    }

    pub fn from_pkcs8(kid: String, alg: Algorithm, der: &[u8]) -> Result<SigningKey, SigningError> {
        let bad = |_| SigningError::BadKey(kid.clone());
        let pair = match alg {
            Algorithm::RS256 => KeyPairKind::Rsa(RsaKeyPair::from_pkcs8(der).map_err(bad)?),
            Algorithm::ES256 => {
                KeyPairKind::Ec(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(bad)?)
            }
            Algorithm::EdDSA => KeyPairKind::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(bad)?),
        };
        Ok(SigningKey { kid, alg, pair })
    }

    /// The public key as a JWK (RFC 7517), with `kid`, `alg` and `use`.
    pub fn public_jwk(&self) -> serde_json::Value {
        let (kid, alg) = (&self.kid, self.alg.as_str());
        match &self.pair {
            KeyPairKind::Rsa(k) => {
                let public = k.public_key();
                json!({
                    "kty": "RSA", "kid": kid, "alg": alg, "use": "sig",
                    "n": b64url(public.modulus().big_endian_without_leading_zero()),
                    "e": b64url(public.exponent().big_endian_without_leading_zero()),
                })
            }
            KeyPairKind::Ec(k) => {
                // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = k.public_key().as_ref();
                json!({
                    "kty": "EC", "crv": "P-256", "kid": kid, "alg": alg, "use": "sig",
                    "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
                })
            }
            KeyPairKind::Ed(k) => json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": alg, "use": "sig",
                "x": b64url(k.public_key().as_ref()),
            }),
        }
    }

    /// The public key as base64 of its X.509 SubjectPublicKeyInfo (DER), as Keycloak's realm
    /// document gives `public_key`.
    pub fn public_key_spki_b64(&self) -> Option<String> {
        use aws_lc_rs::encoding::PublicKeyX509Der;
        use base64::Engine as _;
        let der: Result<PublicKeyX509Der<'static>, _> = match &self.pair {
            KeyPairKind::Rsa(k) => k.public_key().as_der(),
            KeyPairKind::Ec(k) => k.public_key().as_der(),
            KeyPairKind::Ed(k) => k.public_key().as_der(),
        };
        der.ok()
            .map(|d| base64::engine::general_purpose::STANDARD.encode(d.as_ref()))
    }

    /// Signs `claims` as a compact JWS with header `{alg, typ, kid}`.
    pub fn sign_jwt(&self, typ: &str, claims: &impl Serialize) -> Result<String, SigningError> {
        let header = json!({ "alg": self.alg.as_str(), "typ": typ, "kid": self.kid });
        let claims = serde_json::to_vec(claims).map_err(|_| SigningError::Sign)?;
        let mut out = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(&claims));
        let signature = self.sign(out.as_bytes())?;
        out.push('.');
        out.push_str(&b64url(&signature));
        Ok(out)
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SigningError> {
        match &self.pair {
            KeyPairKind::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
                    .map_err(|_| SigningError::Sign)?;
                Ok(sig)
            }
            KeyPairKind::Ec(k) => k
                .sign(&SystemRandom::new(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SigningError::Sign),
            KeyPairKind::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }
}

/// The JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The JOSE `typ` of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

/// The JOSE `typ` of refresh tokens: JWTs that apps may read (keycloak-js reads `exp`), but
/// that the server only ever looks up by hash; never accepted as an access or ID token.
pub const REFRESH_TOKEN_TYP: &str = "rt+jwt";

/// The JOSE `typ` of a compact JWS, unverified (to tell our token kinds apart).
pub fn jwt_typ(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok().and_then(|h| h.typ)
}

/// Public keys by `kid`, for verifying tokens this server issued.
#[derive(Default, Clone)]
pub struct VerifyingKeys {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
}

impl VerifyingKeys {
    pub fn insert(&mut self, jwk: &serde_json::Value) -> Result<(), SigningError> {
        let parsed: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(jwk.clone()).map_err(|e| SigningError::Invalid(e.to_string()))?;
        let kid = parsed.common.key_id.clone().unwrap_or_default();
        let alg = jwk
            .get("alg")
            .and_then(|a| a.as_str())
            .and_then(Algorithm::parse)
            .ok_or_else(|| SigningError::Invalid("key without a supported alg".into()))?;
        let key = DecodingKey::from_jwk(&parsed).map_err(|e| SigningError::Invalid(e.to_string()))?;
        self.keys.insert(kid, (alg, key));
        Ok(())
    }

    /// Verifies signature, `exp`, `iss` and (if given) `aud`; returns the claims.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audience: Option<&str>,
    ) -> Result<T, SigningError> {
        self.check(token, issuer, audience, true, |_| true)
    }

    /// Verifies an access token (RFC 9068: header `typ` must be `at+jwt`, so an ID token
    /// cannot be used as one).
    pub fn verify_access_token<T: DeserializeOwned>(&self, token: &str, issuer: &str) -> Result<T, SigningError> {
        self.check(token, issuer, None, true, |typ| typ == Some(ACCESS_TOKEN_TYP))
    }

    /// Verifies an ID token's signature and `iss` but accepts it expired (for
    /// `id_token_hint`); access and refresh tokens are refused.
    pub fn verify_id_token_hint<T: DeserializeOwned>(&self, token: &str, issuer: &str) -> Result<T, SigningError> {
        self.check(token, issuer, None, false, |typ| typ == Some(ID_TOKEN_TYP))
    }

    /// Whether this set has a key with `kid` (a miss may mean another node rotated).
    pub fn knows_kid_of(&self, token: &str) -> bool {
        jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|h| h.kid)
            .is_some_and(|kid| self.keys.contains_key(&kid))
    }

    fn check<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audience: Option<&str>,
        check_expiry: bool,
        typ_ok: impl Fn(Option<&str>) -> bool,
    ) -> Result<T, SigningError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| SigningError::Invalid(e.to_string()))?;
        if !typ_ok(header.typ.as_deref()) {
            return Err(SigningError::Invalid("wrong token type".into()));
        }
        let kid = header.kid.ok_or_else(|| SigningError::Invalid("no kid".into()))?;
        let (alg, key) = self
            .keys
            .get(&kid)
            .ok_or_else(|| SigningError::Invalid("unknown kid".into()))?;
        let mut validation = Validation::new(alg.jwt());
        validation.set_issuer(&[issuer]);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_exp = check_expiry;
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        jsonwebtoken::decode::<T>(token, key, &validation)
            .map(|d| d.claims)
            .map_err(|e| SigningError::Invalid(e.to_string()))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Claims {
        iss: String,
        sub: String,
        exp: i64,
    }

    fn round_trip(alg: Algorithm) {
        let (key, der) = SigningKey::generate("k1".into(), alg).unwrap();
        let again = SigningKey::from_pkcs8("k1".into(), alg, &der).unwrap();
        let mut keys = VerifyingKeys::default();
        keys.insert(&key.public_jwk()).unwrap();
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 60;
        let token = again
            .sign_jwt(
                "JWT",
                &Claims {
                    iss: "https://i".into(),
                    sub: "u".into(),
                    exp,
                },
            )
            .unwrap();
        let claims: Claims = keys.verify(&token, "https://i", None).unwrap();
        assert_eq!(claims.sub, "u");
        assert!(keys.verify::<Claims>(&token, "https://other", None).is_err());
        // A flipped byte in the payload breaks the signature.
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        parts[1] = b64url(br#"{"iss":"https://i","sub":"admin","exp":9999999999}"#);
        assert!(keys.verify::<Claims>(&parts.join("."), "https://i", None).is_err());
        let expired = key
            .sign_jwt(
                "JWT",
                &Claims {
                    iss: "https://i".into(),
                    sub: "u".into(),
                    exp: 1,
                },
            )
            .unwrap();
        assert!(keys.verify::<Claims>(&expired, "https://i", None).is_err());
    }

    #[test]
    fn rs256_round_trip() {
        round_trip(Algorithm::RS256);
    }

    #[test]
    fn es256_round_trip() {
        round_trip(Algorithm::ES256);
    }

    #[test]
    fn eddsa_round_trip() {
        round_trip(Algorithm::EdDSA);
    }
}
