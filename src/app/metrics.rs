//! `GET /metrics`: the counters of `ops::metrics` with the gauges read at scrape time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::ops::gauge::Plan;
use crate::ops::metrics::Snapshot;
use crate::state::AppState;

/// `GET /metrics`.
pub async fn scrape(State(app): State<Arc<AppState>>) -> Response {
    let every = Duration::from_secs(app.settings.active_sessions_interval_secs);
    let gauge = &app.metrics.active_sessions;
    let sessions = match gauge.plan(Instant::now(), every) {
        Plan::ReadNow => {
            let at = Instant::now();
            let read = count_live_sessions(&app).await;
            if let Some(values) = &read {
                gauge.store(at, values.clone());
            }
            read
        }
        Plan::Show(values) => Some(values),
        Plan::ShowAndRead(values) => {
            let app = app.clone();
            tokio::spawn(async move {
                let at = Instant::now();
                // Abandoned unless stored, also if the count panics or is cancelled: the
                // next scrape may try again instead of showing this reading for ever.
                let mut reading = Reading { app, stored: false };
                if let Some(values) = count_live_sessions(&reading.app).await {
                    reading.app.metrics.active_sessions.store(at, values);
                    reading.stored = true;
                }
            });
            Some(values)
        }
    };
    let (waiting, running) = app.hasher.queue();
    let snapshot = Snapshot {
        active_sessions: sessions,
        hashes_waiting: waiting,
        hashes_running: running,
        passwords_verified: app.hasher.verifications(),
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        app.metrics.render(&snapshot),
    )
        .into_response()
}

/// A background reading of the gauge under way; dropped before it is stored, it abandons it.
struct Reading {
    app: Arc<AppState>,
    stored: bool,
}

impl Drop for Reading {
    fn drop(&mut self) {
        if !self.stored {
            self.app.metrics.active_sessions.abandon();
        }
    }
}

/// Live SSO sessions per realm, sorted by realm; `None` when the store cannot be read.
async fn count_live_sessions(app: &AppState) -> Option<Vec<(String, u64)>> {
    let mut sessions = Vec::new();
    for name in app.realm_names() {
        let Some(rt) = app.realm(&name) else { continue };
        match app
            .store
            .count_live_sso_sessions(&name, rt.realm.tokens.sso_idle.as_secs())
            .await
        {
            Ok(n) => sessions.push((name, n)),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot count active sessions");
                return None;
            }
        }
    }
    sessions.sort();
    Some(sessions)
}
