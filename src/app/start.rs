//! Start-up: assemble the shared state (open the store, load flows, templates and realms,
//! make sure every realm has a signing key), listen, and keep the node in step in the
//! background (keys, applied realms, housekeeping).

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
use crate::keyring::KeyRing;
use crate::realm;
use crate::state::{AppState, FAILURE_EVENTS_PER_ADDRESS_PER_MINUTE, SyncError, check_theme, join_lines};
use crate::store::Store;
use crate::web::templates::Templates;

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
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// Opens the store and loads what is live in the database (the last applied realm
/// snapshots); does not listen and never applies the realms directory. What commands
/// other than `serve` and `realm apply` use: they work on the live configuration, and
/// edited realm files stay pending until applied.
pub async fn load(settings: Settings) -> Result<Arc<AppState>, StartError> {
    open(settings, false).await
}

/// What a server starts from: as [`load`], but with `apply_realms_on_start`
/// the realms directory is checked and applied first, and the first administrator is
/// created from `GATEHOUSE_BOOTSTRAP_ADMIN_*` if set.
pub async fn load_for_serving(settings: Settings) -> Result<Arc<AppState>, StartError> {
    open(settings, true).await
}

async fn open(settings: Settings, serving: bool) -> Result<Arc<AppState>, StartError> {
    let flows = FlowRegistry::load(&settings.flows_dir).map_err(|errs| StartError::Flows(join_lines(&errs)))?;
    let templates = Templates::load(Some(&settings.themes_dir), settings.themes_live);
    let files = if serving && settings.apply_realms_on_start {
        let files = realm::apply::check(std::slice::from_ref(&settings.realms_dir), &|r| flows.check_bindings(r))
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
    let geoip = match &settings.geoip_database {
        Some(path) => crate::ops::geoip::GeoIp::open(path).map_err(|e| StartError::Config(e.to_string()))?,
        None => crate::ops::geoip::GeoIp::none(),
    };
    let mailer = crate::mail::Mailer::new(server_mail(&settings)?, settings.public_url.clone());
    let state = Arc::new(AppState {
        mailer,
        broker: crate::broker::Broker::new(),
        templates,
        settings,
        store,
        hasher,
        master_key,
        keys,
        flows,
        metrics: crate::ops::metrics::Metrics::new(),
        sign_in_budget,
        geoip,
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

/// The server's `mail` setting, read as a realm's `mail` and checked the same way.
fn server_mail(settings: &Settings) -> Result<Option<realm::MailSettings>, StartError> {
    let Some(value) = &settings.mail else { return Ok(None) };
    let mail: realm::MailSettings =
        serde_json::from_value(value.clone()).map_err(|e| StartError::Config(format!("config setting mail: {e}")))?;
    realm::load::check_mail(&mail).map_err(|e| StartError::Config(format!("config setting {e}")))?;
    Ok(Some(mail))
}

fn apply_problems(e: realm::apply::ApplyError) -> String {
    match e {
        realm::apply::ApplyError::Invalid(problems) => join_lines(&problems),
        other => format!("  {other}"),
    }
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
    let state = load_for_serving(settings).await?;
    let app = super::router::router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let header_timeout = Duration::from_secs(state.settings.request_header_timeout_secs);
    let task = tokio::spawn(super::serve::serve(listener, app, header_timeout, async move {
        let _ = rx.await;
    }));
    let worker = crate::mail::worker::run(
        state.store.clone(),
        state.master_key.clone(),
        state.mailer.wakeup(),
        MAIL_POLL,
    );
    let in_step = keep_in_step(state.clone(), refresh_every, realm_refresh_every);
    // Both end when the server stops (the handle is aborted).
    let refresher = tokio::spawn(async move {
        tokio::join!(in_step, worker);
    });
    if let Some(dir) = state.settings.mail.as_ref().and_then(|m| m.get("outbox")) {
        tracing::info!(outbox = %dir, "mail goes to a file outbox (one .eml file per message)");
    }
    for rt in state.realms.read().unwrap_or_else(|p| p.into_inner()).values() {
        if let Some(dir) = rt.realm.mail.as_ref().and_then(|m| m.outbox.as_ref()) {
            tracing::info!(realm = %rt.realm.name, outbox = %dir, "the realm's mail goes to a file outbox (one .eml file per message)");
        }
        if let Some(dir) = rt.realm.sms.as_ref().and_then(|m| m.outbox.as_ref()) {
            tracing::info!(realm = %rt.realm.name, outbox = %dir, "the realm's texts go to a file outbox (one .json file per text)");
        }
    }
    tracing::info!(%addr, public_url = %state.settings.public_url, "Gatehouse is listening");
    Ok(RunningServer {
        addr,
        state,
        shutdown: Some(tx),
        task,
        refresher,
    })
}

/// How often each node looks for due messages in the outbox (a new one on this node wakes it
/// at once).
const MAIL_POLL: Duration = Duration::from_secs(2);

/// The node's background work: applied realms go live at every `realm_every`; keys are
/// reloaded at every `keys_every`, and about every thirtieth time expired records and security
/// events are purged.
async fn keep_in_step(state: Arc<AppState>, keys_every: Duration, realm_every: Duration) {
    let mut tick = tokio::time::interval(keys_every);
    let mut realm_tick = tokio::time::interval(realm_every);
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
        if ticks.is_multiple_of(30) {
            if let Err(e) = state.store.purge_expired().await {
                tracing::warn!(error = %e, "could not purge expired records");
            }
            let retention = state.settings.events_retention_days;
            if let Err(e) = crate::events::purge_expired(&state.store, retention).await {
                tracing::warn!(error = %e, "could not delete expired security events");
            }
        }
    }
}
