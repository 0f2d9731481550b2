//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;

use super::error::PageProblem;
use crate::crypto::{constant_time_eq, random_token, sha256_hex};
use crate::state::{AppState, RealmRuntime};
use crate::store::StoreError;

#[derive(Debug, Deserialize)]
struct HintClaims {
    sub: String,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    aud: serde_json::Value,
    #[serde(default)]
    exp: i64,
}

/// What an `id_token_hint` says, if it is an ID token this realm signed (expired is fine:
/// a hint identifies, it does not authorize).
pub struct Hint {
    pub sub: String,
    pub sid: Option<String>,
    pub client_id: Option<String>,
    /// Past its `exp`: it still says who, but proves nothing about holding a live sign-in.
    pub expired: bool,
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
        expired: claims.exp <= crate::store::now(),
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
) -> Result<LogoutTarget, PageProblem> {
    let Some(uri) = post_logout_redirect_uri else {
        return Ok(LogoutTarget::Page);
    };
    let client_id = client_id
        .or(hint.and_then(|h| h.client_id.as_deref()))
        .ok_or_else(|| PageProblem::new("logoutRedirectNeedsClient"))?;
    if let Some(h) = hint
        && h.client_id.as_deref().is_some_and(|c| c != client_id)
    {
        return Err(PageProblem::new("logoutHintOfAnotherClient"));
    }
    let client = rt
        .realm
        .clients
        .get(client_id)
        .ok_or_else(|| PageProblem::new("unknownClient").arg("client", client_id))?;
    if !client.has_post_logout_redirect_uri(uri) {
        return Err(PageProblem::new("unregisteredLogoutRedirectUri")
            .arg("uri", uri)
            .arg("client", client_id));
    }
    let params: Vec<(String, String)> = state
        .map(|s| vec![("state".to_string(), s.to_string())])
        .unwrap_or_default();
    Ok(LogoutTarget::Redirect(super::authorize::redirect_url(uri, &params)))
}

/// What a logout request leads to.
pub enum LogoutOutcome {
    /// The request is wrong (e.g. an unregistered redirect URI): show this, redirect nowhere.
    Invalid(PageProblem),
    /// Ask the user first; the form re-posts `carry` with `csrf`.
    Confirm { carry: Vec<(String, String)>, csrf: String },
    /// Signed out (whatever sessions applied have ended); go here.
    Done(LogoutTarget),
}

/// Decides and carries out a logout. With an `id_token_hint` that names the signed-in user
/// the session ends at once; otherwise the user confirms on a page (with a CSRF token bound
/// to the session cookie), so a third-party page or someone else's ID token cannot sign
/// them out (RP-Initiated Logout §2, §6). A hint presented from a browser without a session
/// ends the hint's session only after confirmation, and only while the hint is unexpired.
pub async fn logout(
    app: &AppState,
    rt: &RealmRuntime,
    params: &HashMap<String, String>,
    is_post: bool,
    session_cookie: Option<&str>,
) -> Result<LogoutOutcome, StoreError> {
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    // A hint that does not verify (e.g. its key is gone) counts as absent: the user confirms.
    let hint = get("id_token_hint").and_then(|h| parse_hint(app, rt, h));
    let target = match target(
        rt,
        hint.as_ref(),
        get("client_id"),
        get("post_logout_redirect_uri"),
        get("state"),
    ) {
        Ok(t) => t,
        Err(message) => return Ok(LogoutOutcome::Invalid(message)),
    };
    let idle = rt.realm.tokens.sso_idle.as_secs();
    let cookie_session = match session_cookie {
        Some(c) => {
            app.store
                .active_sso_session(&rt.realm.name, &sha256_hex(c.as_bytes()), idle)
                .await?
        }
        None => None,
    };
    let csrf_expected = confirmation_csrf(session_cookie, get("id_token_hint"));
    let confirmed = is_post
        && get("confirm") == Some("yes")
        && matches!((get("csrf"), &csrf_expected), (Some(a), Some(b)) if constant_time_eq(a.as_bytes(), b.as_bytes()));
    let hint_names_user = matches!((&hint, &cookie_session), (Some(h), Some(s)) if h.sub == s.user_id);
    // A browser with a session confirms unless the hint names its user; a browser without
    // one always confirms before a hint (which may be expired, or leaked) ends anything.
    let must_confirm = match &cookie_session {
        Some(_) => !hint_names_user,
        None => hint.is_some(),
    };
    if must_confirm && !confirmed {
        return Ok(confirmation(params, csrf_expected));
    }
    let ended = sessions_to_end(app, hint.as_ref(), cookie_session, hint_names_user, idle).await?;
    end_sessions(app, rt, ended).await?;
    Ok(LogoutOutcome::Done(target))
}

/// The browser's session; and the hint's session when the hint speaks for this browser's
/// user (or there is no browser session, as when an app signs its user out elsewhere).
/// Someone else's hint never ends their session from this browser.
/// An expired hint never ends a session from a browser that has none of its own: a leaked
/// old ID token is no proof of anything.
async fn sessions_to_end(
    app: &AppState,
    hint: Option<&Hint>,
    cookie_session: Option<crate::store::entity::sso_session::Model>,
    hint_names_user: bool,
    idle: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let hint_applies = hint_names_user || (cookie_session.is_none() && hint.is_some_and(|h| !h.expired));
    let mut ended = Vec::new();
    if let Some(s) = cookie_session {
        ended.push((s.id, s.user_id));
    }
    if hint_applies
        && let Some(h) = hint
        && let Some(sid) = &h.sid
        && !ended.iter().any(|(id, _)| id == sid)
        && let Some(s) = app.store.live_sso_session_by_id(sid, idle).await?
        && h.sub == s.user_id
    {
        ended.push((s.id, s.user_id));
    }
    Ok(ended)
}

/// Ask the person first: the request's parameters are carried through the confirmation form.
fn confirmation(params: &HashMap<String, String>, csrf: Option<String>) -> LogoutOutcome {
    let carry = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"]
        .into_iter()
        .filter_map(|k| {
            params
                .get(k)
                .filter(|v| !v.is_empty())
                .map(|v| (k.to_string(), v.clone()))
        })
        .collect();
    LogoutOutcome::Confirm {
        carry,
        csrf: csrf.unwrap_or_else(random_token),
    }
}

/// The confirmation form's CSRF token: bound to the session cookie, or, in a browser without
/// one, to the hint it confirms.
fn confirmation_csrf(session_cookie: Option<&str>, hint: Option<&str>) -> Option<String> {
    match (session_cookie, hint) {
        (Some(c), _) => Some(sha256_hex(format!("logout:{c}").as_bytes())),
        (None, Some(h)) => Some(sha256_hex(format!("logout-hint:{h}").as_bytes())),
        (None, None) => None,
    }
}

/// Ends each `(session id, user id)` and logs it.
async fn end_sessions(app: &AppState, rt: &RealmRuntime, ended: Vec<(String, String)>) -> Result<(), StoreError> {
    for (sid, user_id) in ended {
        app.store.end_sso_session(&sid).await?;
        let event = crate::store::NewEvent {
            realm: rt.realm.name.clone(),
            kind: "logout".into(),
            user_id: Some(user_id),
            details: json!({ "sid": sid }),
            ..Default::default()
        };
        crate::events::record(&app.store, event).await;
    }
    Ok(())
}

/// Keycloak's back-channel logout by refresh token: a client posts one of its refresh tokens
/// (authenticating as itself) to the logout endpoint, and the sign-in session the token belongs
/// to ends, with every app's tokens under it. A token of another client, or one no longer live,
/// is `invalid_grant`.
pub async fn by_refresh_token(
    app: &AppState,
    rt: &RealmRuntime,
    client: &crate::realm::Client,
    refresh_token: &str,
) -> Result<(), super::error::OAuthError> {
    use super::error::OAuthError;
    let found = app
        .store
        .live_refresh_token(&sha256_hex(refresh_token.as_bytes()))
        .await?;
    let Some((_, grant)) = found else {
        return Err(OAuthError::invalid_grant(
            "the refresh token is not valid (spent, expired or revoked)",
        ));
    };
    if grant.client_id != client.client_id || grant.realm != rt.realm.name {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    match (grant.session_id, grant.user_id) {
        (Some(sid), Some(user_id)) => end_sessions(app, rt, vec![(sid, user_id)]).await?,
        _ => {
            app.store.revoke_grant(&grant.id).await?;
        }
    }
    Ok(())
}
