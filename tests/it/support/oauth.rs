//! Raw OAuth requests, for tests that must see exact status codes, headers and error bodies
//! (the `openidconnect` relying party in `rp.rs` is used for the happy path).

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use url::Url;

use super::Harness;
use super::browser::{self, query};

/// A PKCE pair: (verifier, S256 challenge).
pub fn pkce_pair() -> (String, String) {
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    (verifier.secret().clone(), challenge.as_str().to_string())
}

/// An authorization request; `url()` renders it against a harness.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub nonce: String,
    /// `Some((challenge, method))`.
    pub pkce: Option<(String, String)>,
    pub extra: Vec<(String, String)>,
}

impl AuthRequest {
    /// A request for `client_id` with a fresh state, nonce and S256 challenge; returns the
    /// request and the PKCE verifier.
    pub fn new(client_id: &str, redirect_uri: &str) -> (AuthRequest, String) {
        let (verifier, challenge) = pkce_pair();
        let request = AuthRequest {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            scope: "openid profile email".into(),
            state: super::unique_name("state-"),
            nonce: super::unique_name("nonce-"),
            pkce: Some((challenge, "S256".into())),
            extra: vec![],
        };
        (request, verifier)
    }

    pub fn with(mut self, name: &str, value: &str) -> AuthRequest {
        self.extra.push((name.into(), value.into()));
        self
    }

    pub fn url(&self, h: &Harness) -> String {
        let mut url = Url::parse(&h.endpoint("auth")).expect("authorize URL");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("scope", &self.scope)
                .append_pair("state", &self.state)
                .append_pair("nonce", &self.nonce);
            if let Some((challenge, method)) = &self.pkce {
                q.append_pair("code_challenge", challenge)
                    .append_pair("code_challenge_method", method);
            }
            for (k, v) in &self.extra {
                q.append_pair(k, v);
            }
        }
        url.to_string()
    }
}

/// Checks an authorization response sent to the app and returns its code: right redirect URI,
/// same `state`, `iss` (RFC 9207) equal to the issuer.
pub fn code_from(h: &Harness, request: &AuthRequest, location: &Url) -> String {
    assert_eq!(
        browser::base_of(location),
        request.redirect_uri,
        "redirected elsewhere: {location}"
    );
    assert_eq!(query(location, "error"), None, "authorization failed: {location}");
    assert_eq!(
        query(location, "state").as_deref(),
        Some(request.state.as_str()),
        "state not returned: {location}"
    );
    assert_eq!(
        query(location, "iss"),
        Some(h.issuer()),
        "iss missing or wrong: {location}"
    );
    query(location, "code").unwrap_or_else(|| panic!("no code in {location}"))
}

/// Signs in as the standard user for `client_id` (or reuses the browser's SSO session) and
/// returns (code, verifier, request).
pub async fn authorize(
    h: &Harness,
    browser: &reqwest::Client,
    client_id: &str,
    redirect_uri: &str,
) -> (String, String, AuthRequest) {
    let (request, verifier) = AuthRequest::new(client_id, redirect_uri);
    let location = browser::sign_in_if_asked(browser, &request.url(h), super::USERNAME, super::PASSWORD).await;
    let code = code_from(h, &request, &location);
    (code, verifier, request)
}

/// How a client authenticates at the token, introspection and revocation endpoints.
#[derive(Debug, Clone, Copy)]
pub enum ClientAuth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
    /// A public client: `client_id` in the body, no secret.
    Public(&'a str),
}

pub fn web() -> ClientAuth<'static> {
    ClientAuth::Basic(super::WEB_CLIENT, super::WEB_SECRET)
}

pub fn other() -> ClientAuth<'static> {
    ClientAuth::Basic(super::OTHER_CLIENT, super::OTHER_SECRET)
}

/// A JSON answer of an OAuth endpoint.
#[derive(Debug)]
pub struct JsonResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl JsonResponse {
    pub fn str(&self, field: &str) -> Option<&str> {
        self.body.get(field).and_then(Value::as_str)
    }

    /// Asserts an OAuth error response: status, `error` code and a description.
    pub fn assert_error(&self, status: StatusCode, error: &str) {
        assert_eq!(
            self.status, status,
            "expected {status} {error}, got {} {}",
            self.status, self.text
        );
        assert_eq!(
            self.str("error"),
            Some(error),
            "expected error {error}, got {}",
            self.text
        );
    }

    pub fn assert_ok(&self) {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "expected 200, got {} {}",
            self.status,
            self.text
        );
    }
}

/// The `User-Agent` of [`backchannel`] calls, as the security log records them.
pub const BACKCHANNEL_AGENT: &str = "GatehouseTests/1.0 (a relying party's back channel)";

/// A plain HTTP client for back-channel calls (no cookies, no redirects).
pub fn backchannel() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(BACKCHANNEL_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build the back-channel client")
}

/// POSTs a form to `url` with client authentication.
pub async fn post_form(url: &str, auth: ClientAuth<'_>, params: &[(&str, &str)]) -> JsonResponse {
    post_form_with(&backchannel(), url, auth, params).await
}

/// [`post_form`] from another HTTP client (e.g. one bound to another loopback address).
pub async fn post_form_with(
    http: &reqwest::Client,
    url: &str,
    auth: ClientAuth<'_>,
    params: &[(&str, &str)],
) -> JsonResponse {
    let mut fields: Vec<(&str, &str)> = params.to_vec();
    let mut request = http.post(url);
    match auth {
        ClientAuth::Basic(id, secret) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            request = request.header("authorization", format!("Basic {encoded}"));
        }
        ClientAuth::Post(id, secret) => {
            fields.push(("client_id", id));
            fields.push(("client_secret", secret));
        }
        ClientAuth::Public(id) => fields.push(("client_id", id)),
    }
    let response = request
        .form(&fields)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    JsonResponse {
        status,
        headers,
        body,
        text,
    }
}

/// Exchanges a code at the token endpoint.
pub async fn exchange_code(
    h: &Harness,
    auth: ClientAuth<'_>,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> JsonResponse {
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = verifier {
        params.push(("code_verifier", v));
    }
    post_form(&h.endpoint("token"), auth, &params).await
}

pub async fn refresh(h: &Harness, auth: ClientAuth<'_>, refresh_token: &str) -> JsonResponse {
    post_form(
        &h.endpoint("token"),
        auth,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
    )
    .await
}

pub async fn introspect(h: &Harness, auth: ClientAuth<'_>, token: &str) -> JsonResponse {
    post_form(&h.endpoint("token/introspect"), auth, &[("token", token)]).await
}

/// Revokes a token (RFC 7009) and asserts the endpoint answers 200.
pub async fn revoke(h: &Harness, auth: ClientAuth<'_>, token: &str, hint: Option<&str>) {
    let mut params = vec![("token", token)];
    if let Some(hint) = hint {
        params.push(("token_type_hint", hint));
    }
    let r = post_form(&h.endpoint("revoke"), auth, &params).await;
    r.assert_ok();
}

/// GET userinfo with a Bearer token.
pub async fn userinfo(h: &Harness, access_token: &str) -> JsonResponse {
    let response = backchannel()
        .get(h.endpoint("userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("GET userinfo");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    JsonResponse {
        status,
        headers,
        body,
        text,
    }
}

/// Asserts userinfo refuses `token` with 401 and `WWW-Authenticate: Bearer error="invalid_token"`.
pub async fn assert_userinfo_rejects(h: &Harness, token: &str, why: &str) {
    let r = userinfo(h, token).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "{why}: userinfo answered {} {}",
        r.status,
        r.text
    );
    let challenge = r
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{why}: 401 without WWW-Authenticate"));
    assert!(challenge.starts_with("Bearer"), "{why}: challenge {challenge:?}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{why}: challenge {challenge:?}"
    );
}

/// The decoded (unverified) header and payload of a JWT.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut decode = |what: &str| -> Value {
        let part = parts.next().unwrap_or_else(|| panic!("JWT without {what}: {token}"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_else(|e| panic!("JWT {what} is not base64url: {e}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT {what} is not JSON: {e}"))
    };
    let header = decode("header");
    let payload = decode("payload");
    (header, payload)
}

/// Replaces a JWT's payload and keeps its header and signature (a forgery).
pub fn with_payload(token: &str, payload: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWS: {token}");
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{}.{}.{}", parts[0], encoded, parts[2])
}
