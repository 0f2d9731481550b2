//! Prometheus metrics, kept in atomics and rendered in the text exposition format (0.0.4) at
//! scrape time. Labels are bounded: routes are templates (`/realms/{realm}/…`, never raw
//! paths), methods are the standard ones, grants and results are fixed sets, realms come from
//! configuration.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The grant labels of `gatehouse_tokens_issued_total`.
pub const GRANTS: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

tokio::task_local! {
    /// The metrics of the server handling the current request. Security events are recorded
    /// deep in domain code that holds only the store; this lets them be counted per server
    /// (several servers share one process in tests) without threading a handle through.
    static CURRENT: Arc<Metrics>;
}

/// Runs `fut` (a request) with `metrics` as the current server's metrics.
pub async fn scope<F: Future>(metrics: Arc<Metrics>, fut: F) -> F::Output {
    CURRENT.scope(metrics, fut).await
}

/// Counts a recorded security event, if it is one a metric follows: `sign_in` is a finished
/// sign-in, `login_error` a failed attempt (wrong password or code, lockout, denied access).
pub fn count_event(kind: &str) {
    let result = match kind {
        "sign_in" => SignIn::Success,
        "login_error" => SignIn::Failure,
        _ => return,
    };
    let _ = CURRENT.try_with(|m| m.sign_in(result));
}

#[derive(Debug, Clone, Copy)]
pub enum SignIn {
    Success,
    Failure,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct RequestKey {
    route: String,
    method: &'static str,
    status: u16,
}

/// A latency histogram; buckets are not cumulative here, they are summed when rendered.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
    /// Database statements run by the route's requests (beside the latency, as it is per route).
    db_statements: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration, db_statements: u64) {
        self.db_statements.fetch_add(db_statements, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|le| secs <= *le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// One server's metrics. Recording takes a read lock for a map lookup and bumps atomics; the
/// write lock is taken only the first time a label combination is seen. No lock is held
/// across an await.
#[derive(Default)]
pub struct Metrics {
    requests: RwLock<HashMap<RequestKey, AtomicU64>>,
    durations: RwLock<HashMap<String, Histogram>>,
    sign_ins: [AtomicU64; 2],
    tokens: [AtomicU64; 3],
    panics: AtomicU64,
    events_dropped: AtomicU64,
    /// Live SSO sessions per realm, read at most once per `active_sessions_interval_secs`.
    pub active_sessions: super::gauge::CachedGauge,
}

/// Gauges read at scrape time.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Live SSO sessions per realm; `None` when the store could not be read.
    pub active_sessions: Option<Vec<(String, u64)>>,
    pub hashes_waiting: usize,
    pub hashes_running: usize,
    pub passwords_verified: usize,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// Records one finished request and the database statements it ran.
    pub fn observe_request(
        &self,
        route: &str,
        method: &'static str,
        status: u16,
        elapsed: Duration,
        db_statements: u64,
    ) {
        let key = RequestKey {
            route: route.to_string(),
            method,
            status,
        };
        let counted = self
            .requests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .map(|c| c.fetch_add(1, Ordering::Relaxed))
            .is_some();
        if !counted {
            let mut map = self.requests.write().unwrap_or_else(|p| p.into_inner());
            map.entry(key).or_default().fetch_add(1, Ordering::Relaxed);
        }
        let observed = self
            .durations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
            .map(|h| h.observe(elapsed, db_statements))
            .is_some();
        if !observed {
            let mut map = self.durations.write().unwrap_or_else(|p| p.into_inner());
            map.entry(route.to_string())
                .or_default()
                .observe(elapsed, db_statements);
        }
    }

    pub fn sign_in(&self, result: SignIn) {
        self.sign_ins[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A failed sign-in's security event was not recorded: its address spent its budget.
    pub fn event_dropped(&self) {
        self.events_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// A request handler panicked (answered with a 500 instead).
    pub fn handler_panicked(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }

    /// A token response for `grant` (one of [`GRANTS`]; others are not counted).
    pub fn token_issued(&self, grant: &str) {
        if let Some(i) = GRANTS.iter().position(|g| *g == grant) {
            self.tokens[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text exposition format.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::with_capacity(4096);
        self.render_requests(&mut out);
        self.render_durations(&mut out);
        let sign_ins = ["success", "failure"].iter().zip(&self.sign_ins);
        labelled(
            &mut out,
            (
                "gatehouse_sign_ins_total",
                "counter",
                "Finished sign-ins and failed sign-in attempts.",
            ),
            "result",
            sign_ins.map(|(result, n)| (result.to_string(), n.load(Ordering::Relaxed))),
        );
        labelled(
            &mut out,
            (
                "gatehouse_tokens_issued_total",
                "counter",
                "Token responses by grant type.",
            ),
            "grant",
            GRANTS
                .iter()
                .zip(&self.tokens)
                .map(|(g, n)| (g.to_string(), n.load(Ordering::Relaxed))),
        );
        let panics = self.panics.load(Ordering::Relaxed);
        let help = "Requests whose handler panicked (each answered with a 500).";
        single(&mut out, ("gatehouse_http_panics_total", "counter", help), panics);
        let dropped = self.events_dropped.load(Ordering::Relaxed);
        let help = "Failed-sign-in events not recorded because their client address spent its budget.";
        single(
            &mut out,
            ("gatehouse_security_events_dropped_total", "counter", help),
            dropped,
        );
        if let Some(sessions) = &snapshot.active_sessions {
            let help = "Live SSO sessions (not ended, expired or idle).";
            let live = sessions.iter().map(|(realm, n)| (realm.clone(), *n));
            labelled(&mut out, ("gatehouse_active_sessions", "gauge", help), "realm", live);
        }
        let waiting = snapshot.hashes_waiting as u64;
        let help = "Password hashes waiting for a worker.";
        single(&mut out, ("gatehouse_argon2_queue_depth", "gauge", help), waiting);
        let running = snapshot.hashes_running as u64;
        single(
            &mut out,
            ("gatehouse_argon2_in_flight", "gauge", "Password hashes running now."),
            running,
        );
        let verified = snapshot.passwords_verified as u64;
        let help = "Passwords checked against a hash (each one argon2 run).";
        single(
            &mut out,
            ("gatehouse_password_verifications_total", "counter", help),
            verified,
        );
        out
    }

    fn render_requests(&self, out: &mut String) {
        let requests: BTreeMap<RequestKey, u64> = self
            .requests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
            .collect();
        let help = "HTTP requests by route template, method and status.";
        header(out, "http_requests_total", "counter", help);
        for (k, n) in &requests {
            let _ = writeln!(
                out,
                "http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {n}",
                escape(&k.route),
                k.method,
                k.status
            );
        }
    }

    /// The latency histograms and the statements per route.
    fn render_durations(&self, out: &mut String) {
        let help = "Time to answer an HTTP request (until the response head), by route template.";
        header(out, "http_request_duration_seconds", "histogram", help);
        let durations = self.durations.read().unwrap_or_else(|p| p.into_inner());
        let mut routes: Vec<(&String, &Histogram)> = durations.iter().collect();
        routes.sort_by_key(|(route, _)| *route);
        for (route, h) in &routes {
            let route = escape(route);
            let mut cumulative = 0;
            for (le, bucket) in BUCKETS.iter().zip(&h.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(out, "http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}");
            let _ = writeln!(out, "http_request_duration_seconds_count{{route=\"{route}\"}} {count}");
        }
        let help = "Database statements run while answering requests, by route template.";
        header(out, "gatehouse_db_statements_total", "counter", help);
        for (route, h) in routes {
            let n = h.db_statements.load(Ordering::Relaxed);
            let _ = writeln!(out, "gatehouse_db_statements_total{{route=\"{}\"}} {n}", escape(route));
        }
    }
}

/// `# HELP`/`# TYPE` of `(name, kind, help)` and one sample without labels.
fn single(out: &mut String, (name, kind, help): (&str, &str, &str), value: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// `# HELP`/`# TYPE` of `(name, kind, help)` and one sample per value of `label`.
fn labelled(
    out: &mut String,
    (name, kind, help): (&str, &str, &str),
    label: &str,
    samples: impl Iterator<Item = (String, u64)>,
) {
    header(out, name, kind, help);
    for (value, n) in samples {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape(&value));
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::new();
        let route = "/realms/{realm}/protocol/openid-connect/token";
        m.observe_request(route, "POST", 200, Duration::from_micros(500), 2);
        m.observe_request(route, "POST", 200, Duration::from_millis(20), 3);
        m.observe_request(route, "other", 400, Duration::from_secs(60), 0);
        m.token_issued("refresh_token");
        m.sign_in(SignIn::Failure);
        m.handler_panicked();
        m.event_dropped();
        let text = m.render(&Snapshot {
            active_sessions: Some(vec![("a\"b".into(), 2)]),
            hashes_waiting: 3,
            hashes_running: 1,
            passwords_verified: 7,
        });
        assert!(text.contains(&format!(
            "http_requests_total{{route=\"{route}\",method=\"POST\",status=\"200\"}} 2"
        )));
        assert!(text.contains(&format!("gatehouse_db_statements_total{{route=\"{route}\"}} 5")));
        assert!(text.contains(&format!(
            "http_requests_total{{route=\"{route}\",method=\"other\",status=\"400\"}} 1"
        )));
        assert!(text.contains(&format!(
            "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"0.001\"}} 1"
        )));
        assert!(text.contains(&format!(
            "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"0.025\"}} 2"
        )));
        assert!(text.contains(&format!(
            "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"10\"}} 2"
        )));
        assert!(text.contains(&format!(
            "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} 3"
        )));
        assert!(text.contains(&format!("http_request_duration_seconds_count{{route=\"{route}\"}} 3")));
        assert!(text.contains("gatehouse_tokens_issued_total{grant=\"refresh_token\"} 1"));
        assert!(text.contains("gatehouse_tokens_issued_total{grant=\"client_credentials\"} 0"));
        assert!(text.contains("gatehouse_sign_ins_total{result=\"failure\"} 1"));
        assert!(text.contains("gatehouse_active_sessions{realm=\"a\\\"b\"} 2"));
        assert!(text.contains("gatehouse_argon2_queue_depth 3"));
        assert!(text.contains("gatehouse_argon2_in_flight 1"));
        assert!(text.contains("gatehouse_password_verifications_total 7"));
        assert!(text.contains("gatehouse_http_panics_total 1"));
        assert!(text.contains("gatehouse_security_events_dropped_total 1"));
    }

    #[tokio::test]
    async fn events_count_only_inside_a_request_scope() {
        let m = Metrics::new();
        count_event("sign_in");
        scope(m.clone(), async {
            count_event("sign_in");
            count_event("login_error");
            count_event("logout");
        })
        .await;
        assert_eq!(m.sign_ins[0].load(Ordering::Relaxed), 1);
        assert_eq!(m.sign_ins[1].load(Ordering::Relaxed), 1);
    }
}
