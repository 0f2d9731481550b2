//! A small loopback HTTP server playing GitHub's side of OAuth (the authorization endpoint
//! approves at once, as if the person pressed "Authorize"), its token endpoint (which checks the
//! client's Basic credentials, the code and the PKCE verifier, as GitHub does) and the user API
//! (`/api/user`, `/api/user/emails`) for the account the test sets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The account GitHub says the person signed in with.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: u64,
    pub login: String,
    pub name: Option<String>,
    /// (address, primary, verified)
    pub emails: Vec<(String, bool, bool)>,
}

#[derive(Default)]
struct Shared {
    account: Mutex<Option<Account>>,
    /// code → (PKCE challenge, redirect URI)
    codes: Mutex<HashMap<String, (Option<String>, String)>>,
    tokens: Mutex<Vec<String>>,
}

pub struct FakeGitHub {
    pub url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub const CLIENT_ID: &str = "gh-client";

impl FakeGitHub {
    /// Starts it; `secret` is the OAuth app's client secret.
    pub async fn start(secret: &str) -> FakeGitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared::default());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{secret}"));
        let app = axum::Router::new()
            .route("/login/oauth/authorize", axum::routing::get(authorize))
            .route(
                "/login/oauth/access_token",
                axum::routing::post(move |state: State<Arc<Shared>>, headers: HeaderMap, body: String| {
                    token(state, headers, body, format!("Basic {basic}"))
                }),
            )
            .route("/api/user", axum::routing::get(user))
            .route("/api/user/emails", axum::routing::get(emails))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGitHub {
            url: format!("http://127.0.0.1:{port}"),
            shared,
            task,
        }
    }

    /// The account the next sign-ins are of.
    pub fn signs_in_as(&self, account: Account) {
        *self.shared.account.lock().unwrap() = Some(account);
    }
}

async fn authorize(State(shared): State<Arc<Shared>>, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    }
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    let code = format!("code-{}", gatehouse::crypto::new_id());
    let challenge = q.get("code_challenge").cloned();
    shared
        .codes
        .lock()
        .unwrap()
        .insert(code.clone(), (challenge, redirect_uri.clone()));
    let state = q.get("state").cloned().unwrap_or_default();
    let mut back = url::Url::parse(&redirect_uri).expect("a redirect URI");
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state);
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String, expected: String) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if authorization != Some(expected.as_str()) {
        return axum::Json(json!({ "error": "incorrect_client_credentials" })).into_response();
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let code = form.get("code").cloned().unwrap_or_default();
    let Some((challenge, redirect_uri)) = shared.codes.lock().unwrap().remove(&code) else {
        return axum::Json(json!({ "error": "bad_verification_code" })).into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let hashed = gatehouse::crypto::sha256_b64(verifier.as_bytes());
    if challenge.as_deref() != Some(hashed.as_str()) || form.get("redirect_uri") != Some(&redirect_uri) {
        return axum::Json(json!({ "error": "bad_verification_code" })).into_response();
    }
    let access = format!("gho_{}", gatehouse::crypto::new_id());
    shared.tokens.lock().unwrap().push(access.clone());
    axum::Json(json!({ "access_token": access, "token_type": "bearer", "scope": "read:user,user:email" }))
        .into_response()
}

fn account_of(shared: &Shared, headers: &HeaderMap) -> Option<Account> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    if !shared.tokens.lock().unwrap().iter().any(|t| t == bearer) {
        return None;
    }
    shared.account.lock().unwrap().clone()
}

async fn user(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match account_of(&shared, &headers) {
        Some(a) => axum::Json(json!({ "id": a.id, "login": a.login, "name": a.name, "email": null })).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn emails(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match account_of(&shared, &headers) {
        Some(a) => {
            let list: Vec<Value> = a
                .emails
                .iter()
                .map(|(email, primary, verified)| json!({ "email": email, "primary": primary, "verified": verified }))
                .collect();
            axum::Json(Value::Array(list)).into_response()
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}
