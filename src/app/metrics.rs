//! `GET /metrics`: the counters of `ops::metrics` with the gauges read at scrape time.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::ops::metrics::Snapshot;
use crate::state::AppState;

/// `GET /metrics`.
pub async fn scrape(State(app): State<Arc<AppState>>) -> Response {
    let mut sessions = Vec::new();
    let mut readable = true;
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
                readable = false;
                break;
            }
        }
    }
    sessions.sort();
    let (waiting, running) = app.hasher.queue();
    let snapshot = Snapshot {
        active_sessions: readable.then_some(sessions),
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
