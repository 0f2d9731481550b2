//! Upstream sign-in providers (identity brokering): the authorization request sent to an
//! OpenID Connect provider or to GitHub, with `state`, `nonce` and PKCE; and what comes back to
//! the callback, checked (the ID token against the provider's keys and issuer): the account's
//! stable id, its name and its email address, verified or not.

mod github;
mod oidc;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::crypto::{random_token, sha256_b64};
use crate::realm::{IdentityProvider, ProviderKind};

/// How long a provider's discovery document and keys are kept before they are read again.
const CACHE_FOR: Duration = Duration::from_secs(600);
/// The largest answer read from a provider.
const MAX_BODY: usize = 1 << 20;
/// How long an upstream request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The provider could not be reached, or answered with something unreadable.
    #[error("the sign-in provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider refused (its `error`), or what it sent does not hold up.
    #[error("the sign-in provider's answer was refused: {0}")]
    Refused(String),
    /// The realm's settings for it cannot be used (e.g. its secret is not in the environment).
    #[error("the sign-in provider is not set up: {0}")]
    Misconfigured(String),
}

/// What the sign-in keeps between sending the person upstream and their return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub alias: String,
    pub state: String,
    pub nonce: String,
    /// The PKCE verifier, when the provider uses PKCE.
    pub verifier: Option<String>,
}

/// The upstream account, as the provider vouches for it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Identity {
    /// Its stable id at the provider (`sub`; GitHub's numeric id).
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    /// The provider asserts the address is the account holder's.
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// The node's client for upstream providers, with their discovery documents and keys cached.
pub struct Broker {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Instant, serde_json::Value)>>,
}

impl Default for Broker {
    fn default() -> Self {
        Broker::new()
    }
}

impl Broker {
    pub fn new() -> Broker {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
            // Upstream answers are read as they come: a redirect is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Broker {
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Where to send the person, and what to keep until they come back to `redirect_uri`.
    pub async fn start(
        &self,
        provider: &IdentityProvider,
        redirect_uri: &str,
    ) -> Result<(String, Pending), BrokerError> {
        let pending = Pending {
            alias: provider.alias.clone(),
            state: random_token(),
            nonce: random_token(),
            verifier: provider.pkce.then(random_token),
        };
        let endpoint = match provider.kind {
            ProviderKind::Oidc => oidc::authorization_endpoint(self, provider).await?,
            ProviderKind::Github => github::authorization_endpoint(provider),
        };
        let mut url = url::Url::parse(&endpoint).map_err(|e| BrokerError::Unreachable(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &provider.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &provider.scopes.join(" "))
                .append_pair("state", &pending.state);
            if provider.kind == ProviderKind::Oidc {
                q.append_pair("nonce", &pending.nonce);
            }
            if let Some(verifier) = &pending.verifier {
                q.append_pair("code_challenge", &sha256_b64(verifier.as_bytes()))
                    .append_pair("code_challenge_method", "S256");
            }
        }
        Ok((url.to_string(), pending))
    }

    /// The account behind `code`, which the provider sent back to `redirect_uri`.
    pub async fn finish(
        &self,
        provider: &IdentityProvider,
        pending: &Pending,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Identity, BrokerError> {
        match provider.kind {
            ProviderKind::Oidc => oidc::finish(self, provider, pending, code, redirect_uri).await,
            ProviderKind::Github => github::finish(self, provider, pending, code, redirect_uri).await,
        }
    }

    /// A JSON document, from the cache while it is fresh.
    async fn cached_json(&self, url: &str, fresh: bool) -> Result<serde_json::Value, BrokerError> {
        if fresh
            && let Ok(cache) = self.cache.lock()
            && let Some((at, doc)) = cache.get(url)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(doc.clone());
        }
        let doc: serde_json::Value = read_json(self.http.get(url).send().await).await?;
        if doc.get("error").is_some() {
            return Err(BrokerError::Unreachable("a provider document answered an error".into()));
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(url.to_string(), (Instant::now(), doc.clone()));
        }
        Ok(doc)
    }

    /// The token endpoint's answer to the code (RFC 6749 §4.1.3), the client authenticating
    /// with HTTP Basic (its id and secret form-encoded first, §2.3.1).
    async fn redeem(
        &self,
        provider: &IdentityProvider,
        token_endpoint: &str,
        pending: &Pending,
        code: &str,
        redirect_uri: &str,
    ) -> Result<serde_json::Value, BrokerError> {
        let secret = client_secret(provider)?;
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", redirect_uri);
            if let Some(verifier) = &pending.verifier {
                form.append_pair("code_verifier", verifier);
            }
            form.finish()
        };
        let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", encode(&provider.client_id), encode(&secret));
        let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair);
        let sent = self
            .http
            .post(token_endpoint)
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        let answer: serde_json::Value = read_json(sent).await?;
        if let Some(error) = answer.get("error").and_then(|e| e.as_str()) {
            return Err(BrokerError::Refused(format!("the token endpoint answered {error}")));
        }
        Ok(answer)
    }
}

/// The provider's client secret, from the environment variable its settings name.
fn client_secret(provider: &IdentityProvider) -> Result<String, BrokerError> {
    let name = crate::realm::env_reference(&provider.client_secret)
        .ok_or_else(|| BrokerError::Misconfigured("client_secret is not ${env:NAME}".into()))?;
    std::env::var(name).map_err(|_| BrokerError::Misconfigured(format!("{name} is not set")))
}

/// A response's JSON body (at most [`MAX_BODY`] bytes), or why there is none. A token
/// endpoint's 400 carries its `error` as JSON; every other answer but 2xx is a failure.
async fn read_json(sent: Result<reqwest::Response, reqwest::Error>) -> Result<serde_json::Value, BrokerError> {
    let unreachable = |e: reqwest::Error| BrokerError::Unreachable(e.without_url().to_string());
    let mut response = sent.map_err(unreachable)?;
    let status = response.status();
    if !status.is_success() && status != reqwest::StatusCode::BAD_REQUEST {
        return Err(BrokerError::Unreachable(format!("it answered {status}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(BrokerError::Unreachable("its answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| BrokerError::Unreachable(format!("a {status} answer that is not JSON")))?;
    if status == reqwest::StatusCode::BAD_REQUEST && json.get("error").is_none() {
        return Err(BrokerError::Unreachable(format!("it answered {status}")));
    }
    Ok(json)
}

/// The callback a provider returns the person to: `{public_url}/realms/{realm}/broker/{alias}/endpoint`
/// (Keycloak's path).
pub fn callback_url(public_url: &str, realm: &str, alias: &str) -> String {
    format!("{public_url}/realms/{realm}/broker/{alias}/endpoint")
}

/// A string claim of a JSON object.
fn text(v: &serde_json::Value, name: &str) -> Option<String> {
    v.get(name)
        .and_then(|x| x.as_str())
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}
