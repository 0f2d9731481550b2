//! Security events: the one place that records who did what, from where, and reads it back.
//! Recording never fails the action it describes; a failure to record is logged loudly instead.
//!
//! [`query`] is what `gatehouse events` and the admin API's `GET /admin/realms/{realm}/events`
//! share: the same filters, the same page shape. [`export`] streams every matching event page
//! by page; [`purge_expired`] applies the retention setting.

pub mod export;
pub mod time;

use std::io::Write;

use serde::Serialize;

use crate::store::entity::event;
use crate::store::{EventQuery, NewEvent, Store, StoreError};

pub use export::Format;
pub use time::{When, format_rfc3339, parse_when};

/// Events per page when none is asked for, and the most one page may hold.
pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;
/// Rows per DELETE in retention cleanup: small enough that no writer waits long.
pub const PURGE_BATCH: u64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("unknown realm '{0}'")]
    UnknownRealm(String),
    #[error("unknown user '{user}' in realm '{realm}' (give a username or a user id)")]
    UnknownUser { realm: String, user: String },
    #[error("bad duration '{0}': use e.g. 30m, 1h, 7d, or an RFC 3339 time such as 2026-01-31T12:00:00Z")]
    BadDuration(String),
    #[error("bad time '{0}': use an RFC 3339 time such as 2026-01-31T12:00:00Z, or a duration such as 1h")]
    BadTime(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the events: {0}")]
    Write(#[from] std::io::Error),
}

/// Where a request came from, as the security log records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub async fn record(store: &Store, event: NewEvent) {
    let kind = event.kind.clone();
    crate::ops::metrics::count_event(&kind);
    if let Err(e) = store.insert_event(event).await {
        tracing::error!(error = %crate::ops::logging::untrusted(&e.to_string()), kind = %kind, "could not record a security event");
    }
}

/// What to read, as a person or an API client gives it.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub realm: String,
    /// A username or a user id (a deleted user's id still finds their events).
    pub user: Option<String>,
    /// Any of these types; empty means every type.
    pub kinds: Vec<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    /// Cursor: only events older than this event id (the `next` of the previous page).
    pub before: Option<i64>,
    /// Events per page: default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`] (larger is capped).
    pub limit: Option<u64>,
}

/// One event as it is exported and served: the one serialization of an event, shared by
/// `gatehouse events --format jsonl`, the admin API's JSON and JSON Lines, and the OpenAPI
/// document (as `EventRepresentation`). Field names are camelCase, close to Keycloak's
/// `EventRepresentation`, with an RFC 3339 `time`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EventRepresentation)]
pub struct Event {
    /// Increases with each event; also the paging cursor (`before`).
    pub id: i64,
    /// Unix seconds (the same instant as `time`).
    #[serde(skip)]
    pub timestamp: i64,
    /// RFC 3339, UTC, to the second.
    pub time: String,
    /// e.g. `sign_in`, `login_error`, `logout`, `user_created`, `token_revoked`.
    #[serde(rename = "type")]
    pub kind: String,
    pub realm: String,
    pub user_id: Option<String>,
    /// The user's current username, if the user still exists.
    pub username: Option<String>,
    pub client_id: Option<String>,
    #[serde(rename = "ipAddress")]
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// What happened, e.g. `{"reason": "invalid_credentials"}`; admin actions name the actor
    /// in `by`. Always a JSON object.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// One page, newest first. `next` is the cursor for the following page (`before`), present
/// when this page is full (the next one may then be empty).
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub events: Vec<Event>,
    pub next: Option<i64>,
}

/// One page of a realm's events.
pub async fn query(store: &Store, filter: &EventFilter) -> Result<Page, EventsError> {
    let q = resolve(store, filter).await?;
    page(store, &q).await
}

/// What [`export`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub written: u64,
    /// Set when `max` stopped the export with more events left: the cursor to continue from.
    pub more_before: Option<i64>,
}

/// Writes every matching event (or the newest `max`), newest first, reading one page of at
/// most [`MAX_LIMIT`] at a time so memory stays flat however large the log is.
pub async fn export(
    store: &Store,
    filter: &EventFilter,
    format: Format,
    max: Option<u64>,
    out: &mut dyn Write,
) -> Result<Exported, EventsError> {
    let mut q = resolve(store, filter).await?;
    let mut writer = export::Writer::new(format, out);
    let mut left = max.unwrap_or(u64::MAX);
    let mut more_before = None;
    while left > 0 {
        q.limit = left.min(MAX_LIMIT);
        let page = page(store, &q).await?;
        for e in &page.events {
            writer.write(e)?;
        }
        left -= page.events.len() as u64;
        match page.next {
            Some(next) if left == 0 => more_before = Some(next),
            Some(next) => q.before = Some(next),
            None => break,
        }
    }
    // A full last page may be the very end: only offer a cursor when something follows.
    if let Some(next) = more_before {
        q.before = Some(next);
        q.limit = 1;
        if store.query_events(&q).await?.is_empty() {
            more_before = None;
        }
    }
    let written = writer.finish()?;
    Ok(Exported { written, more_before })
}

/// Deletes events older than `retention_days` days (0 keeps them forever); returns how many.
pub async fn purge_expired(store: &Store, retention_days: u32) -> Result<u64, EventsError> {
    if retention_days == 0 {
        return Ok(0);
    }
    let cutoff = crate::store::now() - i64::from(retention_days) * 86_400;
    let purged = store.purge_events_before(cutoff, PURGE_BATCH).await?;
    if purged.deleted > 0 {
        tracing::info!(
            deleted = purged.deleted,
            batches = purged.batches,
            retention_days,
            "deleted expired security events"
        );
    }
    Ok(purged.deleted)
}

/// Checks the realm and turns the user into an id.
async fn resolve(store: &Store, f: &EventFilter) -> Result<EventQuery, EventsError> {
    // Every realm ever applied has a snapshot (one whose file was removed keeps it, and its
    // log stays readable).
    if store.latest_realm_snapshot(&f.realm).await?.is_none() {
        return Err(EventsError::UnknownRealm(f.realm.clone()));
    }
    let user_id = match &f.user {
        None => None,
        Some(u) => Some(resolve_user(store, &f.realm, u).await?),
    };
    Ok(EventQuery {
        realm: f.realm.clone(),
        user_id,
        kinds: f.kinds.clone(),
        since: f.since,
        until: f.until,
        before: f.before,
        limit: f.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
    })
}

async fn resolve_user(store: &Store, realm: &str, user: &str) -> Result<String, EventsError> {
    if let Some(u) = store.find_user_by_username(realm, user).await? {
        return Ok(u.id);
    }
    if let Some(u) = store.find_user(user).await?
        && u.realm == realm
    {
        return Ok(u.id);
    }
    if store.has_events_of_user(realm, user).await? {
        return Ok(user.to_string());
    }
    Err(EventsError::UnknownUser {
        realm: realm.to_string(),
        user: user.to_string(),
    })
}

async fn page(store: &Store, q: &EventQuery) -> Result<Page, EventsError> {
    let rows = store.query_events(q).await?;
    let mut ids: Vec<String> = rows.iter().filter_map(|r| r.user_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let names = store.usernames(&ids).await?;
    let next = (rows.len() as u64 == q.limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let events = rows
        .into_iter()
        .map(|r| {
            let username = r.user_id.as_ref().and_then(|id| names.get(id).cloned());
            to_event(r, username)
        })
        .collect();
    Ok(Page { events, next })
}

fn to_event(r: event::Model, username: Option<String>) -> Event {
    // Older records may hold `null` (no details) or, in principle, a non-object value.
    let details = match serde_json::from_str::<serde_json::Value>(&r.details) {
        Ok(serde_json::Value::Object(o)) => serde_json::Value::Object(o),
        Ok(serde_json::Value::Null) => serde_json::json!({}),
        Ok(other) => serde_json::json!({ "value": other }),
        Err(_) => serde_json::json!({ "raw": r.details }),
    };
    Event {
        id: r.id,
        timestamp: r.created_at,
        time: format_rfc3339(r.created_at),
        realm: r.realm,
        kind: r.kind,
        user_id: r.user_id,
        username,
        client_id: r.client_id,
        ip: r.ip,
        user_agent: r.user_agent,
        details,
    }
}
