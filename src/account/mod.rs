//! The account console: what signed-in users see and change of their own security. Plain
//! functions over `&AppState` and the signed-in [`Viewer`]; `routes.rs` speaks HTTP.

pub mod api;
pub mod console;
pub mod devices;
pub mod email;
pub mod factors;
pub mod keys;
pub mod linked;
pub mod log;
pub mod org_admin;
pub mod orgs;
pub mod password;
pub mod phone;
pub mod routes;
pub mod sessions;
pub mod tokens;

use serde_json::json;

use crate::crypto::{constant_time_eq, sha256_hex};
use crate::events::Origin;
use crate::state::{AppState, RealmRuntime};
use crate::store::entity::user;
use crate::store::{NewEvent, OTP, RECOVERY_CODE, StoreError};

/// The signed-in user of a console request, and the SSO session their browser holds.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: user::Model,
    /// The SSO session of the browser, or of the sign-in the access token came from; none for
    /// a personal access token.
    pub session: Option<ViewerSession>,
    /// Where the request came from, for the security log.
    pub origin: Origin,
    /// The client acting for the user: the console, or the app whose token the API got.
    pub client_id: String,
}

/// What the console needs of the viewer's session: which it is, and when its sign-in was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerSession {
    pub id: String,
    pub auth_time: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] crate::crypto::PasswordError),
    #[error(transparent)]
    Engine(#[from] crate::flow::EngineError),
    #[error(transparent)]
    Events(#[from] crate::events::EventsError),
    /// The realm makes this user keep a second factor, and this is their last.
    #[error("the last second factor cannot be removed: the realm requires one")]
    LastFactor,
    /// An administrative function the console calls failed (not a refusal).
    #[error(transparent)]
    Admin(#[from] crate::admin::AdminError),
}

/// The user whose live SSO session `cookie` holds in this realm, if they are still enabled.
pub async fn viewer(
    app: &AppState,
    rt: &RealmRuntime,
    cookie: Option<&str>,
    origin: Origin,
) -> Result<Option<Viewer>, StoreError> {
    let Some(cookie) = cookie else { return Ok(None) };
    let idle = rt.realm.tokens.sso_idle.as_secs();
    let Some(session) = app
        .store
        .active_sso_session(&rt.realm.name, &sha256_hex(cookie.as_bytes()), idle)
        .await?
    else {
        return Ok(None);
    };
    let user = app.store.find_user(&session.user_id).await?;
    Ok(user.filter(|u| u.enabled).map(|user| Viewer {
        user,
        session: Some(ViewerSession {
            id: session.id,
            auth_time: session.auth_time,
        }),
        origin,
        client_id: crate::realm::ACCOUNT_CONSOLE.to_string(),
    }))
}

/// The CSRF token of the console's forms: bound to the session cookie, so it is worthless to
/// another browser, and it changes whenever the session does.
pub fn csrf_token(session_cookie: &str) -> String {
    sha256_hex(format!("account:{session_cookie}").as_bytes())
}

pub fn csrf_matches(session_cookie: &str, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| constant_time_eq(p.as_bytes(), csrf_token(session_cookie).as_bytes()))
}

/// Whether the sign-in behind the session is recent enough for a sensitive change (the
/// realm's `account.max_auth_age`); otherwise the user signs in again first.
pub fn is_fresh(rt: &RealmRuntime, viewer: &Viewer, at: i64) -> bool {
    viewer
        .session
        .as_ref()
        .is_some_and(|s| at - s.auth_time <= rt.realm.account.max_auth_age.as_secs())
}

impl Viewer {
    /// The id of the viewer's own session, if they have one.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.id.as_str())
    }
}

/// The security checklist of the overview page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Checklist {
    pub password_set: bool,
    pub otp_devices: usize,
    pub recovery_codes_left: usize,
    pub sessions: usize,
}

pub async fn checklist(app: &AppState, rt: &RealmRuntime, viewer: &Viewer) -> Result<Checklist, StoreError> {
    let user_id = &viewer.user.id;
    let idle = rt.realm.tokens.sso_idle.as_secs();
    Ok(Checklist {
        password_set: app.store.password_hash(user_id).await?.is_some(),
        otp_devices: app.store.credentials(user_id, OTP).await?.len(),
        recovery_codes_left: app.store.credentials(user_id, RECOVERY_CODE).await?.len(),
        sessions: app.store.user_sso_sessions(user_id, idle).await?.len(),
    })
}

/// Logs what the user did to their own account, from the console.
async fn record(app: &AppState, rt: &RealmRuntime, viewer: &Viewer, kind: &str, details: serde_json::Value) {
    let mut details = details;
    if let Some(obj) = details.as_object_mut() {
        obj.insert("by".into(), json!("user"));
        obj.insert("via".into(), json!("account"));
    }
    let event = NewEvent {
        realm: rt.realm.name.clone(),
        kind: kind.into(),
        user_id: Some(viewer.user.id.clone()),
        client_id: Some(viewer.client_id.clone()),
        ip: viewer.origin.ip.clone(),
        user_agent: viewer.origin.user_agent.clone(),
        details,
    };
    crate::events::record(&app.store, event).await;
}
