//! Each realm's signing keys, loaded from the store and kept ready in memory: the active key
//! for signing, every still-published key for verifying, and the JWKS document pre-rendered.
//! Nodes reload periodically, so a rotation on one node (or by the CLI) reaches all of them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::json;

use crate::crypto::{Algorithm, MasterKey, SigningError, SigningKey, VerifyingKeys};
use crate::store::entity::signing_key;
use crate::store::{Store, StoreError, now};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error("realm {0} has no signing key")]
    NoKey(String),
    #[error("signing key {0} cannot be opened with this master key (every node needs the same GATEHOUSE_MASTER_KEY)")]
    Sealed(String),
}

pub struct RealmKeys {
    pub active: Arc<SigningKey>,
    pub verifying: VerifyingKeys,
    pub jwks_json: bytes::Bytes,
}

pub struct KeyRing {
    store: Store,
    master: MasterKey,
    realms: RwLock<HashMap<String, Arc<RealmKeys>>>,
    /// When an unknown `kid` last caused a reload (Unix seconds).
    last_miss_reload: std::sync::atomic::AtomicI64,
}

impl KeyRing {
    pub fn new(store: Store, master: MasterKey) -> KeyRing {
        KeyRing {
            store,
            master,
            realms: RwLock::new(HashMap::new()),
            last_miss_reload: Default::default(),
        }
    }

    pub fn get(&self, realm: &str) -> Option<Arc<RealmKeys>> {
        self.realms
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(realm)
            .cloned()
    }

    /// The realm's keys; if `token` names a key this node has not loaded yet (another node
    /// rotated), reloads first — at most once a second, so unknown kids cannot hammer the store.
    pub async fn get_or_reload_for(&self, realm: &str, token: &str, retention_secs: i64) -> Option<Arc<RealmKeys>> {
        let keys = self.get(realm)?;
        if keys.verifying.knows_kid_of(token) {
            return Some(keys);
        }
        let t = now();
        let last = self.last_miss_reload.swap(t, std::sync::atomic::Ordering::Relaxed);
        if last < t
            && let Err(e) = self.reload(realm, retention_secs).await
        {
            tracing::warn!(realm, error = %e, "could not reload signing keys");
        }
        self.get(realm)
    }

    /// The key new tokens of `realm` are signed with.
    pub fn active(&self, realm: &str) -> Option<Arc<SigningKey>> {
        self.get(realm).map(|k| k.active.clone())
    }

    /// Loads the realm's keys, first creating one if there is no active key of `alg`.
    pub async fn ensure_active(&self, realm: &str, alg: Algorithm, retention_secs: i64) -> Result<(), KeyError> {
        let keys = self.store.signing_keys(realm).await?;
        let has_active = keys.iter().any(|k| k.retired_at.is_none() && k.alg == alg.as_str());
        if !has_active {
            rotate(&self.store, &self.master, realm, alg).await?;
        }
        self.reload(realm, retention_secs).await
    }

    /// Re-reads the realm's keys from the store.
    pub async fn reload(&self, realm: &str, retention_secs: i64) -> Result<(), KeyError> {
        let t = now();
        let rows = self.store.signing_keys(realm).await?;
        let published: Vec<&signing_key::Model> = rows
            .iter()
            .filter(|k| k.retired_at.is_none_or(|r| r + retention_secs > t))
            .collect();
        let active_row = rows
            .iter()
            .find(|k| k.retired_at.is_none())
            .ok_or_else(|| KeyError::NoKey(realm.to_string()))?;
        // Keep the parsed active key if it has not changed: parsing RSA keys is not free.
        let current = self.get(realm);
        let active = match current {
            Some(c) if c.active.kid == active_row.kid => c.active.clone(),
            _ => Arc::new(self.open(active_row)?),
        };
        let mut verifying = VerifyingKeys::default();
        let mut jwks = Vec::new();
        for row in published {
            let jwk: serde_json::Value =
                serde_json::from_str(&row.public_jwk).map_err(|_| KeyError::Sealed(row.kid.clone()))?;
            verifying.insert(&jwk)?;
            jwks.push(jwk);
        }
        let jwks_json = bytes::Bytes::from(json!({ "keys": jwks }).to_string());
        let keys = Arc::new(RealmKeys {
            active,
            verifying,
            jwks_json,
        });
        self.realms
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(realm.to_string(), keys);
        let _ = self
            .store
            .delete_keys_retired_before(realm, t - retention_secs - 3600)
            .await;
        Ok(())
    }

    fn open(&self, row: &signing_key::Model) -> Result<SigningKey, KeyError> {
        let alg = Algorithm::parse(&row.alg).ok_or_else(|| KeyError::Sealed(row.kid.clone()))?;
        let der = self
            .master
            .open(&seal_context(&row.kid), &row.private_key)
            .map_err(|_| KeyError::Sealed(row.kid.clone()))?;
        Ok(SigningKey::from_pkcs8(row.kid.clone(), alg, &der)?)
    }
}

fn seal_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// Generates a new key for `realm`, makes it the active one and retires the previous ones
/// (which stay published until their tokens have expired). Returns the new `kid`.
pub async fn rotate(store: &Store, master: &MasterKey, realm: &str, alg: Algorithm) -> Result<String, KeyError> {
    let kid = crate::crypto::new_id();
    let (key, der) = tokio::task::spawn_blocking({
        let kid = kid.clone();
        move || SigningKey::generate(kid, alg)
    })
    .await
    .map_err(|_| SigningError::Generate)??;
    let row = signing_key::Model {
        kid: kid.clone(),
        realm: realm.to_string(),
        alg: alg.as_str().to_string(),
        private_key: master.seal(&seal_context(&kid), &der),
        public_jwk: key.public_jwk().to_string(),
        created_at: now(),
        retired_at: None,
    };
    store.add_signing_key(row).await?;
    Ok(kid)
}
