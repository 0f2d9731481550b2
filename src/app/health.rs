//! Health checks. Live: the process answers. Ready: it can serve sign-ins, i.e. the database
//! answers, its schema is current and realms are loaded.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Why the node is not ready. The text is public (load balancers log it), so it names the
/// cause without details such as database host names; those go to the log.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("database unreachable")]
    Database,
    #[error("database migrations pending: {0}")]
    Migrations(String),
    #[error("no realms loaded")]
    NoRealms,
}

pub async fn check(app: &AppState) -> Result<(), NotReady> {
    if let Err(e) = app.store.ping().await {
        tracing::warn!(error = %e, "not ready: database unreachable");
        return Err(NotReady::Database);
    }
    let pending = app.store.pending_migrations().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready: cannot read the migration table");
        NotReady::Database
    })?;
    if !pending.is_empty() {
        return Err(NotReady::Migrations(pending.join(", ")));
    }
    if app.realm_names().is_empty() {
        return Err(NotReady::NoRealms);
    }
    Ok(())
}

/// `GET /health/ready`: 200 `ready`, or 503 with the reason.
pub async fn ready(State(app): State<Arc<AppState>>) -> Response {
    let (status, body) = match check(&app).await {
        Ok(()) => (StatusCode::OK, "ready".to_string()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason.to_string()),
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `GET /health/live`.
pub async fn live() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], "ok").into_response()
}
