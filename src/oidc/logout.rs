//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

use serde::Deserialize;

use crate::server::{AppState, RealmRuntime};

#[derive(Debug, Deserialize)]
struct HintClaims {
    sub: String,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    aud: serde_json::Value,
}

/// What an `id_token_hint` says, if it is an ID token this realm signed (expired is fine:
/// a hint identifies, it does not authorize).
pub struct Hint {
    pub sub: String,
    pub sid: Option<String>,
    pub client_id: Option<String>,
}

pub fn parse_hint(app: &AppState, rt: &RealmRuntime, token: &str) -> Option<Hint> {
    let keys = app.keys.get(&rt.realm.name)?;
    let claims: HintClaims = keys.verifying.verify_id_token_hint(token, &rt.issuer).ok()?;
    let client_id = match &claims.aud {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => a.first().and_then(|v| v.as_str()).map(String::from),
        _ => None,
    };
    Some(Hint {
        sub: claims.sub,
        sid: claims.sid,
        client_id,
    })
}

pub fn hint_subject(app: &AppState, rt: &RealmRuntime, token: &str) -> Option<String> {
    parse_hint(app, rt, token).map(|h| h.sub)
}

/// Where to send the browser after logout, if the request named a registered URI.
pub enum LogoutTarget {
    Redirect(String),
    Page,
}

/// Validates `post_logout_redirect_uri` against the client named by `client_id` or the hint.
pub fn target(
    rt: &RealmRuntime,
    hint: Option<&Hint>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    state: Option<&str>,
) -> Result<LogoutTarget, String> {
    let Some(uri) = post_logout_redirect_uri else {
        return Ok(LogoutTarget::Page);
    };
    let client_id = client_id
        .or(hint.and_then(|h| h.client_id.as_deref()))
        .ok_or("post_logout_redirect_uri needs id_token_hint or client_id")?;
    if let Some(h) = hint
        && h.client_id.as_deref().is_some_and(|c| c != client_id)
    {
        return Err("client_id does not match the id_token_hint".into());
    }
    let client = rt.realm.clients.get(client_id).ok_or("unknown client_id")?;
    if !client.has_post_logout_redirect_uri(uri) {
        return Err(format!(
            "'{uri}' is not a registered post-logout redirect URI for '{client_id}'"
        ));
    }
    let params: Vec<(String, String)> = state
        .map(|s| vec![("state".to_string(), s.to_string())])
        .unwrap_or_default();
    Ok(LogoutTarget::Redirect(super::authorize::redirect_url(uri, &params)))
}
