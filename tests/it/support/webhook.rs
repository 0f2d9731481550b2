//! A real HTTP listener on loopback that keeps the requests an SMS webhook receives: the
//! gateway's side of the SMS tests. It can be told to fail the next requests (a gateway that is
//! down) and checks nothing itself: the tests check signatures as a receiver would.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hook {
    pub signature: Option<String>,
    pub message_id: Option<String>,
    pub body: Vec<u8>,
}

impl Hook {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the webhook body is JSON")
    }

    /// The six-digit code in the text.
    pub fn code(&self) -> String {
        let body = self.json()["body"].as_str().unwrap_or_default().to_string();
        body.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap_or_else(|| panic!("no code in: {body}"))
            .to_string()
    }

    /// Whether the signature header is right for `secret`, checked as a receiver would.
    pub fn signed_with(&self, secret: &str) -> bool {
        let Some(sig) = &self.signature else { return false };
        let Some((t, v1)) = sig.split_once(",v1=") else {
            return false;
        };
        let Some(t) = t.strip_prefix("t=") else { return false };
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(&self.body);
        gatehouse::crypto::hmac_sha256_hex(secret.as_bytes(), &signed) == v1
    }
}

struct Shared {
    received: Mutex<Vec<Hook>>,
    arrived: Notify,
    failures_left: AtomicUsize,
}

pub struct WebhookListener {
    pub url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for WebhookListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookListener {
    pub async fn start() -> WebhookListener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook listener");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            failures_left: AtomicUsize::new(0),
        });
        let state = shared.clone();
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let failing = state
                        .failures_left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if failing {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
                    state.received.lock().unwrap().push(Hook {
                        signature: header("x-gatehouse-signature"),
                        message_id: header("x-gatehouse-message-id"),
                        body: body.to_vec(),
                    });
                    state.arrived.notify_waiters();
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookListener {
            url: format!("http://127.0.0.1:{port}/sms"),
            shared,
            task,
        }
    }

    /// The next `n` requests are answered 503, as by a gateway that is down.
    pub fn fail_next(&self, n: usize) {
        self.shared.failures_left.store(n, Ordering::SeqCst);
    }

    /// Failures still to answer.
    pub fn failures_left(&self) -> usize {
        self.shared.failures_left.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Hook> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits for the `n`-th accepted request (1-based) and returns it.
    pub async fn nth(&self, n: usize) -> Hook {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.shared.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.received();
            if now.len() >= n {
                return now[n - 1].clone();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("expected {n} texts within 30 s, got {}", self.received().len());
            }
        }
    }
}
