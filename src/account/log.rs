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
            "credential_added",
            "credential_removed",
            "recovery_codes_regenerated",
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

    fn filter(&self, rt: &RealmRuntime, viewer: &Viewer, limit: u64) -> EventFilter {
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

fn entry(e: crate::events::Event, geoip: &GeoIp, lang: &str) -> Entry {
    let agent = super::agent::describe(e.user_agent.as_deref());
    let (methods, second_factor) = methods_of(&e.details);
    let failed = e.kind.ends_with("_error") || e.kind.ends_with("_refused");
    let reason = ["reason", "type"]
        .iter()
        .find_map(|k| e.details.get(*k).and_then(|v| v.as_str()).map(str::to_string));
    Entry {
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
    let entries = found.events.into_iter().map(|e| entry(e, &app.geoip, lang)).collect();
    Ok((entries, found.next))
}

/// The viewer's log (the newest [`DOWNLOAD_MAX`] matching events) as CSV or JSON Lines, in
/// the admin export's format.
pub async fn download(
    store: &Store,
    rt: &RealmRuntime,
    viewer: &Viewer,
    q: &LogQuery,
    format: Format,
) -> Result<Vec<u8>, AccountError> {
    let mut filter = q.filter(rt, viewer, crate::events::MAX_LIMIT);
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
