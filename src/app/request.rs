//! Per-request bookkeeping: a request id on the response and on every log line (a `request`
//! span), an access-log line, and the request metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use crate::ops::metrics::{self, Metrics, UNMATCHED};

/// A `&str`, not a `HeaderName` constant: those hold a `Bytes` (interior mutability).
pub const REQUEST_ID: &str = "x-request-id";

/// The id of the current request, in the request's extensions for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Reuses a sane incoming id (a load balancer's, so logs correlate across hops); anything
/// else is replaced, so a client cannot inject text into the logs.
pub fn incoming_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(REQUEST_ID)?.to_str().ok()?;
    let sane = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    sane.then(|| value.to_string())
}

/// A new request id. Ids must be unique, not secret: a random prefix per process (so the ids
/// of several nodes do not collide) and a counter, rather than a call into the CSPRNG on
/// every request (measurable on discovery and JWKS, which do little else).
fn next_request_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| crate::crypto::new_id().chars().take(12).collect());
    format!("{prefix}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Routes polled by machines are logged at debug, so probes do not drown the access log.
fn is_probe(route: &str) -> bool {
    matches!(route, "/health/live" | "/health/ready" | "/metrics")
}

/// The method label; anything unusual is `other`, so clients cannot grow the label set.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware (outermost layer, so it sees every response, including 408 and 413).
pub async fn track(State(metrics): State<Arc<Metrics>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = incoming_id(request.headers()).unwrap_or_else(next_request_id);
    // The template, never the raw path: it bounds label cardinality and keeps whatever a
    // client put in the path out of the logs.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| UNMATCHED.to_string());
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = method_label(&method),
        route = %route
    );
    request.extensions_mut().insert(RequestId(id.clone()));
    let counted = crate::store::counting_statements(next.run(request));
    let (mut response, db_statements) = metrics::scope(metrics.clone(), counted).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics.observe_request(&route, method_label(&method), status, elapsed, db_statements);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if is_probe(&route) {
            tracing::debug!(status, latency_ms, "request finished");
        } else {
            tracing::info!(status, latency_ms, "request finished");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The answer to a request whose handler panicked (tower-http's `CatchPanicLayer` calls this):
/// a plain 500, never a dropped connection. The panic is logged at error level, inside the
/// request's span (request id, route), and counted in `gatehouse_http_panics_total`.
pub fn panicked(metrics: &Metrics, panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    metrics.handler_panicked();
    // A panic message may quote what a client sent.
    tracing::error!(panic = %crate::ops::logging::untrusted(message), "request handler panicked; answered 500");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        "Internal server error: the server log has the details.",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn new_ids_are_unique_and_would_be_reused_as_incoming_ids() {
        let (a, b) = (next_request_id(), next_request_id());
        assert_ne!(a, b);
        assert_eq!(incoming_id(&with(&a)).as_deref(), Some(a.as_str()));
    }

    #[test]
    fn only_sane_incoming_ids_are_reused() {
        assert_eq!(incoming_id(&with("lb-42_a.b")).as_deref(), Some("lb-42_a.b"));
        assert_eq!(incoming_id(&with(&"a".repeat(64))).map(|s| s.len()), Some(64));
        assert_eq!(incoming_id(&with(&"a".repeat(65))), None);
        assert_eq!(incoming_id(&with("")), None);
        assert_eq!(incoming_id(&with("a b")), None);
        assert_eq!(incoming_id(&with("x\"}")), None);
        assert_eq!(incoming_id(&HeaderMap::new()), None);
    }
}
