//! Passkeys and security keys (WebAuthn, on `webauthn-rs`). The relying party is the realm at
//! the node's public URL: its host is the RP ID and its origin the only origin accepted. The
//! ceremonies' state is kept by the caller server-side (in the authentication session), never
//! sent to the browser; credentials are stored whole (`webauthn-rs`'s serialization) in the
//! user's credentials, of kind [`PASSKEY`] or [`SECURITY_KEY`] (Keycloak's credential types).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs::prelude::{
    AttestationCaList, AttestationCaListBuilder, AttestedPasskeyRegistration, AuthenticationResult,
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

use crate::realm::{Attestation, Realm, ResidentKey};

/// The credential kind of a passkey (a discoverable credential with user verification: a
/// whole sign-in on its own).
pub const PASSKEY: &str = "webauthn-passwordless";
/// The credential kind of a security key used as a second factor.
pub const SECURITY_KEY: &str = "webauthn";

/// Why a ceremony failed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("passkeys need a public URL with a host name (not an IP address): {0}")]
    Configuration(String),
    #[error("the browser's answer is not a WebAuthn credential")]
    Malformed,
    #[error("the ceremony state is missing or stale")]
    NoCeremony,
    #[error("the authenticator's signature counter went backwards: it may have been cloned")]
    PossibleClone,
    #[error("this kind of authenticator is not allowed in this realm")]
    AuthenticatorNotAllowed,
    #[error("the credential was refused: {0}")]
    Refused(String),
}

fn refused(e: WebauthnError) -> PasskeyError {
    match e {
        WebauthnError::CredentialPossibleCompromise => PasskeyError::PossibleClone,
        WebauthnError::AttestationChainNotTrusted(_)
        | WebauthnError::AttestationUntrustedAaguid
        | WebauthnError::AttestationNotVerifiable
        | WebauthnError::AttestationFormatMissingAaguid
        | WebauthnError::AttestationNotSupported
        | WebauthnError::AttestationTrustFailure
        | WebauthnError::AttestationStatementX5CMissing
        | WebauthnError::CredentialMayNotBeHardwareBound => PasskeyError::AuthenticatorNotAllowed,
        other => PasskeyError::Refused(other.to_string()),
    }
}

/// The WebAuthn relying party of a realm served at `public_url`.
pub struct RelyingParty {
    inner: Webauthn,
    /// The makers' roots registrations must chain to (`attestation: direct`).
    attestation: Option<AttestationCaList>,
    resident_key: ResidentKey,
}

/// A credential as stored: the library's serialization and what the console shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    /// `Passkey` or `SecurityKey`, as `webauthn-rs` serializes them (same shape).
    pub key: Value,
    /// The authenticator model's AAGUID as it states it (all zeros when it does not say).
    pub aaguid: String,
}

/// A registered credential, to store.
#[derive(Debug)]
pub struct NewKey {
    pub data: String,
    pub aaguid: String,
    /// The credential's id (base64url), which no other stored key may have.
    pub cred_id: String,
}

impl RelyingParty {
    pub fn new(public_url: &str, realm: &Realm) -> Result<RelyingParty, PasskeyError> {
        let origin = Url::parse(public_url).map_err(|e| PasskeyError::Configuration(e.to_string()))?;
        let rp_id = origin
            .domain()
            .ok_or_else(|| PasskeyError::Configuration(public_url.to_string()))?
            .to_string();
        let settings = realm.webauthn.clone().unwrap_or_default();
        let rp_name = settings.rp_name.unwrap_or_else(|| realm.display_name.clone());
        let inner = WebauthnBuilder::new(&rp_id, &origin)
            .map_err(|e| PasskeyError::Configuration(e.to_string()))?
            .rp_name(&rp_name)
            .danger_set_user_presence_only_security_keys(
                settings.user_verification == crate::realm::UserVerification::Discouraged,
            )
            .build()
            .map_err(|e| PasskeyError::Configuration(e.to_string()))?;
        let attestation = match settings.attestation {
            Attestation::None => None,
            Attestation::Direct => Some(trusted_makers(&settings.attestation_roots, &settings.allowed_aaguids)?),
        };
        Ok(RelyingParty {
            inner,
            attestation,
            resident_key: settings.resident_key,
        })
    }

    /// Starts registering a credential of `kind` for a user; returns the options for the
    /// browser (JSON) and the state to keep.
    pub fn start_registration(
        &self,
        kind: &str,
        user: &User<'_>,
        existing: &[StoredKey],
    ) -> Result<(String, String), PasskeyError> {
        let exclude: Vec<_> = existing.iter().filter_map(|k| cred_id(&k.key)).collect();
        let exclude = (!exclude.is_empty()).then_some(exclude);
        let (options, state) = match (kind == PASSKEY, &self.attestation) {
            (true, None) => {
                let (o, s) = self
                    .inner
                    .start_passkey_registration(user.handle, user.name, user.display_name, exclude)
                    .map_err(refused)?;
                (o, serde_json::to_string(&s))
            }
            (true, Some(makers)) => {
                let (o, s) = self
                    .inner
                    .start_attested_passkey_registration(
                        user.handle,
                        user.name,
                        user.display_name,
                        exclude,
                        makers.clone(),
                        None,
                    )
                    .map_err(refused)?;
                (o, serde_json::to_string(&s))
            }
            (false, makers) => {
                let (o, s) = self
                    .inner
                    .start_securitykey_registration(
                        user.handle,
                        user.name,
                        user.display_name,
                        exclude,
                        makers.clone(),
                        None,
                    )
                    .map_err(refused)?;
                (o, serde_json::to_string(&s))
            }
        };
        let mut options = serde_json::to_value(&options).map_err(|_| PasskeyError::Malformed)?;
        if kind == PASSKEY {
            set_resident_key(&mut options, ResidentKey::Required);
        } else {
            set_resident_key(&mut options, self.resident_key);
            drop_cred_protect(&mut options);
        }
        let options = options.to_string();
        Ok((options, state.map_err(|_| PasskeyError::Malformed)?))
    }

    /// Finishes a registration with the browser's answer (JSON) and the kept state.
    pub fn finish_registration(
        &self,
        kind: &str,
        answer: &str,
        state: &str,
        allowed_aaguids: &[String],
    ) -> Result<NewKey, PasskeyError> {
        let answer: RegisterPublicKeyCredential = serde_json::from_str(answer).map_err(|_| PasskeyError::Malformed)?;
        let key = if kind == PASSKEY && self.attestation.is_some() {
            // An attested passkey is stored as a passkey: the same credential, its model proven.
            let state: AttestedPasskeyRegistration =
                serde_json::from_str(state).map_err(|_| PasskeyError::NoCeremony)?;
            serde_json::to_value(
                self.inner
                    .finish_attested_passkey_registration(&answer, &state)
                    .map_err(refused)?,
            )
        } else if kind == PASSKEY {
            let state: PasskeyRegistration = serde_json::from_str(state).map_err(|_| PasskeyError::NoCeremony)?;
            serde_json::to_value(
                self.inner
                    .finish_passkey_registration(&answer, &state)
                    .map_err(refused)?,
            )
        } else {
            let state: SecurityKeyRegistration = serde_json::from_str(state).map_err(|_| PasskeyError::NoCeremony)?;
            serde_json::to_value(
                self.inner
                    .finish_securitykey_registration(&answer, &state)
                    .map_err(refused)?,
            )
        }
        .map_err(|_| PasskeyError::Malformed)?;
        let aaguid = aaguid_of(&answer).unwrap_or_else(|| Uuid::nil().to_string());
        let cred_id = cred_id(&key)
            .and_then(|id| as_text(&id))
            .ok_or(PasskeyError::Malformed)?;
        if !allowed_aaguids.is_empty() && !allowed_aaguids.iter().any(|a| a.eq_ignore_ascii_case(&aaguid)) {
            return Err(PasskeyError::AuthenticatorNotAllowed);
        }
        let data = serde_json::to_string(&StoredKey {
            key,
            aaguid: aaguid.clone(),
        })
        .map_err(|_| PasskeyError::Malformed)?;
        Ok(NewKey { data, aaguid, cred_id })
    }

    /// Starts a passkey sign-in for whoever the browser's passkey names (discoverable).
    pub fn start_passkey_sign_in(&self) -> Result<(String, String), PasskeyError> {
        let (options, state) = self.inner.start_discoverable_authentication().map_err(refused)?;
        Ok((
            serde_json::to_string(&options).map_err(|_| PasskeyError::Malformed)?,
            serde_json::to_string(&state).map_err(|_| PasskeyError::Malformed)?,
        ))
    }

    /// The user handle a passkey sign-in's answer names (whose passkeys to check it against).
    pub fn identify(&self, answer: &str) -> Result<Uuid, PasskeyError> {
        let answer: PublicKeyCredential = serde_json::from_str(answer).map_err(|_| PasskeyError::Malformed)?;
        let (handle, _) = self
            .inner
            .identify_discoverable_authentication(&answer)
            .map_err(refused)?;
        Ok(handle)
    }

    /// Finishes a passkey sign-in against the stored passkeys (id, stored) of the user
    /// [`Self::identify`] named; returns the credential used, and its updated serialization
    /// when the counter or backup state changed.
    pub fn finish_passkey_sign_in(
        &self,
        answer: &str,
        state: &str,
        keys: Vec<(String, StoredKey)>,
    ) -> Result<SignedIn, PasskeyError> {
        let answer: PublicKeyCredential = serde_json::from_str(answer).map_err(|_| PasskeyError::Malformed)?;
        let state: DiscoverableAuthentication = serde_json::from_str(state).map_err(|_| PasskeyError::NoCeremony)?;
        let (handle, cred_id) = self
            .inner
            .identify_discoverable_authentication(&answer)
            .map_err(refused)?;
        let cred_id = cred_id.to_vec();
        let (credential_id, stored, mut passkey) = keys
            .into_iter()
            .find_map(|(id, stored)| {
                let passkey: Passkey = serde_json::from_value(stored.key.clone()).ok()?;
                (passkey.cred_id().as_slice() == cred_id.as_slice()).then_some((id, stored, passkey))
            })
            .ok_or_else(|| PasskeyError::Refused("no such passkey".into()))?;
        let result = self
            .inner
            .finish_discoverable_authentication_v2(&answer, state, &passkey)
            .map_err(refused)?;
        let updated = updated(&mut passkey, &result, stored);
        Ok(SignedIn {
            handle,
            credential_id,
            updated,
        })
    }

    /// Starts checking one of a user's security keys (second factor).
    pub fn start_key_check(&self, keys: &[StoredKey]) -> Result<(String, String), PasskeyError> {
        let keys: Vec<SecurityKey> = keys
            .iter()
            .filter_map(|k| serde_json::from_value(k.key.clone()).ok())
            .collect();
        let (options, state) = self.inner.start_securitykey_authentication(&keys).map_err(refused)?;
        Ok((
            serde_json::to_string(&options).map_err(|_| PasskeyError::Malformed)?,
            serde_json::to_string(&state).map_err(|_| PasskeyError::Malformed)?,
        ))
    }

    /// Finishes checking a security key against the user's `keys` (id, stored).
    pub fn finish_key_check(
        &self,
        answer: &str,
        state: &str,
        keys: Vec<(String, StoredKey)>,
    ) -> Result<SignedIn, PasskeyError> {
        let answer: PublicKeyCredential = serde_json::from_str(answer).map_err(|_| PasskeyError::Malformed)?;
        let state: SecurityKeyAuthentication = serde_json::from_str(state).map_err(|_| PasskeyError::NoCeremony)?;
        let result = self
            .inner
            .finish_securitykey_authentication(&answer, &state)
            .map_err(refused)?;
        let (credential_id, stored, mut key) = keys
            .into_iter()
            .find_map(|(id, stored)| {
                let key: SecurityKey = serde_json::from_value(stored.key.clone()).ok()?;
                (key.cred_id() == result.cred_id()).then_some((id, stored, key))
            })
            .ok_or_else(|| PasskeyError::Refused("no such security key".into()))?;
        let changed = key.update_credential(&result).unwrap_or(false);
        let updated = changed
            .then(|| serde_json::to_value(&key).ok())
            .flatten()
            .and_then(|key| serde_json::to_string(&StoredKey { key, ..stored }).ok());
        Ok(SignedIn {
            handle: Uuid::nil(),
            credential_id,
            updated,
        })
    }
}

/// The stored passkey's new serialization when the sign-in changed its counter or backup state.
fn updated(passkey: &mut Passkey, result: &AuthenticationResult, stored: StoredKey) -> Option<String> {
    if !passkey.update_credential(result).unwrap_or(false) {
        return None;
    }
    let key = serde_json::to_value(&*passkey).ok()?;
    serde_json::to_string(&StoredKey { key, ..stored }).ok()
}

/// A successful passkey or security-key check.
#[derive(Debug)]
pub struct SignedIn {
    /// The user handle the passkey carries (nil for a security key: the user was known).
    pub handle: Uuid,
    /// The id of the stored credential (row) used.
    pub credential_id: String,
    /// Its new serialization, to store, when the counter or backup state changed.
    pub updated: Option<String>,
}

/// Whom a credential is registered for.
pub struct User<'a> {
    pub handle: Uuid,
    pub name: &'a str,
    pub display_name: &'a str,
}

/// The WebAuthn user handle of a user id: its 16 random bytes (or the UUID an imported user
/// kept); `None` for an id of another shape, which cannot register a passkey.
pub fn user_handle(user_id: &str) -> Option<Uuid> {
    use base64::Engine as _;
    if let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(user_id)
        && let Ok(handle) = Uuid::from_slice(&bytes)
    {
        return Some(handle);
    }
    Uuid::parse_str(user_id).ok()
}

/// The user ids a handle may stand for (see [`user_handle`]).
pub fn user_ids_of(handle: Uuid) -> [String; 2] {
    use base64::Engine as _;
    [
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(handle.as_bytes()),
        handle.hyphenated().to_string(),
    ]
}

/// Parses a stored credential.
pub fn stored(data: &str) -> Option<StoredKey> {
    serde_json::from_str(data).ok()
}

/// The credential id (base64url) of a stored credential.
pub fn stored_cred_id(data: &str) -> Option<String> {
    as_text(&cred_id(&stored(data)?.key)?)
}

/// A credential id as stored credentials write it (base64url).
fn as_text(id: &webauthn_rs::prelude::CredentialID) -> Option<String> {
    use base64::Engine as _;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id))
}

fn cred_id(key: &Value) -> Option<webauthn_rs::prelude::CredentialID> {
    serde_json::from_value::<Passkey>(key.clone())
        .ok()
        .map(|p| p.cred_id().clone())
}

/// Whether the authenticator must keep a discoverable credential. Conditional UI (autofill)
/// lists only those, so a passkey must be one; `webauthn-rs` asks for none.
fn set_resident_key(options: &mut Value, policy: ResidentKey) {
    if let Some(selection) = options
        .get_mut("publicKey")
        .and_then(|p| p.get_mut("authenticatorSelection"))
        .and_then(Value::as_object_mut)
    {
        selection.insert("residentKey".into(), Value::from(policy.as_str()));
        selection.insert(
            "requireResidentKey".into(),
            Value::Bool(policy == ResidentKey::Required),
        );
    }
}

/// The makers whose attestation `attestation: direct` trusts: every model under each root, or
/// only the allowed models when the realm lists them.
fn trusted_makers(roots: &[String], allowed_aaguids: &[String]) -> Result<AttestationCaList, PasskeyError> {
    let bad_root =
        |_| PasskeyError::Configuration("webauthn.attestation_roots holds a certificate that is not PEM".into());
    if allowed_aaguids.is_empty() {
        let mut makers = AttestationCaList::default();
        for root in roots {
            makers.union(&AttestationCaList::try_from(root.as_bytes()).map_err(bad_root)?);
        }
        return Ok(makers);
    }
    let mut makers = AttestationCaListBuilder::new();
    for root in roots {
        for aaguid in allowed_aaguids {
            let aaguid = Uuid::parse_str(aaguid)
                .map_err(|_| PasskeyError::Configuration(format!("webauthn.allowed_aaguids: {aaguid}")))?;
            makers
                .insert_device_pem(root.as_bytes(), aaguid, aaguid.to_string(), Default::default())
                .map_err(bad_root)?;
        }
    }
    Ok(makers.build())
}

/// Browsers refuse `credProtect` "user verification required" for a credential that is not
/// discoverable ("inconsistent protection policy"): a security key is asked without it (it
/// is a second factor after the password, and its checks ask for user verification anyway).
fn drop_cred_protect(options: &mut Value) {
    if let Some(extensions) = options
        .get_mut("publicKey")
        .and_then(|p| p.get_mut("extensions"))
        .and_then(Value::as_object_mut)
    {
        extensions.remove("credentialProtectionPolicy");
        extensions.remove("enforceCredentialProtectionPolicy");
    }
}

/// The AAGUID in a registration's authenticator data (bytes 37..53), as the authenticator
/// states it.
fn aaguid_of(answer: &RegisterPublicKeyCredential) -> Option<String> {
    let object: serde_cbor_2::Value = serde_cbor_2::from_slice(answer.response.attestation_object.as_ref()).ok()?;
    let serde_cbor_2::Value::Map(map) = object else {
        return None;
    };
    let auth_data = map.iter().find_map(|(k, v)| match (k, v) {
        (serde_cbor_2::Value::Text(k), serde_cbor_2::Value::Bytes(b)) if k == "authData" => Some(b),
        _ => None,
    })?;
    let bytes = auth_data.get(37..53)?;
    Uuid::from_slice(bytes).ok().map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
mod tests;
