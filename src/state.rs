//! What a running node shares between requests: the settings, the store, the hashing pool,
//! the keys, the flows and the templates, and the realms it serves (kept in step with the
//! snapshots applied in the database). The areas above (`oidc`, `login`, `admin`) take it;
//! the flow engine below takes only the narrow parts it needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::config::Settings;
use crate::crypto::{MasterKey, PasswordHasher};
use crate::flow::FlowRegistry;
use crate::keyring::KeyRing;
use crate::realm::{self, Realm};
use crate::store::Store;
use crate::web::templates::Templates;

/// Everything a request handler needs; shared behind an `Arc`.
pub struct AppState {
    pub settings: Settings,
    pub store: Store,
    pub hasher: PasswordHasher,
    pub master_key: MasterKey,
    pub keys: KeyRing,
    pub flows: FlowRegistry,
    pub templates: Templates,
    /// This server's Prometheus metrics.
    pub metrics: Arc<crate::ops::metrics::Metrics>,
    /// Sign-ins each client address may still start this minute.
    pub sign_in_budget: crate::ops::budget::AddressBudget,
    /// Failed-sign-in events each client address may still have recorded this minute.
    pub failure_event_budget: crate::ops::budget::AddressBudget,
    /// Approximate locations of client addresses (none without `geoip_database`).
    pub geoip: crate::ops::geoip::GeoIp,
    /// Outgoing mail: settings and the worker's bell.
    pub mailer: crate::mail::Mailer,
    /// Upstream sign-in providers: the HTTP client, their discovery documents and keys.
    pub broker: crate::broker::Broker,
    pub(crate) realms: RwLock<HashMap<String, Arc<RealmRuntime>>>,
    /// Realm → the live snapshot this node failed to serve (logged once, retried each tick).
    pub(crate) failed_snapshots: Mutex<HashMap<String, i64>>,
}

/// Failed-sign-in events recorded per client address and minute on one node: far above what
/// the lockout lets one address cause, so only a flood past it goes unrecorded (and counted).
pub const FAILURE_EVENTS_PER_ADDRESS_PER_MINUTE: u32 = 120;

/// A loaded realm with what is derived from it once (pre-rendered discovery document).
pub struct RealmRuntime {
    pub realm: Realm,
    pub issuer: String,
    /// The discovery document, rendered at its first request.
    pub discovery_json: std::sync::OnceLock<bytes::Bytes>,
    /// The applied snapshot this configuration comes from.
    pub snapshot_id: i64,
}

/// Why a node cannot serve an applied realm.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Realms(String),
    #[error("signing keys: {0}")]
    Keys(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl AppState {
    /// The parts of this state the flow engine runs on.
    pub fn flow_services(&self) -> crate::flow::Services<'_> {
        crate::flow::Services {
            store: &self.store,
            hasher: &self.hasher,
            master_key: &self.master_key,
            metrics: &self.metrics,
            failure_event_budget: &self.failure_event_budget,
            mail: self.mail(),
            sms: self.sms(),
            public_url: &self.settings.public_url,
            flows: &self.flows,
            broker: &self.broker,
        }
    }

    /// What sending texts needs.
    pub fn sms(&self) -> crate::sms::Texter<'_> {
        crate::sms::Texter {
            store: &self.store,
            master_key: &self.master_key,
            templates: &self.templates,
            wakeup: self.mailer.bell(),
        }
    }

    /// What sending mail needs.
    pub fn mail(&self) -> crate::mail::Sender<'_> {
        crate::mail::Sender {
            mailer: &self.mailer,
            store: &self.store,
            master_key: &self.master_key,
            templates: &self.templates,
        }
    }

    /// Serves each realm whose live snapshot is not the one this node serves. Realms are
    /// compared one by one (one cheap query when nothing changed), so a snapshot whose id
    /// committed out of order is not missed, and a realm this node could not install is tried
    /// again at the next call. At start (`strict`) a realm this node cannot serve stops the
    /// start; later it is logged (once per snapshot) and the node keeps serving the version it
    /// has. Returns the realms installed.
    pub async fn sync_realms(&self, strict: bool) -> Result<Vec<String>, SyncError> {
        let stale: Vec<i64> = self
            .store
            .live_snapshot_ids()
            .await?
            .into_iter()
            .filter(|(name, id)| self.realm(name).is_none_or(|rt| rt.snapshot_id != *id))
            .map(|(_, id)| id)
            .collect();
        if stale.is_empty() {
            return Ok(vec![]);
        }
        let (live, problems) = realm::apply::parse_snapshots(self.store.realm_snapshots(&stale).await?);
        if strict && !problems.is_empty() {
            let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
            return Err(SyncError::Realms(join_lines(&messages)));
        }
        for p in &problems {
            if self.first_failure(&p.realm, p.snapshot_id) {
                tracing::error!(realm = %p.realm, problem = %p.message, "a live realm snapshot does not load; serving the previous version");
            }
        }
        let mut installed = Vec::new();
        for (name, live) in live {
            let fits = self
                .flows
                .check_bindings(&live.realm)
                .map_err(|errs| join_lines(&errs))
                .and_then(|()| check_theme(&self.templates, &self.settings, &live.realm));
            let outcome = match fits {
                Ok(()) => self.install_realm(live.realm, live.snapshot_id).await,
                Err(problem) => Err(SyncError::Realms(problem)),
            };
            match outcome {
                Ok(()) => {
                    self.failed_snapshots
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&name);
                    tracing::info!(realm = %name, snapshot = live.snapshot_id, "realm configuration is live");
                    installed.push(name);
                }
                Err(e) if strict => return Err(e),
                Err(e) => {
                    if self.first_failure(&name, live.snapshot_id) {
                        tracing::error!(realm = %name, snapshot = live.snapshot_id, problem = %e, "cannot serve the applied realm here; keeping the previous version and trying again");
                    } else {
                        tracing::debug!(realm = %name, snapshot = live.snapshot_id, problem = %e, "still cannot serve the applied realm here");
                    }
                }
            }
        }
        Ok(installed)
    }

    /// Notes that `snapshot_id` of `realm` failed here; true the first time (to log it once).
    fn first_failure(&self, realm: &str, snapshot_id: i64) -> bool {
        let mut failed = self.failed_snapshots.lock().unwrap_or_else(|p| p.into_inner());
        failed.insert(realm.to_string(), snapshot_id) != Some(snapshot_id)
    }

    /// Makes `realm` (applied as snapshot `snapshot_id`) live on this node: ensures a signing
    /// key and pre-renders the discovery document.
    async fn install_realm(&self, realm: Realm, snapshot_id: i64) -> Result<(), SyncError> {
        self.keys
            .ensure_active(&realm.name, realm.tokens.signing_alg, realm.key_retention_secs())
            .await
            .map_err(|e| SyncError::Keys(e.to_string()))?;
        let issuer = format!("{}/realms/{}", self.settings.public_url, realm.name);
        let mut realm = realm;
        // Every realm has the console's client, always the built-in one: a file's client of that
        // name (as Keycloak exports carry) cannot widen what it may do.
        realm.clients.insert(
            crate::realm::ACCOUNT_CONSOLE.to_string(),
            crate::realm::Client::account_console(&issuer),
        );
        let runtime = RealmRuntime {
            realm,
            issuer,
            discovery_json: std::sync::OnceLock::new(),
            snapshot_id,
        };
        let mut realms = self.realms.write().unwrap_or_else(|p| p.into_inner());
        realms.insert(runtime.realm.name.clone(), Arc::new(runtime));
        Ok(())
    }

    pub fn realm(&self, name: &str) -> Option<Arc<RealmRuntime>> {
        self.realms.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    pub fn realm_names(&self) -> Vec<String> {
        self.realms
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Reloads every realm's keys from the store (picks up rotations made by other nodes or
    /// the CLI).
    pub async fn refresh_keys(&self) {
        for name in self.realm_names() {
            if let Some(rt) = self.realm(&name)
                && let Err(e) = self.keys.reload(&name, rt.realm.key_retention_secs()).await
            {
                tracing::warn!(realm = %name, error = %e, "could not refresh signing keys");
            }
        }
    }
}

/// A realm's theme must exist on this node.
pub fn check_theme(templates: &Templates, settings: &Settings, r: &Realm) -> Result<(), String> {
    if templates.has_theme(&r.theme) {
        return Ok(());
    }
    Err(format!(
        "  {}: theme '{}' is not in {} (a theme is a directory THEMES_DIR/NAME)",
        r.source.at("realm"),
        r.theme,
        settings.themes_dir.display()
    ))
}

pub fn join_lines(errs: &[impl std::fmt::Display]) -> String {
    errs.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
}
