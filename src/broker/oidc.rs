//! An OpenID Connect provider: its endpoints from discovery, the code redeemed at its token
//! endpoint, the ID token verified against its keys (JWKS), issuer, audience, expiry and our
//! `nonce`; the address from the ID token, or from userinfo when the token has none.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::{Broker, BrokerError, Identity, Pending, text};
use crate::realm::IdentityProvider;

/// The signature algorithms an upstream ID token may use: asymmetric ones only.
const ALLOWED: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

async fn discovery(broker: &Broker, provider: &IdentityProvider) -> Result<serde_json::Value, BrokerError> {
    let url = provider
        .discovery_url
        .as_deref()
        .ok_or_else(|| BrokerError::Misconfigured("no discovery_url".into()))?;
    broker.cached_json(url, true).await
}

/// An endpoint the discovery document names: over https (plain http only on loopback).
fn endpoint(doc: &serde_json::Value, name: &str) -> Result<String, BrokerError> {
    let url =
        text(doc, name).ok_or_else(|| BrokerError::Unreachable(format!("the discovery document has no {name}")))?;
    crate::realm::endpoint_allowed(&url).map_err(|problem| BrokerError::Refused(format!("its {name} {problem}")))?;
    Ok(url)
}

/// The issuer, which must be the one whose document `discovery_url` is (OIDC Discovery §4.3).
fn issuer(doc: &serde_json::Value, provider: &IdentityProvider) -> Result<String, BrokerError> {
    let issuer = endpoint(doc, "issuer")?;
    let expected = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    if provider.discovery_url.as_deref() != Some(expected.as_str()) {
        return Err(BrokerError::Refused(format!(
            "its issuer {issuer} does not publish the discovery document at discovery_url"
        )));
    }
    Ok(issuer)
}

pub(super) async fn authorization_endpoint(
    broker: &Broker,
    provider: &IdentityProvider,
) -> Result<String, BrokerError> {
    let doc = discovery(broker, provider).await?;
    issuer(&doc, provider)?;
    endpoint(&doc, "authorization_endpoint")
}

pub(super) async fn finish(
    broker: &Broker,
    provider: &IdentityProvider,
    pending: &Pending,
    code: &str,
    redirect_uri: &str,
) -> Result<Identity, BrokerError> {
    let doc = discovery(broker, provider).await?;
    let issuer = issuer(&doc, provider)?;
    let tokens = broker
        .redeem(
            provider,
            &endpoint(&doc, "token_endpoint")?,
            pending,
            code,
            redirect_uri,
        )
        .await?;
    let id_token = text(&tokens, "id_token").ok_or_else(|| BrokerError::Refused("no ID token came back".into()))?;
    let claims = verify(broker, &doc, &issuer, provider, &id_token).await?;
    if text(&claims, "nonce").as_deref() != Some(pending.nonce.as_str()) {
        return Err(BrokerError::Refused(
            "the ID token is not for this sign-in (nonce)".into(),
        ));
    }
    let subject = text(&claims, "sub").ok_or_else(|| BrokerError::Refused("the ID token has no sub".into()))?;
    // The address may be only at userinfo (a provider that keeps ID tokens small).
    let mut profile = claims;
    if text(&profile, "email").is_none()
        && let (Some(userinfo), Some(access)) = (text(&doc, "userinfo_endpoint"), text(&tokens, "access_token"))
    {
        let sent = broker.http.get(&userinfo).bearer_auth(access).send().await;
        let info = super::read_json(sent).await?;
        if text(&info, "sub").as_deref() == Some(subject.as_str()) {
            profile = info;
        }
    }
    Ok(Identity {
        subject,
        username: text(&profile, "preferred_username"),
        email: text(&profile, "email").map(|e| e.to_lowercase()),
        email_verified: profile.get("email_verified").and_then(|v| v.as_bool()) == Some(true),
        first_name: text(&profile, "given_name"),
        last_name: text(&profile, "family_name"),
    })
}

/// The ID token's claims, once its signature (a key of the provider's JWKS), issuer, audience
/// and expiry hold. An unknown key id reads the keys again once (the provider rotated them).
async fn verify(
    broker: &Broker,
    doc: &serde_json::Value,
    issuer: &str,
    provider: &IdentityProvider,
    id_token: &str,
) -> Result<serde_json::Value, BrokerError> {
    let refused = |why: &str| BrokerError::Refused(format!("the ID token {why}"));
    let header = jsonwebtoken::decode_header(id_token).map_err(|_| refused("is not a JWT"))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(refused("is not signed with an asymmetric key"));
    }
    let jwks_uri = endpoint(doc, "jwks_uri")?;
    let mut key = None;
    for fresh in [true, false] {
        let keys: JwkSet = serde_json::from_value(broker.cached_json(&jwks_uri, fresh).await?)
            .map_err(|_| BrokerError::Unreachable("the provider's keys (JWKS) do not read".into()))?;
        key = match header.kid.as_deref() {
            Some(kid) => keys.find(kid).cloned(),
            None => (keys.keys.len() == 1).then(|| keys.keys[0].clone()),
        };
        if key.is_some() {
            break;
        }
    }
    let key = key.ok_or_else(|| refused("is signed with a key the provider does not publish"))?;
    let key = DecodingKey::from_jwk(&key).map_err(|_| refused("names a key that cannot verify"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[&provider.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 30;
    let data = jsonwebtoken::decode::<serde_json::Value>(id_token, &key, &validation)
        .map_err(|e| refused(&format!("does not hold up ({e})")))?;
    Ok(data.claims)
}
