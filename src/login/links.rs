//! Emailed links back into a sign-in. "Forgot password?" turns the sign-in in progress into the
//! realm's reset-credentials flow; the link that flow mails comes back here. Opened in the
//! browser that asked for it, the sign-in simply goes on (and ends at the app); opened in
//! another (a phone's mail app), the sign-in moves there — the first browser's copy stops
//! working — and ends on a page once the password is changed.

use std::collections::HashMap;

use crate::crypto::{random_token, sha256_hex};
use crate::flow::actions::verify_email::VERIFY_LINK;
use crate::flow::authenticators::reset_credentials::RESET_LINK;
use crate::flow::{EngineError, FlowState};
use crate::state::{AppState, RealmRuntime};
use crate::store::now;

use super::sign_in::{self, Browser, Next};

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
}

/// Opens a link from a message, whichever kind it is.
pub async fn open_link(
    app: &AppState,
    rt: &RealmRuntime,
    key: &str,
    auth_cookie: Option<&str>,
) -> Result<LinkOutcome, EngineError> {
    let hash = sha256_hex(key.as_bytes());
    match app.store.action_token_kind(&hash).await?.as_deref() {
        Some(RESET_LINK) => open_reset_link(app, rt, key, auth_cookie).await,
        Some(VERIFY_LINK) => open_verify_link(app, rt, &hash, auth_cookie).await,
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

/// Opens a reset link: single use, unexpired, for the account the sign-in named. The sign-in it
/// belongs to learns that the mailbox was proven.
async fn open_reset_link(
    app: &AppState,
    rt: &RealmRuntime,
    key: &str,
    auth_cookie: Option<&str>,
) -> Result<LinkOutcome, EngineError> {
    let hash = sha256_hex(key.as_bytes());
    let Some(link) = app.store.use_action_token(&hash, RESET_LINK).await? else {
        return Ok(LinkOutcome::Refused(match app.store.action_token_kind(&hash).await? {
            Some(_) => "linkExpired",
            None => "linkUnknown",
        }));
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
    flow.user_id = Some(link.user_id.clone());
    flow.link_opened = true;
    let same_browser = auth_cookie.is_some_and(|c| sha256_hex(c.as_bytes()) == session.id);
    if same_browser {
        app.store
            .save_auth_session_state(&session.id, serde_json::to_string(&flow).unwrap_or_default())
            .await?;
        return Ok(LinkOutcome::Continue { auth_cookie: None });
    }
    flow.moved = true;
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
