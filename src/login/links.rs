//! Links from messages, back into Gatehouse. "Forgot password?" turns the sign-in in progress
//! into the realm's reset-credentials flow, whose link comes back here; so do verification links
//! and the "this wasn't me" link of a new-login alert. A link's GET only shows a page with one
//! button: mail scanners open every link, so nothing happens until the button posts the key.
//! A reset link opened in the browser that asked for it goes on with that sign-in; opened in
//! another (a phone's mail app), the sign-in moves there — the first browser's copy stops
//! working — and ends on a page once the password is changed.

use std::collections::HashMap;

use super::alerts::REPORT_LINK;
use super::sign_in::{self, Browser, Next};
use crate::crypto::{random_token, sha256_hex};
use crate::flow::actions::verify_email::VERIFY_LINK;
use crate::flow::authenticators::magic_link::MAGIC_LINK;
use crate::flow::authenticators::reset_credentials::RESET_LINK;
use crate::flow::{EngineError, FlowState};
use crate::state::{AppState, RealmRuntime};
use crate::store::now;

/// Whether the realm offers "Forgot password?": its reset flow exists and mail can go out.
pub fn reset_offered(app: &AppState, rt: &RealmRuntime) -> bool {
    app.flows.get(&rt.realm.flows.reset_credentials).is_some() && app.mailer.settings(&rt.realm).is_some()
}

/// "Forgot password?": the sign-in in progress runs the realm's reset-credentials flow from its
/// first page (the app it returns to stays the same).
pub async fn start_reset(
    app: &AppState,
    rt: &RealmRuntime,
    auth_cookie: Option<&str>,
    who: &Browser,
) -> Result<Next, EngineError> {
    let over = || Next::Error("signInOver".into());
    if !reset_offered(app, rt) {
        return Ok(Next::Error("mailNotConfigured".into()));
    }
    let Some(token) = auth_cookie else { return Ok(over()) };
    let id = sha256_hex(token.as_bytes());
    let Some(session) = app.store.auth_session(&id).await?.filter(|s| s.realm == rt.realm.name) else {
        return Ok(over());
    };
    let Ok(current) = serde_json::from_str::<FlowState>(&session.state) else {
        return Ok(over());
    };
    if current.flow != rt.realm.flows.reset_credentials {
        let reset = FlowState {
            flow: rt.realm.flows.reset_credentials.clone(),
            csrf: current.csrf,
            ..Default::default()
        };
        app.store
            .save_auth_session_state(&id, serde_json::to_string(&reset).unwrap_or_default())
            .await?;
    }
    sign_in::resume(app, rt, Some(token), &HashMap::new(), None, who).await
}

/// What opening an emailed link leads to.
#[derive(Debug)]
pub enum LinkOutcome {
    /// Go on with the sign-in (set this new authentication cookie first, if any).
    Continue { auth_cookie: Option<String> },
    /// Show this message (a catalog key).
    Refused(&'static str),
    /// Done here: show this page (heading and message, catalog keys).
    Done {
        heading: &'static str,
        message: &'static str,
    },
    /// Ask before acting: show this page (its form posts the key back).
    Confirm {
        template: &'static str,
        context: serde_json::Value,
        /// Where the answer to its form may redirect (an app's redirect URI), for `form-action`.
        form_target: Option<String>,
    },
}

/// "This wasn't me", opened: the page that asks to confirm (a mail scanner that opens links
/// must not sign anyone out), describing the session it would end.
async fn report_page(app: &AppState, rt: &RealmRuntime, hash: &str) -> Result<LinkOutcome, EngineError> {
    let Some(link) = app.store.peek_action_token(hash, REPORT_LINK).await? else {
        return Ok(LinkOutcome::Refused("linkExpired"));
    };
    if link.realm != rt.realm.name {
        return Ok(LinkOutcome::Refused("linkExpired"));
    }
    let session = app.store.sso_session(link.data.as_deref().unwrap_or_default()).await?;
    let (agent, ip, started) = match &session {
        Some(s) => (
            crate::web::agent::describe(s.user_agent.as_deref()),
            s.ip.clone().unwrap_or_default(),
            s.auth_time,
        ),
        None => (crate::web::agent::describe(None), String::new(), link.created_at),
    };
    Ok(LinkOutcome::Confirm {
        template: "report_sign_in.html",
        context: serde_json::json!({
            "browser": agent.browser,
            "os": agent.os,
            "location": app.geoip.locate(&ip, "en"),
            "ip": ip,
            "time": crate::events::time::format_rfc3339(started).replace('T', " ").replace('Z', " UTC"),
        }),
        form_target: None,
    })
}

/// "This wasn't me", confirmed: the session named by the link ends with its tokens, and the
/// account needs a new password at its next sign-in. The link is used up.
async fn report_sign_in(
    app: &AppState,
    rt: &RealmRuntime,
    hash: &str,
    ip: Option<String>,
) -> Result<LinkOutcome, EngineError> {
    let Some(link) = app.store.use_action_token(hash, REPORT_LINK).await? else {
        return Ok(LinkOutcome::Refused("linkExpired"));
    };
    if link.realm != rt.realm.name {
        return Ok(LinkOutcome::Refused("linkExpired"));
    }
    let session_id = link.data.clone().unwrap_or_default();
    // Every session ends, not only the reported one: a sign-in again in that browser may have
    // taken its apps over into a new session.
    let ended = app.store.end_user_sso_sessions(&link.user_id).await?;
    app.store.add_required_action(&link.user_id, "update-password").await?;
    crate::events::record(
        &app.store,
        crate::store::NewEvent {
            realm: rt.realm.name.clone(),
            kind: "sign_in_reported".into(),
            user_id: Some(link.user_id.clone()),
            client_id: None,
            ip,
            user_agent: None,
            details: serde_json::json!({ "session": session_id, "sessions_ended": ended }),
        },
    )
    .await;
    Ok(LinkOutcome::Done {
        heading: "signInReportedTitle",
        message: "signInReported",
    })
}

/// The link `key` while it is usable in this realm, or why not. Nothing is used up.
async fn usable_link(
    app: &AppState,
    rt: &RealmRuntime,
    hash: &str,
) -> Result<Result<crate::store::entity::action_token::Model, LinkOutcome>, EngineError> {
    match app.store.peek_any_action_token(hash).await? {
        Some(link) if link.realm == rt.realm.name => Ok(Ok(link)),
        Some(_) => Ok(Err(LinkOutcome::Refused("linkUnknown"))),
        None => Ok(Err(LinkOutcome::Refused(
            match app.store.action_token_kind(hash).await? {
                Some(_) => "linkExpired",
                None => "linkUnknown",
            },
        ))),
    }
}

/// A link from a message, opened (GET): a page that asks to go on. Nothing happens until its
/// button is pressed: mail scanners open every link they see.
pub async fn link_page(app: &AppState, rt: &RealmRuntime, key: &str) -> Result<LinkOutcome, EngineError> {
    let hash = sha256_hex(key.as_bytes());
    let link = match usable_link(app, rt, &hash).await? {
        Ok(link) => link,
        Err(refused) => return Ok(refused),
    };
    let (heading, message, button) = match link.kind.as_str() {
        RESET_LINK => ("linkResetTitle", "linkResetMessage", "doContinueReset"),
        VERIFY_LINK => ("linkVerifyTitle", "linkVerifyMessage", "doVerifyEmail"),
        MAGIC_LINK => ("linkMagicTitle", "linkMagicMessage", "doSignInWithLink"),
        REPORT_LINK => return report_page(app, rt, &hash).await,
        _ => return Ok(LinkOutcome::Refused("linkUnknown")),
    };
    // Which account and address, so that nobody is talked into confirming someone else's.
    let username = app.store.find_user(&link.user_id).await?.map(|u| u.username);
    let address = link.data.as_deref().map(masked_address);
    // A sign-in link's button finishes the sign-in, whose answer redirects to the app.
    let form_target = match (link.kind.as_str(), link.auth_session_id.as_deref()) {
        (MAGIC_LINK, Some(id)) => app
            .store
            .auth_session(id)
            .await?
            .and_then(|s| serde_json::from_str::<crate::oidc::authorize::AuthorizeRequest>(&s.request).ok())
            .map(|r| r.redirect_uri),
        _ => None,
    };
    Ok(LinkOutcome::Confirm {
        template: "link_confirm.html",
        context: serde_json::json!({
            "heading": heading, "message": message, "button": button,
            "username": username, "address": address,
        }),
        form_target,
    })
}

/// Opens a sign-in link: only in the browser whose sign-in asked for it (checked before the link
/// is used up, so a click elsewhere leaves it working there), for the account it named, still
/// enabled and with the address it went to. The sign-in goes on under a new id and CSRF token.
async fn open_magic_link(
    app: &AppState,
    rt: &RealmRuntime,
    link: &crate::store::entity::action_token::Model,
    auth_cookie: Option<&str>,
) -> Result<LinkOutcome, EngineError> {
    let bound = link.auth_session_id.as_deref();
    if auth_cookie.is_none_or(|c| Some(sha256_hex(c.as_bytes()).as_str()) != bound) {
        return Ok(LinkOutcome::Refused("linkOtherBrowser"));
    }
    let Some(link) = app.store.use_action_token(&link.token_hash, MAGIC_LINK).await? else {
        return Ok(LinkOutcome::Refused("linkExpired"));
    };
    let user = app.store.find_user(&link.user_id).await?;
    let Some(user) = user.filter(|u| u.enabled && u.email_verified && u.email.is_some() && u.email == link.data) else {
        return Ok(LinkOutcome::Refused("linkExpired"));
    };
    let Some(session) = app.store.auth_session(bound.unwrap_or_default()).await? else {
        return Ok(LinkOutcome::Refused("linkExpired"));
    };
    let Ok(mut flow) = serde_json::from_str::<FlowState>(&session.state) else {
        return Ok(LinkOutcome::Refused("linkExpired"));
    };
    if session.realm != rt.realm.name || flow.named_user.as_deref() != Some(user.id.as_str()) {
        return Ok(LinkOutcome::Refused("linkExpired"));
    }
    flow.user_id = Some(user.id.clone());
    flow.username = Some(user.username.clone());
    flow.link_opened = true;
    flow.csrf = random_token();
    let token = random_token();
    let renewed = crate::store::entity::auth_session::Model {
        id: sha256_hex(token.as_bytes()),
        state: serde_json::to_string(&flow).unwrap_or_default(),
        updated_at: now(),
        ..session.clone()
    };
    if !app.store.move_auth_session(&session.id, renewed).await? {
        return Ok(LinkOutcome::Refused("linkExpired"));
    }
    Ok(LinkOutcome::Continue {
        auth_cookie: Some(token),
    })
}

/// `a…@example.com`: enough to recognise an address, not to learn it.
fn masked_address(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}…@{domain}", local.chars().take(1).collect::<String>()),
        None => "…".into(),
    }
}

/// A link's page, confirmed (POST with the key): the link is used up and does what it is for.
pub async fn act_on_link(
    app: &AppState,
    rt: &RealmRuntime,
    key: &str,
    auth_cookie: Option<&str>,
    ip: Option<String>,
) -> Result<LinkOutcome, EngineError> {
    let hash = sha256_hex(key.as_bytes());
    let link = match usable_link(app, rt, &hash).await? {
        Ok(link) => link,
        Err(refused) => return Ok(refused),
    };
    match link.kind.as_str() {
        RESET_LINK => open_reset_link(app, rt, &hash, auth_cookie).await,
        VERIFY_LINK => open_verify_link(app, rt, &hash, auth_cookie).await,
        MAGIC_LINK => open_magic_link(app, rt, &link, auth_cookie).await,
        REPORT_LINK => report_sign_in(app, rt, &hash, ip).await,
        _ => Ok(LinkOutcome::Refused("linkUnknown")),
    }
}

/// Opens a verification link: the address it was sent to is verified, if it is still the
/// user's. The sign-in that sent it (in this browser) goes on; elsewhere a page says so.
async fn open_verify_link(
    app: &AppState,
    rt: &RealmRuntime,
    hash: &str,
    auth_cookie: Option<&str>,
) -> Result<LinkOutcome, EngineError> {
    let Some(link) = app.store.use_action_token(hash, VERIFY_LINK).await? else {
        return Ok(LinkOutcome::Refused("linkExpired"));
    };
    let email = link.data.clone().unwrap_or_default();
    if link.realm != rt.realm.name || !app.store.mark_email_verified(&link.user_id, &email).await? {
        return Ok(LinkOutcome::Refused("linkExpired"));
    }
    crate::events::record(
        &app.store,
        crate::store::NewEvent {
            realm: rt.realm.name.clone(),
            kind: "email_verified".into(),
            user_id: Some(link.user_id.clone()),
            client_id: None,
            ip: None,
            user_agent: None,
            details: serde_json::json!({ "via": "link" }),
        },
    )
    .await;
    let same_browser =
        auth_cookie.is_some_and(|c| link.auth_session_id.as_deref() == Some(sha256_hex(c.as_bytes()).as_str()));
    if same_browser {
        return Ok(LinkOutcome::Continue { auth_cookie: None });
    }
    Ok(LinkOutcome::Done {
        heading: "emailVerifiedTitle",
        message: "emailVerifiedMessage",
    })
}

/// Opens a reset link: single use, unexpired, for the account the sign-in named, still enabled
/// and with the address the link went to. The sign-in it belongs to learns that the mailbox was
/// proven, and continues under a new id and CSRF token (in this browser or the one that opened
/// the link): whoever held the old ones cannot finish it.
async fn open_reset_link(
    app: &AppState,
    rt: &RealmRuntime,
    hash: &str,
    auth_cookie: Option<&str>,
) -> Result<LinkOutcome, EngineError> {
    let Some(link) = app.store.use_action_token(hash, RESET_LINK).await? else {
        return Ok(LinkOutcome::Refused("linkExpired"));
    };
    let user = app.store.find_user(&link.user_id).await?;
    let Some(user) = user.filter(|u| u.enabled && u.email.is_some() && u.email == link.data) else {
        return Ok(LinkOutcome::Refused("linkExpired"));
    };
    let session = match &link.auth_session_id {
        Some(id) => app.store.auth_session(id).await?,
        None => None,
    };
    let Some(session) = session.filter(|s| s.realm == rt.realm.name && link.realm == rt.realm.name) else {
        return Ok(LinkOutcome::Refused("linkExpired"));
    };
    let Ok(mut flow) = serde_json::from_str::<FlowState>(&session.state) else {
        return Ok(LinkOutcome::Refused("linkExpired"));
    };
    if flow.named_user.as_deref() != Some(link.user_id.as_str()) {
        return Ok(LinkOutcome::Refused("linkExpired"));
    }
    flow.user_id = Some(user.id.clone());
    flow.username = Some(user.username.clone());
    flow.link_opened = true;
    flow.csrf = random_token();
    flow.moved = auth_cookie.is_none_or(|c| sha256_hex(c.as_bytes()) != session.id);
    let token = random_token();
    let moved = crate::store::entity::auth_session::Model {
        id: sha256_hex(token.as_bytes()),
        state: serde_json::to_string(&flow).unwrap_or_default(),
        updated_at: now(),
        ..session.clone()
    };
    if !app.store.move_auth_session(&session.id, moved).await? {
        return Ok(LinkOutcome::Refused("linkExpired"));
    }
    Ok(LinkOutcome::Continue {
        auth_cookie: Some(token),
    })
}
