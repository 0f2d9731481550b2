//! `GET /admin/realms/{realm}/events`: the security log, filtered and paged, as JSON, JSON
//! Lines or CSV. The filters, paging and CSV rows are the events module's, shared with
//! `gatehouse events`; this file only parses the query and renders.
//!
//! Paging: `format=json` (and any format with `max`) returns one page, newest first, and names
//! the following page in a `Link: <…>; rel="next"` header only when more events follow.
//! `format=jsonl|csv` without `max` streams every matching event, reading one page at a time
//! while the body is sent, so a large export never sits in memory.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::RealmAdmin;
use super::{ApiError, CallerErrors, ErrorBody};
use crate::events::{self, EventFilter, EventsError, MAX_LIMIT};
use crate::state::AppState;

/// How the events are returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventFormat {
    /// A JSON array of events.
    #[default]
    Json,
    /// One event object per line (`application/x-ndjson`).
    Jsonl,
    /// A header row, then one row per event, as `gatehouse events --format csv` writes it.
    Csv,
}

/// Filters and paging. Parsed by hand rather than by serde because `type` repeats; unknown
/// parameters are refused as elsewhere in the admin API.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only this user's events: a username or a user id. A deleted user's id still finds their
    /// events; a name or id that matches neither a user nor any event is a 404.
    user: Option<String>,
    /// Only events of these types; repeat for several (`type=sign_in&type=login_error`).
    #[param(rename = "type", explode, style = Form, required = false)]
    kinds: Vec<String>,
    /// Only events at or after this time: a duration ago (`30m`, `1h`, `7d`, `2w`) or an RFC 3339
    /// time (`2026-01-31T12:00:00Z`).
    #[param(value_type = Option<String>)]
    since: Option<i64>,
    /// Only events before this time: a duration ago or an RFC 3339 time.
    #[param(value_type = Option<String>)]
    until: Option<i64>,
    /// Events per page, 1-1000; default 100 for `json`. For `jsonl` and `csv`, without `max`
    /// every matching event is streamed.
    #[param(minimum = 1, maximum = 1000)]
    max: Option<u64>,
    /// The paging cursor: only events older than this event id. Take it from the `Link` header.
    before: Option<i64>,
    /// `json` (default), `jsonl` or `csv`; the last two are sent as attachments.
    #[param(inline)]
    format: Option<EventFormat>,
}

const KNOWN: &str = "user, type, since, until, max, before, format";

impl EventQuery {
    fn parse(raw: Option<&str>, now: i64) -> Result<EventQuery, ApiError> {
        let mut q = EventQuery::default();
        let mut seen: Vec<String> = Vec::new();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if key != "type" {
                if seen.iter().any(|k| *k == key) {
                    return Err(ApiError::BadRequest(format!("give '{key}' at most once")));
                }
                seen.push(key.to_string());
            }
            let value = value.trim();
            let when = |v: &str| -> Result<i64, ApiError> { Ok(events::parse_when(v)?.resolve(now)) };
            match key.as_ref() {
                "user" if !value.is_empty() => q.user = Some(value.to_string()),
                "type" if !value.is_empty() => q.kinds.push(value.to_string()),
                "since" => q.since = Some(when(value)?),
                "until" => q.until = Some(when(value)?),
                "max" => {
                    q.max = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|m| (1..=MAX_LIMIT).contains(m))
                            .ok_or_else(|| {
                                ApiError::BadRequest(format!("bad max '{value}': give a number from 1 to {MAX_LIMIT}"))
                            })?,
                    )
                }
                "before" => {
                    q.before = Some(value.parse().map_err(|_| {
                        ApiError::BadRequest(format!(
                            "bad before '{value}': give the event id from the previous page's Link header"
                        ))
                    })?)
                }
                "format" => {
                    q.format = Some(match value {
                        "json" => EventFormat::Json,
                        "jsonl" => EventFormat::Jsonl,
                        "csv" => EventFormat::Csv,
                        _ => {
                            return Err(ApiError::BadRequest(format!(
                                "bad format '{value}': use json, jsonl or csv"
                            )));
                        }
                    })
                }
                "user" | "type" => return Err(ApiError::BadRequest(format!("'{key}' is empty"))),
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown query parameter '{other}'; known: {KNOWN}"
                    )));
                }
            }
        }
        Ok(q)
    }

    /// This query's URL for the page after `before` (absolute times, so that `since=1h` does
    /// not slide while a client walks the pages).
    fn next_url(&self, public_url: &str, realm: &str, before: i64) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(u) = &self.user {
            s.append_pair("user", u);
        }
        for k in &self.kinds {
            s.append_pair("type", k);
        }
        if let Some(t) = self.since {
            s.append_pair("since", &events::format_rfc3339(t));
        }
        if let Some(t) = self.until {
            s.append_pair("until", &events::format_rfc3339(t));
        }
        if let Some(m) = self.max {
            s.append_pair("max", &m.to_string());
        }
        if let Some(f) = self.format.filter(|f| *f != EventFormat::Json) {
            s.append_pair("format", if f == EventFormat::Csv { "csv" } else { "jsonl" });
        }
        s.append_pair("before", &before.to_string());
        format!("{public_url}/admin/realms/{realm}/events?{}", s.finish())
    }
}

impl From<EventsError> for ApiError {
    fn from(e: EventsError) -> ApiError {
        match e {
            EventsError::UnknownRealm(_) | EventsError::UnknownUser { .. } => ApiError::NotFound(e.to_string()),
            EventsError::BadDuration(_) | EventsError::BadTime(_) => ApiError::BadRequest(e.to_string()),
            EventsError::Store(s) => ApiError::from_store(s),
            EventsError::Write(w) => {
                tracing::error!(error = %w, "admin API: cannot render events");
                ApiError::Internal
            }
        }
    }
}

/// The realm in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RealmPath {
    /// Realm name
    realm: String,
}

/// Read and export a realm's security log.
///
/// Events come newest first. `format=json` (the default) returns one page of `max` events (default
/// 100); when more follow, the `Link` response header (`<URL>; rel="next"`) gives the URL of the
/// next page, with the same filters (times made absolute) and the cursor `before`. `format=jsonl`
/// and `format=csv` without `max` stream every matching event as an attachment; with `max` they
/// are paged like JSON. CSV has the columns of `gatehouse events --format csv`. An unknown user
/// is a 404 unless events still name that id (a deleted user). Reading the log is not itself
/// logged.
#[utoipa::path(
    get,
    path = "/admin/realms/{realm}/events",
    tag = "events",
    params(RealmPath, EventQuery),
    responses(
        (status = 200, description = "The matching events, newest first: a JSON array (`format=json`), JSON Lines or CSV",
            content(
                ([events::Event] = "application/json"),
                (String = "application/x-ndjson"),
                (String = "text/csv"),
            ),
            headers(("Link" = String, description = "`<URL>; rel=\"next\"`: the next page, present only when more events follow"))),
        (status = 400, description = "Bad query parameters (unknown, repeated, a bad time or number)", body = ErrorBody),
        CallerErrors,
        (status = 404, description = "No such realm, or no such user (that has no events either)", body = ErrorBody),
    )
)]
pub async fn list_events(
    _: RealmAdmin,
    State(app): State<Arc<AppState>>,
    Path(RealmPath { realm }): Path<RealmPath>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = EventQuery::parse(raw.as_deref(), crate::store::now())?;
    let format = q.format.unwrap_or_default();
    let mut filter = EventFilter {
        realm: realm.clone(),
        user: q.user.clone(),
        kinds: q.kinds.clone(),
        since: q.since,
        until: q.until,
        before: q.before,
        limit: Some(q.max.unwrap_or(events::DEFAULT_LIMIT)),
    };
    if format != EventFormat::Json && q.max.is_none() {
        filter.limit = Some(MAX_LIMIT);
        return stream_export(app, filter, format).await;
    }
    let page = events::query(&app.store, &filter).await?;
    // A full page may be the last one: only link onwards when something follows.
    let next = match page.next {
        Some(next) => {
            let probe = EventFilter {
                before: Some(next),
                limit: Some(1),
                ..filter
            };
            (!events::query(&app.store, &probe).await?.events.is_empty()).then_some(next)
        }
        None => None,
    };
    let body = match format {
        EventFormat::Json => serde_json::to_vec(&page.events).map_err(|e| EventsError::Write(e.into()))?,
        other => render(other, &page.events, true).to_vec(),
    };
    let mut response = with_headers(Body::from(body), format, &realm);
    if let Some(next) = next {
        let link = format!("<{}>; rel=\"next\"", q.next_url(&app.settings.public_url, &realm, next));
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(response)
}

/// Streams every matching event. The first page is read before answering, so that a bad
/// realm or user is a proper 404 rather than a broken stream.
async fn stream_export(app: Arc<AppState>, filter: EventFilter, format: EventFormat) -> Result<Response, ApiError> {
    let first = events::query(&app.store, &filter).await?;
    let realm = filter.realm.clone();
    let head = render(format, &first.events, true);
    struct Cursor {
        app: Arc<AppState>,
        filter: EventFilter,
        next: Option<i64>,
    }
    let rest = stream::unfold(
        Cursor {
            app,
            filter,
            next: first.next,
        },
        move |mut c| async move {
            c.filter.before = Some(c.next?);
            match events::query(&c.app.store, &c.filter).await {
                Ok(page) => {
                    c.next = page.next;
                    Some((Ok(render(format, &page.events, false)), c))
                }
                Err(e) => {
                    // The status is already sent: abort the body so the client sees it cut short.
                    tracing::error!(error = %e, "admin API: events export failed part way");
                    c.next = None;
                    Some((Err(std::io::Error::other(e.to_string())), c))
                }
            }
        },
    );
    let body = stream::iter([Ok::<Bytes, std::io::Error>(head)]).chain(rest);
    Ok(with_headers(Body::from_stream(body), format, &realm))
}

/// JSON Lines or CSV text of some events; `first` adds the CSV header (always, so that an
/// empty CSV still has its columns).
fn render(format: EventFormat, events: &[events::Event], first: bool) -> Bytes {
    let mut out = String::new();
    if first && format == EventFormat::Csv {
        out.push_str(events::export::CSV_HEADER);
        out.push('\n');
    }
    for e in events {
        match format {
            // The same lines as `gatehouse events --format jsonl`.
            EventFormat::Jsonl | EventFormat::Json => out.push_str(&events::export::jsonl_line(e)),
            EventFormat::Csv => out.push_str(&events::export::csv_row(e)),
        }
        out.push('\n');
    }
    Bytes::from(out)
}

fn with_headers(body: Body, format: EventFormat, realm: &str) -> Response {
    let (content_type, attachment) = match format {
        EventFormat::Json => ("application/json", None),
        EventFormat::Jsonl => ("application/x-ndjson", Some("jsonl")),
        EventFormat::Csv => ("text/csv; charset=utf-8", Some("csv")),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The security log is nobody's cache's business.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(ext) = attachment
        && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"events-{realm}.{ext}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
