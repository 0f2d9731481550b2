//! The user's own sessions: every browser signed in, with what it is, where it signed in
//! from and the apps it signed in to; ending one, every other, or all. Ending a session revokes
//! the grants issued under it, so its refresh tokens stop working at once.

use serde::Serialize;
use serde_json::json;

use super::{AccountError, Viewer, record};
use crate::oidc::jwt::AccessClaims;
use crate::state::{AppState, RealmRuntime};
use crate::store::LiveSession;

/// One live SSO session of the user, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionView {
    pub id: String,
    pub ip: Option<String>,
    /// Approximate place of the address ("Berlin, Germany"), with a GeoIP database.
    pub location: Option<String>,
    pub browser: String,
    pub os: String,
    /// `desktop`, `mobile`, `tablet` or `other`.
    pub device: String,
    /// Unix seconds.
    pub started: i64,
    pub last_access: i64,
    pub expires: i64,
    /// The session of the browser asking.
    pub current: bool,
    /// Client ids signed in to under this session.
    pub clients: Vec<String>,
}

/// The viewer's live sessions, places named in `lang`: the current one first, then newest first.
pub async fn list(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    lang: &str,
) -> Result<Vec<SessionView>, AccountError> {
    let idle = rt.realm.tokens.sso_idle.as_secs();
    let sessions = app.store.user_sso_sessions(&viewer.user.id, idle).await?;
    Ok(views(app, rt, sessions, viewer.session_id(), lang))
}

/// What [`list`] gives the bearer of `claims`, an access token whose signature, expiry and
/// `account` audience are checked; `None` when the token no longer stands (its grant revoked,
/// its session ended, its user disabled or gone), as the API's bearer check decides. The check
/// and the list are one statement: the token's grant must be a live grant of one of the user's
/// live sessions, which is then the current one.
pub async fn list_for_token(
    app: &AppState,
    rt: &RealmRuntime,
    claims: &AccessClaims,
    lang: &str,
) -> Result<Option<Vec<SessionView>>, AccountError> {
    let Some(gid) = claims.gid.as_deref() else {
        return Ok(None);
    };
    let idle = rt.realm.tokens.sso_idle.as_secs();
    let live = app
        .store
        .enabled_user_live_sessions(&rt.realm.name, &claims.sub, gid, idle)
        .await?;
    let Some(current) = live.iter().find(|l| l.holds_grant).map(|l| l.id.clone()) else {
        return Ok(None);
    };
    Ok(Some(views(app, rt, live, Some(&current), lang)))
}

/// Sessions as the console shows them: the current one first, then newest first.
fn views(
    app: &AppState,
    rt: &RealmRuntime,
    sessions: Vec<LiveSession>,
    current: Option<&str>,
    lang: &str,
) -> Vec<SessionView> {
    let idle = rt.realm.tokens.sso_idle.as_secs();
    let mut views: Vec<SessionView> = sessions
        .into_iter()
        .map(|s| {
            let agent = crate::web::agent::describe(s.user_agent.as_deref());
            SessionView {
                current: current == Some(s.id.as_str()),
                expires: s.expires_at.min(s.last_seen_at + idle),
                id: s.id,
                location: s.ip.as_deref().and_then(|ip| app.geoip.locate(ip, lang)),
                ip: s.ip,
                browser: agent.browser,
                os: agent.os,
                device: agent.device.to_string(),
                started: s.created_at,
                last_access: s.last_seen_at,
                clients: s.clients,
            }
        })
        .collect();
    views.sort_by_key(|s| (!s.current, std::cmp::Reverse(s.started)));
    views
}

/// Which sessions to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignOut {
    /// One session of the viewer's, by id.
    One(String),
    /// Every session but the current one.
    Others,
    /// Every session, the current one too.
    All,
}

/// Ends what `which` names among the viewer's sessions; how many ended. A session id that is
/// not one of the viewer's live sessions ends nothing (it is not theirs to end).
pub async fn sign_out(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    which: &SignOut,
) -> Result<usize, AccountError> {
    let idle = rt.realm.tokens.sso_idle.as_secs();
    let mine = app.store.user_sso_sessions(&viewer.user.id, idle).await?;
    let ending: Vec<String> = mine
        .into_iter()
        .map(|s| s.id)
        .filter(|id| match which {
            SignOut::One(target) => id == target,
            SignOut::Others => viewer.session_id() != Some(id.as_str()),
            SignOut::All => true,
        })
        .collect();
    app.store.end_sso_sessions(&ending).await?;
    // "Sign out everywhere" also forgets the devices the user trusted.
    if matches!(which, SignOut::All) {
        super::devices::revoke(app, rt, viewer, None).await?;
    }
    for id in &ending {
        record(app, rt, viewer, "logout", json!({ "sid": id })).await;
    }
    Ok(ending.len())
}
