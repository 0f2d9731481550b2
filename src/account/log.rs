//! The user's own security log: sign-ins (successful and failed), password and factor changes,
//! sessions ended, admin changes to them; filtered by kind and time, paged, and exported in the
//! admin export's formats (CSV, JSON Lines).

use serde::Serialize;

use super::{AccountError, Viewer};
use crate::events::export::Format;
use crate::events::{EventFilter, time::When};
use crate::ops::geoip::GeoIp;
use crate::state::{AppState, RealmRuntime};
use crate::store::{Store, now};

/// Events per page.
pub const PAGE_SIZE: u64 = 50;
/// Events in one download, at most.
pub const DOWNLOAD_MAX: u64 = 10_000;

/// The views of the log the page offers.
pub const VIEWS: &[(&str, &[&str])] = &[
    ("all", &[]),
    ("sign-ins", &["sign_in", "login_error"]),
    (
        "changes",
        &[
            "password_changed",
            "password_reset",
            "profile_updated",
            "user_updated",
            "credential_added",
            "credential_removed",
            "credential_renamed",
            "phone_code_sent",
            "phone_verified",
            "trusted_device_added",
            "trusted_device_revoked",
            "phone_removed",
            "recovery_codes_regenerated",
            "required_action_added",
            "required_action_removed",
            "personal_access_token_created",
            "personal_access_token_revoked",
            "session_revoked",
            "sessions_revoked",
            "role_granted",
            "role_revoked",
            "organization_joined",
            "organization_left",
            "organization_member_added",
            "organization_member_removed",
            "organization_member_roles_changed",
            "organization_access_denied",
            "logout",
        ],
    ),
];

/// Periods the page offers, as the events CLI writes them.
pub const PERIODS: &[&str] = &["24h", "7d", "30d", "all"];

/// What the person asked for: a view, a period, a page cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub view: &'static str,
    pub period: &'static str,
    pub before: Option<i64>,
}

impl LogQuery {
    /// From the query string; anything unknown falls back to everything.
    pub fn parse(view: Option<&str>, period: Option<&str>, before: Option<&str>) -> LogQuery {
        LogQuery {
            view: VIEWS
                .iter()
                .map(|(name, _)| *name)
                .find(|v| Some(*v) == view)
                .unwrap_or("all"),
            period: PERIODS.iter().copied().find(|p| Some(*p) == period).unwrap_or("30d"),
            before: before.and_then(|b| b.parse().ok()),
        }
    }

    pub fn filter(&self, rt: &RealmRuntime, viewer: &Viewer, limit: u64) -> EventFilter {
        let kinds = VIEWS
            .iter()
            .find(|(name, _)| *name == self.view)
            .map(|(_, kinds)| kinds.iter().map(|k| k.to_string()).collect())
            .unwrap_or_default();
        let since = crate::events::time::parse_when(self.period)
            .ok()
            .map(|w: When| w.resolve(now()));
        EventFilter {
            realm: rt.realm.name.clone(),
            user: Some(viewer.user.id.clone()),
            kinds,
            since,
            until: None,
            before: self.before,
            limit: Some(limit),
        }
    }
}

/// One line of the log, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The event's id (newer events have larger ones).
    pub id: i64,
    pub time: i64,
    pub kind: String,
    /// `success` or `failure`.
    pub outcome: &'static str,
    /// Why it failed, or what changed (a short code from the event).
    pub reason: Option<String>,
    pub client: Option<String>,
    pub ip: Option<String>,
    /// Approximate place of the address, with a GeoIP database.
    pub location: Option<String>,
    pub browser: String,
    pub os: String,
    /// For sign-ins: how the person proved who they are (`password`, `code`, `recovery code`,
    /// `session`), from the flow's trace.
    pub methods: Vec<&'static str>,
    /// For sign-ins: whether a second factor was asked for.
    pub second_factor: bool,
    /// A successful sign-in from a browser, system and place none of the earlier sign-ins
    /// listed with it came from (see [`mark_unfamiliar`]).
    pub unfamiliar: bool,
}

/// Marks each successful sign-in whose browser (any version), system and place (location, or
/// address without one) differ from every older successful sign-in in `entries` (newest
/// first). The oldest sign-in has nothing to differ from and is never marked.
pub fn mark_unfamiliar(entries: &mut [Entry]) {
    fn signed_in(e: &Entry) -> bool {
        e.kind == "sign_in" && e.outcome == "success"
    }
    fn device(e: &Entry) -> (&str, &str, Option<&str>) {
        let browser = e.browser.rsplit_once(' ').map_or(e.browser.as_str(), |(name, _)| name);
        (browser, e.os.as_str(), e.location.as_deref().or(e.ip.as_deref()))
    }
    for i in 0..entries.len() {
        if !signed_in(&entries[i]) {
            continue;
        }
        let mut older = entries[i + 1..].iter().filter(|o| signed_in(o)).peekable();
        let has_history = older.peek().is_some();
        let seen = older.any(|o| device(o) == device(&entries[i]));
        entries[i].unfamiliar = has_history && !seen;
    }
}

/// What a sign-in's trace (`steps`, e.g. `otp-form:success`) says about how it went.
fn methods_of(details: &serde_json::Value) -> (Vec<&'static str>, bool) {
    let steps: Vec<&str> = details
        .get("steps")
        .and_then(|s| s.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    let mut methods = Vec::new();
    for step in &steps {
        let Some(name) = step.strip_suffix(":success") else {
            continue;
        };
        let method = match name {
            "username-password-form" | "password-form" => "password",
            "otp-form" => "code",
            "recovery-code-form" => "recovery code",
            "cookie" => "session",
            _ => continue,
        };
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    let second = steps
        .iter()
        .any(|s| s.starts_with("otp-form") || s.starts_with("recovery-code-form"));
    (methods, second)
}

/// An event as its user may see it: what an administrator (or the CLI) did to the account
/// keeps its kind and time, but not the administrator's address, browser, client or name.
fn as_seen_by_user(mut e: crate::events::Event) -> crate::events::Event {
    let by_admin = e
        .details
        .get("by")
        .and_then(|b| b.as_str())
        .is_some_and(|by| by != "user");
    if by_admin {
        e.ip = None;
        e.user_agent = None;
        e.client_id = None;
        if let Some(obj) = e.details.as_object_mut() {
            obj.insert("by".into(), serde_json::json!("administrator"));
        }
    }
    e
}

/// How many earlier sign-ins a sign-in is compared with for [`mark_unfamiliar`].
const FAMILIAR_HISTORY: u64 = 500;

/// Flags the unfamiliar sign-ins among `entries`, each compared with up to
/// [`FAMILIAR_HISTORY`] of the user's sign-ins before it (not only those on the same page).
async fn flag_unfamiliar(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    entries: &mut [Entry],
) -> Result<(), AccountError> {
    let Some(newest) = entries.iter().filter(|e| e.kind == "sign_in").map(|e| e.id).max() else {
        return Ok(());
    };
    let oldest = entries
        .iter()
        .filter(|e| e.kind == "sign_in")
        .map(|e| e.id)
        .min()
        .unwrap_or(newest);
    let page_sign_ins = entries.iter().filter(|e| e.kind == "sign_in").count() as u64;
    let filter = EventFilter {
        realm: rt.realm.name.clone(),
        user: Some(viewer.user.id.clone()),
        kinds: vec!["sign_in".into()],
        since: None,
        until: None,
        before: Some(newest + 1),
        limit: Some((page_sign_ins + FAMILIAR_HISTORY).min(crate::events::MAX_LIMIT)),
    };
    let found = crate::events::query(&app.store, &filter).await?;
    let mut history: Vec<Entry> = found.events.into_iter().map(|e| entry(e, &app.geoip, "en")).collect();
    mark_unfamiliar(&mut history);
    let flagged: std::collections::HashSet<i64> = history
        .iter()
        .filter(|h| h.unfamiliar && h.id >= oldest)
        .map(|h| h.id)
        .collect();
    for e in entries.iter_mut() {
        e.unfamiliar = flagged.contains(&e.id);
    }
    Ok(())
}

fn entry(e: crate::events::Event, geoip: &GeoIp, lang: &str) -> Entry {
    let e = as_seen_by_user(e);
    let agent = crate::web::agent::describe(e.user_agent.as_deref());
    let (methods, second_factor) = methods_of(&e.details);
    let failed = e.kind.ends_with("_error") || e.kind.ends_with("_refused");
    let reason = ["reason", "type"]
        .iter()
        .find_map(|k| e.details.get(*k).and_then(|v| v.as_str()).map(str::to_string));
    Entry {
        id: e.id,
        time: e.timestamp,
        outcome: if failed { "failure" } else { "success" },
        kind: e.kind,
        reason,
        client: e.client_id,
        location: e.ip.as_deref().and_then(|ip| geoip.locate(ip, lang)),
        ip: e.ip,
        browser: agent.browser,
        os: agent.os,
        methods,
        second_factor,
        unfamiliar: false,
    }
}

/// One page of the viewer's log, newest first, places named in `lang`, and the cursor of the
/// next (older) page.
pub async fn page(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    q: &LogQuery,
    lang: &str,
) -> Result<(Vec<Entry>, Option<i64>), AccountError> {
    let found = crate::events::query(&app.store, &q.filter(rt, viewer, PAGE_SIZE)).await?;
    let mut entries: Vec<Entry> = found.events.into_iter().map(|e| entry(e, &app.geoip, lang)).collect();
    flag_unfamiliar(app, rt, viewer, &mut entries).await?;
    Ok((entries, found.next))
}

/// The JSON face's query (`GET /account/log`): `type` (event types, comma-separated), `since`
/// (a duration such as `7d`, or an RFC 3339 time), `first` (entries to skip, at most
/// [`API_FIRST_MAX`]) and `max` (entries, at most [`API_MAX`]; default [`PAGE_SIZE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiQuery {
    pub kinds: Vec<String>,
    pub since: Option<i64>,
    pub first: u64,
    pub max: u64,
}

/// The most entries one JSON answer holds, and the most it may skip.
pub const API_MAX: u64 = 100;
pub const API_FIRST_MAX: u64 = 1_000;

impl ApiQuery {
    /// The viewer's events this query selects.
    pub fn filter(&self, rt: &RealmRuntime, viewer: &Viewer) -> EventFilter {
        EventFilter {
            realm: rt.realm.name.clone(),
            user: Some(viewer.user.id.clone()),
            kinds: self.kinds.clone(),
            since: self.since,
            until: None,
            before: None,
            limit: None,
        }
    }

    /// From the query string; a value that is not one is named in the error.
    pub fn parse(
        kinds: Option<&str>,
        since: Option<&str>,
        first: Option<&str>,
        max: Option<&str>,
    ) -> Result<ApiQuery, String> {
        let number = |name: &str, text: Option<&str>, default: u64, most: u64| match text {
            None => Ok(default),
            Some(t) => t
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= most)
                .ok_or_else(|| format!("{name} must be a whole number from 0 to {most}")),
        };
        let since = match since {
            None => None,
            Some(t) => Some(
                crate::events::time::parse_when(t)
                    .map_err(|_| "since must be a duration such as 7d or an RFC 3339 time".to_string())?
                    .resolve(now()),
            ),
        };
        Ok(ApiQuery {
            kinds: kinds
                .map(|k| {
                    k.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            since,
            first: number("first", first, 0, API_FIRST_MAX)?,
            max: number("max", max, PAGE_SIZE, API_MAX)?,
        })
    }
}

/// The entries `q` asks for, newest first, places named in English.
pub async fn api_entries(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    q: &ApiQuery,
) -> Result<Vec<Entry>, AccountError> {
    let wanted = q.first + q.max;
    let mut filter = q.filter(rt, viewer);
    filter.limit = Some(wanted.min(crate::events::MAX_LIMIT));
    let mut events = Vec::new();
    while (events.len() as u64) < wanted {
        let found = crate::events::query(&app.store, &filter).await?;
        events.extend(found.events);
        match found.next {
            Some(next) => filter.before = Some(next),
            None => break,
        }
    }
    let mut entries: Vec<Entry> = events
        .into_iter()
        .skip(q.first as usize)
        .take(q.max as usize)
        .map(|e| entry(e, &app.geoip, "en"))
        .collect();
    flag_unfamiliar(app, rt, viewer, &mut entries).await?;
    Ok(entries)
}

/// The viewer's log (the newest [`DOWNLOAD_MAX`] matching events) as CSV or JSON Lines, in
/// the admin export's format.
pub async fn download(store: &Store, filter: EventFilter, format: Format) -> Result<Vec<u8>, AccountError> {
    let mut filter = EventFilter {
        limit: Some(crate::events::MAX_LIMIT),
        before: None,
        ..filter
    };
    let mut out: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    // Page by page; the writer runs between awaits (it is not `Send`).
    while (events.len() as u64) < DOWNLOAD_MAX {
        let found = crate::events::query(store, &filter).await?;
        events.extend(found.events);
        match found.next {
            Some(next) => filter.before = Some(next),
            None => break,
        }
    }
    events.truncate(DOWNLOAD_MAX as usize);
    let events: Vec<crate::events::Event> = events.into_iter().map(as_seen_by_user).collect();
    let mut writer = crate::events::export::Writer::new(format, &mut out);
    for e in &events {
        writer.write(e).map_err(crate::events::EventsError::from)?;
    }
    writer.finish().map_err(crate::events::EventsError::from)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_trace_names_its_methods_and_the_second_factor() {
        let details = serde_json::json!({ "steps": [
            "cookie:attempted", "username-password-form:success", "condition user-configured:true",
            "otp-form:challenge", "recovery-code-form:success"
        ] });
        assert_eq!(methods_of(&details), (vec!["password", "recovery code"], true));
        assert_eq!(
            methods_of(&serde_json::json!({ "steps": ["cookie:success"] })),
            (vec!["session"], false)
        );
        assert_eq!(methods_of(&serde_json::json!({})), (vec![], false));
    }

    fn sign_in(browser: &str, os: &str, ip: &str) -> Entry {
        Entry {
            id: 0,
            time: 0,
            kind: "sign_in".into(),
            outcome: "success",
            reason: None,
            client: None,
            ip: Some(ip.into()),
            location: None,
            browser: browser.into(),
            os: os.into(),
            methods: vec![],
            second_factor: false,
            unfamiliar: false,
        }
    }

    #[test]
    fn a_sign_in_unlike_every_earlier_one_is_unfamiliar() {
        // Newest first.
        let mut entries = vec![
            sign_in("Safari 17", "iPhone", "203.0.113.9"),
            sign_in("Chrome 132", "Linux", "198.51.100.7"),
            sign_in("Chrome 131", "Linux", "198.51.100.7"),
        ];
        mark_unfamiliar(&mut entries);
        let marks: Vec<bool> = entries.iter().map(|e| e.unfamiliar).collect();
        assert_eq!(
            marks,
            [true, false, false],
            "a browser update is not a new device; the first is not news"
        );
        let mut failed = vec![
            sign_in("Safari 17", "iPhone", "203.0.113.9"),
            sign_in("Chrome 131", "Linux", "198.51.100.7"),
        ];
        failed[0].outcome = "failure";
        mark_unfamiliar(&mut failed);
        assert!(!failed[0].unfamiliar);
    }

    #[test]
    fn api_queries_are_checked() {
        let q = ApiQuery::parse(Some("sign_in, logout"), None, Some("10"), None).expect("valid");
        assert_eq!(
            (q.kinds, q.since, q.first, q.max),
            (vec!["sign_in".to_string(), "logout".into()], None, 10, PAGE_SIZE)
        );
        let since = ApiQuery::parse(None, Some("1h"), None, Some("5")).expect("valid");
        assert!(since.since.is_some_and(|s| (now() - 3600 - s).abs() <= 1), "{since:?}");
        let err = ApiQuery::parse(None, None, None, Some("1000")).expect_err("too many");
        assert!(err.contains("max"), "{err}");
        assert!(ApiQuery::parse(None, Some("yesterday"), None, None).is_err());
        assert!(ApiQuery::parse(None, None, Some("-1"), None).is_err());
    }

    #[test]
    fn queries_fall_back_to_what_the_page_offers() {
        assert_eq!(
            LogQuery::parse(Some("sign-ins"), Some("7d"), Some("42")),
            LogQuery {
                view: "sign-ins",
                period: "7d",
                before: Some(42)
            }
        );
        assert_eq!(
            LogQuery::parse(Some("<script>"), Some("1000y"), Some("x")),
            LogQuery {
                view: "all",
                period: "30d",
                before: None
            }
        );
    }
}
