//! The end of a successful sign-in: the SSO session (new, or the one that signed the user in)
//! and the authorization code, written together; the new-login alert; the sign-in event.

use super::browser::{Browser, Next};
use crate::crypto::{new_id, random_token, sha256_hex};
use crate::flow::EngineError;
use crate::flow::FlowState;
use crate::oidc::authorize::AuthorizeRequest;
use crate::oidc::jwt::SignInFacts;
use crate::state::{AppState, RealmRuntime};
use crate::store::entity::sso_session;
use crate::store::{NewAuthCode, NewSsoSession, now};

/// A new SSO session for `user_id`, and the cookie that names it (stored only as a hash).
fn new_sso_session(
    rt: &RealmRuntime,
    user_id: &str,
    who: &Browser,
    amr: &[String],
    acr: &str,
    auth_time: i64,
) -> (NewSsoSession, String) {
    let cookie = random_token();
    let session = NewSsoSession {
        id: new_id(),
        token_hash: sha256_hex(cookie.as_bytes()),
        realm: rt.realm.name.clone(),
        user_id: user_id.to_string(),
        auth_time,
        amr: amr.to_vec(),
        acr: Some(acr.to_string()),
        max_lifetime_secs: rt.realm.tokens.sso_max.as_secs(),
        ip: who.ip.clone(),
        user_agent: who.user_agent.clone(),
    };
    (session, cookie)
}

/// Everything succeeded: create the SSO session (unless an existing one signed the user in)
/// and the code, in one transaction. A new session replaces the browser's `current` one
/// (e.g. after `prompt=login`), which ends rather than stay live behind a cookie the browser no
/// longer holds. When the same user signed in again, the apps signed in under the old session
/// move to the new one (a fresh sign-in, as before a sensitive change, signs no app out);
/// another user's old session ends with its tokens.
pub(super) async fn finish(
    app: &AppState,
    rt: &RealmRuntime,
    request: &AuthorizeRequest,
    flow: &mut FlowState,
    who: &Browser,
    trace: serde_json::Value,
    current: Option<sso_session::Model>,
) -> Result<Next, EngineError> {
    let user_id = flow.user_id.clone().ok_or(EngineError::NoUser)?;
    keep_session_without_new_factor(flow);
    let t = now();
    let (amr, level) = crate::flow::methods_and_level(&flow.amr);
    let reached = crate::flow::level::reached(&amr);
    if crate::flow::level::unmet(request.acr.as_ref(), reached) {
        return Ok(unmet(request));
    }
    if let Some(client) = rt.realm.clients.get(&request.client_id) {
        let attempt = crate::orgs::Attempt {
            ip: who.ip.as_deref(),
            amr: &amr,
            auth_time: flow.auth_time.unwrap_or(t),
            now: t,
        };
        let admitted = crate::orgs::admit(&app.store, &rt.realm, client, &user_id, &attempt).await?;
        if let crate::orgs::Admission::Refused(refusal) = admitted {
            return Ok(refused(request, &refusal.message));
        }
    }
    let acr = crate::flow::level::claim(&rt.realm, request.acr.as_ref(), reached);
    let session = sso_session_for(rt, flow, &user_id, who, &amr, level, t);
    let session_id = session.id.clone();
    let (new_session, new_cookie) = session.new.unzip();
    let code = random_token();
    let facts = SignInFacts {
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: session.auth_time,
        amr,
        acr: Some(acr),
        claims: request.claims.clone(),
    };
    let new_code = NewAuthCode {
        code_hash: sha256_hex(code.as_bytes()),
        realm: rt.realm.name.clone(),
        client_id: request.client_id.clone(),
        user_id: user_id.clone(),
        session_id: session.id,
        redirect_uri: request.redirect_uri.clone(),
        data: serde_json::to_string(&facts).unwrap_or_default(),
        ttl_secs: rt.realm.tokens.code_ttl.as_secs(),
    };
    let replaces = new_session.is_some();
    app.store.complete_sign_in(new_session, new_code).await?;
    if replaces && let Some(old) = current {
        if old.user_id == user_id {
            app.store.hand_over_sso_session(&old.id, &session_id, &user_id).await?;
        } else {
            app.store.end_sso_session(&old.id).await?;
        }
    }
    if replaces {
        super::alerts::after_sign_in(app, rt, &user_id, &session_id, who).await;
    }
    let device_cookie = remember_device(app, rt, flow, &user_id, who).await?;
    record_sign_in(app, rt, request, who, user_id, trace).await;
    let mut target = request.target();
    target.kc_action_status = flow.aia_status.clone();
    Ok(Next::Respond {
        target,
        result: Ok(code),
        sso_cookie: new_cookie,
        device_cookie,
    })
}

/// A step-up that proved nothing new (the user has no further factor the flow could ask) keeps
/// the session it started from, with its `auth_time`: a new session would pass for a fresh
/// sign-in (`max_age`, the console's recent sign-in) that never happened.
fn keep_session_without_new_factor(flow: &mut FlowState) {
    let Some(from) = flow.carried_from.clone() else { return };
    let nothing_new = flow.amr.iter().all(|m| flow.carried_amr.contains(m));
    if nothing_new && flow.user_id.as_deref() == Some(from.user_id.as_str()) {
        flow.sso_session_id = Some(from.session_id);
        flow.auth_time = Some(from.auth_time);
    }
}

/// The app insisted on a level of authentication this sign-in could not reach (the user has
/// no second factor the flow could ask for): OIDC's `unmet_authentication_requirements`.
fn unmet(request: &AuthorizeRequest) -> Next {
    Next::Respond {
        target: request.target(),
        result: Err(crate::oidc::error::RedirectError::new(
            "unmet_authentication_requirements",
            "the sign-in could not reach the level of authentication the app requires",
        )),
        sso_cookie: None,
        device_cookie: None,
    }
}

/// The app belongs to an organization the user is not a member of: `access_denied`, before
/// any session or code is made.
fn refused(request: &AuthorizeRequest, why: &str) -> Next {
    Next::Respond {
        target: request.target(),
        result: Err(crate::oidc::error::RedirectError::new("access_denied", why)),
        sso_cookie: None,
        device_cookie: None,
    }
}

/// "Remember this device" was ticked on a second-factor page: a device record, and the cookie
/// (its id and a secret whose hash it keeps) the browser holds for the realm's days.
async fn remember_device(
    app: &AppState,
    rt: &RealmRuntime,
    flow: &FlowState,
    user_id: &str,
    who: &Browser,
) -> Result<Option<(String, u32)>, EngineError> {
    let settings = &rt.realm.trusted_devices;
    if !flow.remember_device || !settings.enabled {
        return Ok(None);
    }
    // The record this browser held before (if any) is replaced, not kept beside the new one.
    if let Some((old, _)) = who.device_cookie.as_deref().and_then(|c| c.split_once('.')) {
        app.store.revoke_trusted_device(user_id, old).await?;
    }
    let agent = crate::web::agent::describe(who.user_agent.as_deref());
    let name = format!("{} · {}", agent.browser, agent.os);
    let secret = random_token();
    let id = app
        .store
        .add_trusted_device(
            &rt.realm.name,
            user_id,
            &name,
            sha256_hex(secret.as_bytes()),
            settings.days,
        )
        .await?;
    let event = crate::store::NewEvent {
        realm: rt.realm.name.clone(),
        kind: "trusted_device_added".into(),
        user_id: Some(user_id.to_string()),
        client_id: None,
        ip: who.ip.clone(),
        user_agent: who.user_agent.clone(),
        details: serde_json::json!({ "device": id, "name": name, "days": settings.days }),
    };
    crate::events::record(&app.store, event).await;
    Ok(Some((format!("{id}.{secret}"), settings.days)))
}

/// The SSO session a sign-in belongs to.
struct SessionChoice {
    /// A new session to write, and the cookie that carries it; `None` when re-used.
    new: Option<(NewSsoSession, String)>,
    id: String,
    auth_time: i64,
}

/// The session the flow re-used (with its original `auth_time`), or a new one.
fn sso_session_for(
    rt: &RealmRuntime,
    flow: &FlowState,
    user_id: &str,
    who: &Browser,
    amr: &[String],
    acr: &str,
    t: i64,
) -> SessionChoice {
    match (&flow.sso_session_id, flow.auth_time) {
        (Some(sid), Some(auth_time)) => SessionChoice {
            new: None,
            id: sid.clone(),
            auth_time,
        },
        _ => {
            let (session, cookie) = new_sso_session(rt, user_id, who, amr, acr, t);
            SessionChoice {
                id: session.id.clone(),
                new: Some((session, cookie)),
                auth_time: t,
            }
        }
    }
}

async fn record_sign_in(
    app: &AppState,
    rt: &RealmRuntime,
    request: &AuthorizeRequest,
    who: &Browser,
    user_id: String,
    trace: serde_json::Value,
) {
    let event = crate::store::NewEvent {
        realm: rt.realm.name.clone(),
        kind: "sign_in".into(),
        user_id: Some(user_id),
        client_id: Some(request.client_id.clone()),
        ip: who.ip.clone(),
        user_agent: who.user_agent.clone(),
        details: trace,
    };
    crate::events::record(&app.store, event).await;
}
