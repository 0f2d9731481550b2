//! The running server: shared state, start-up (open the store, load realms and flows, make
//! sure every realm has a signing key), background refreshes, and the HTTP listener.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::crypto::{MasterKey, PasswordHasher};
use crate::flow::FlowRegistry;
use crate::oidc::keyring::KeyRing;
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
    realms: RwLock<HashMap<String, Arc<RealmRuntime>>>,
    /// Realm → the live snapshot this node failed to serve (logged once, retried each tick).
    failed_snapshots: Mutex<HashMap<String, i64>>,
}

/// Failed-sign-in events recorded per client address and minute on one node: far above what
/// the lockout lets one address cause, so only a flood past it goes unrecorded (and counted).
const FAILURE_EVENTS_PER_ADDRESS_PER_MINUTE: u32 = 120;

/// A loaded realm with what is derived from it once (pre-rendered discovery document).
pub struct RealmRuntime {
    pub realm: Realm,
    pub issuer: String,
    pub discovery_json: bytes::Bytes,
    /// The applied snapshot this configuration comes from.
    pub snapshot_id: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("realm files are invalid:\n{0}")]
    Realms(String),
    #[error("flow files are invalid:\n{0}")]
    Flows(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    MasterKey(#[from] crate::crypto::MasterKeyError),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error("signing keys: {0}")]
    Keys(String),
}

impl AppState {
    /// Opens the store and loads what is live in the database (the last applied realm
    /// snapshots); does not listen and never applies the realms directory. What commands
    /// other than `serve` and `realm apply` use: they work on the live configuration, and
    /// edited realm files stay pending until applied.
    pub async fn load(settings: Settings) -> Result<Arc<AppState>, StartError> {
        AppState::open(settings, false).await
    }

    /// What a server starts from: as [`load`](Self::load), but with `apply_realms_on_start`
    /// the realms directory is checked and applied first, and the first administrator is
    /// created from `GATEHOUSE_BOOTSTRAP_ADMIN_*` if set.
    pub async fn load_for_serving(settings: Settings) -> Result<Arc<AppState>, StartError> {
        AppState::open(settings, true).await
    }

    async fn open(settings: Settings, serving: bool) -> Result<Arc<AppState>, StartError> {
        let flows = FlowRegistry::load(&settings.flows_dir).map_err(|errs| StartError::Flows(join_lines(&errs)))?;
        let templates = Templates::load(Some(&settings.themes_dir), settings.themes_live);
        let files = if serving && settings.apply_realms_on_start {
            let files = realm::apply::check(std::slice::from_ref(&settings.realms_dir), &flows)
                .map_err(|e| StartError::Realms(apply_problems(e)))?;
            for r in &files {
                check_theme(&templates, &settings, r).map_err(StartError::Realms)?;
            }
            Some(files)
        } else {
            None
        };
        let master_key = match &settings.master_key {
            Some(text) => MasterKey::from_base64(text)?,
            None => MasterKey::load_or_create(&settings.master_key_file)?,
        };
        let store = Store::open(&settings.database_url).await?;
        let hasher = PasswordHasher::new(settings.password_hashing, settings.max_concurrent_hashes)
            .map_err(|e| StartError::Config(e.to_string()))?;
        let keys = KeyRing::new(store.clone(), master_key.clone());
        let sign_in_budget = crate::ops::budget::AddressBudget::new(settings.sign_ins_per_address_per_minute);
        let state = Arc::new(AppState {
            templates,
            settings,
            store,
            hasher,
            master_key,
            keys,
            flows,
            metrics: crate::ops::metrics::Metrics::new(),
            sign_in_budget,
            failure_event_budget: crate::ops::budget::AddressBudget::new(FAILURE_EVENTS_PER_ADDRESS_PER_MINUTE),
            realms: RwLock::new(HashMap::new()),
            failed_snapshots: Mutex::new(HashMap::new()),
        });
        if let Some(files) = files {
            let changed = realm::apply::apply(&state.store, &files, "serve")
                .await
                .map_err(|e| StartError::Realms(apply_problems(e)))?;
            for name in changed {
                tracing::info!(realm = %name, "realm applied from the realms directory");
            }
        }
        if crate::admin::master::ensure(&state.store)
            .await
            .map_err(|e| StartError::Realms(apply_problems(e)))?
        {
            tracing::info!("created the master realm (it holds the administrators)");
        }
        state.sync_realms(true).await?;
        if serving {
            crate::admin::master::bootstrap_from_env(&state)
                .await
                .map_err(|e| StartError::Config(format!("GATEHOUSE_BOOTSTRAP_ADMIN_*: {e}")))?;
        }
        Ok(state)
    }

    /// Serves each realm whose live snapshot is not the one this node serves. Realms are
    /// compared one by one (one cheap query when nothing changed), so a snapshot whose id
    /// committed out of order is not missed, and a realm this node could not install is tried
    /// again at the next call. At start (`strict`) a realm this node cannot serve stops the
    /// start; later it is logged (once per snapshot) and the node keeps serving the version it
    /// has. Returns the realms installed.
    pub async fn sync_realms(&self, strict: bool) -> Result<Vec<String>, StartError> {
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
            return Err(StartError::Realms(join_lines(&messages)));
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
                Err(problem) => Err(StartError::Realms(problem)),
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
    async fn install_realm(&self, realm: Realm, snapshot_id: i64) -> Result<(), StartError> {
        self.keys
            .ensure_active(&realm.name, realm.tokens.signing_alg, retention_secs(&realm))
            .await
            .map_err(|e| StartError::Keys(e.to_string()))?;
        let issuer = format!("{}/realms/{}", self.settings.public_url, realm.name);
        let discovery_json = crate::oidc::discovery::document(&issuer, &realm).into();
        let runtime = RealmRuntime {
            realm,
            issuer,
            discovery_json,
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
                && let Err(e) = self.keys.reload(&name, retention_secs(&rt.realm)).await
            {
                tracing::warn!(realm = %name, error = %e, "could not refresh signing keys");
            }
        }
    }
}

/// How long a retired key must stay published: as long as the longest-lived JWT it signed.
pub fn retention_secs(realm: &Realm) -> i64 {
    realm.tokens.access_ttl.as_secs() + 60
}

/// A realm's theme must exist on this node.
fn check_theme(templates: &Templates, settings: &Settings, r: &Realm) -> Result<(), String> {
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

fn apply_problems(e: realm::apply::ApplyError) -> String {
    match e {
        realm::apply::ApplyError::Invalid(problems) => join_lines(&problems),
        other => format!("  {other}"),
    }
}

fn join_lines(errs: &[impl std::fmt::Display]) -> String {
    errs.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
}

/// A server listening on a socket, as `serve` and the tests run it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    refresher: JoinHandle<()>,
}

impl RunningServer {
    /// `http://127.0.0.1:PORT` (the public URL).
    pub fn url(&self) -> String {
        self.state.settings.public_url.clone()
    }

    /// Stops accepting, lets in-flight requests finish, and returns.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.refresher.abort();
        let _ = (&mut self.task).await;
    }

    /// Like [`stop`](Self::stop), but gives up after `deadline` (a request that never ends must
    /// not keep the process alive); returns whether every request finished in time.
    pub async fn stop_within(mut self, deadline: Duration) -> bool {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.refresher.abort();
        let finished = tokio::time::timeout(deadline, &mut self.task).await.is_ok();
        if !finished {
            self.task.abort();
        }
        finished
    }

    /// Waits until the server stops (after a shutdown signal).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
        self.refresher.abort();
    }
}

/// Binds the listen address (port 0 picks a free port; the public URL then follows the real
/// port unless it was set explicitly), loads everything and starts serving.
pub async fn start(mut settings: Settings, public_url_explicit: bool) -> Result<RunningServer, StartError> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| StartError::Listen {
            addr: settings.listen.to_string(),
            reason: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| StartError::Listen {
        addr: settings.listen.to_string(),
        reason: e.to_string(),
    })?;
    settings.listen = addr;
    if !public_url_explicit {
        settings.public_url = format!("http://{addr}");
    }
    let refresh_every = Duration::from_secs(settings.key_refresh_interval_secs.max(1));
    let realm_refresh_every = Duration::from_secs(settings.realm_refresh_interval_secs.max(1));
    let state = AppState::load_for_serving(settings).await?;
    let app = crate::web::router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let header_timeout = Duration::from_secs(state.settings.request_header_timeout_secs);
    let task = tokio::spawn(crate::web::serve::serve(listener, app, header_timeout, async move {
        let _ = rx.await;
    }));
    let refresher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(refresh_every);
            let mut realm_tick = tokio::time::interval(realm_refresh_every);
            realm_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            realm_tick.tick().await;
            let mut ticks: u64 = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = realm_tick.tick() => {
                        // A realm applied from anywhere (CLI, another node) goes live here.
                        if let Err(e) = state.sync_realms(false).await {
                            tracing::warn!(error = %e, "could not look for applied realm changes");
                        }
                        continue;
                    }
                }
                state.refresh_keys().await;
                ticks += 1;
                // Housekeeping about every five minutes (at the default 10 s interval).
                if ticks.is_multiple_of(30)
                    && let Err(e) = state.store.purge_expired().await
                {
                    tracing::warn!(error = %e, "could not purge expired records");
                }
                if ticks.is_multiple_of(30)
                    && let Err(e) =
                        crate::events::purge_expired(&state.store, state.settings.events_retention_days).await
                {
                    tracing::warn!(error = %e, "could not delete expired security events");
                }
            }
        })
    };
    tracing::info!(%addr, public_url = %state.settings.public_url, "Gatehouse is listening");
    Ok(RunningServer {
        addr,
        state,
        shutdown: Some(tx),
        task,
        refresher,
    })
}
