//! GitHub: OAuth 2 (no ID token), then its user API for the account's id and login, and its
//! addresses (`/user/emails`, which says which are verified).

use super::{Broker, BrokerError, Identity, Pending, text};
use crate::realm::IdentityProvider;

const AUTHORIZE: &str = "https://github.com/login/oauth/authorize";
const TOKEN: &str = "https://github.com/login/oauth/access_token";
const API: &str = "https://api.github.com";

pub(super) fn authorization_endpoint(provider: &IdentityProvider) -> String {
    provider.authorization_url.clone().unwrap_or_else(|| AUTHORIZE.into())
}

pub(super) async fn finish(
    broker: &Broker,
    provider: &IdentityProvider,
    pending: &Pending,
    code: &str,
    redirect_uri: &str,
) -> Result<Identity, BrokerError> {
    let token_url = provider.token_url.as_deref().unwrap_or(TOKEN);
    let tokens = broker.redeem(provider, token_url, pending, code, redirect_uri).await?;
    let access =
        text(&tokens, "access_token").ok_or_else(|| BrokerError::Refused("no access token came back".into()))?;
    let api = provider.api_url.as_deref().unwrap_or(API).trim_end_matches('/');
    let get = |path: &str| {
        broker
            .http
            .get(format!("{api}{path}"))
            .bearer_auth(&access)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .send()
    };
    let user = super::read_json(get("/user").await).await?;
    let subject = user
        .get("id")
        .and_then(|id| id.as_u64())
        .map(|id| id.to_string())
        .ok_or_else(|| BrokerError::Refused("GitHub's user has no id".into()))?;
    // Only `/user/emails` says whether an address is verified; the primary one is taken.
    let emails = super::read_json(get("/user/emails").await).await?;
    let listed = emails.as_array().cloned().unwrap_or_default();
    let chosen = listed
        .iter()
        .find(|e| e.get("primary").and_then(|p| p.as_bool()) == Some(true))
        .or_else(|| listed.first());
    let (email, email_verified) = match chosen {
        Some(e) => (
            text(e, "email").map(|a| a.to_lowercase()),
            e.get("verified").and_then(|v| v.as_bool()) == Some(true),
        ),
        None => (text(&user, "email").map(|a| a.to_lowercase()), false),
    };
    let (first_name, last_name) = match text(&user, "name") {
        Some(name) => match name.rsplit_once(' ') {
            Some((first, last)) => (Some(first.to_string()), Some(last.to_string())),
            None => (Some(name), None),
        },
        None => (None, None),
    };
    Ok(Identity {
        subject,
        username: text(&user, "login"),
        email,
        email_verified,
        first_name,
        last_name,
    })
}
