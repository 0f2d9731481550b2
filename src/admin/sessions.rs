//! A user's SSO sessions as administrators see them: list, end one, end all. Ending a session
//! also revokes the grants issued under it, so its refresh and access tokens stop working.

use serde_json::json;

use super::users::{resolve_user, user_in_realm};
use super::{Actor, AdminError, record};
use crate::state::AppState;

/// A live SSO session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub user_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Unix seconds.
    pub started_at: i64,
    pub last_access_at: i64,
    /// Clients signed in to under this session.
    pub clients: Vec<String>,
}

/// A user's live sessions, newest first.
pub async fn list_sessions(app: &AppState, realm: &str, id: &str) -> Result<Vec<SessionInfo>, AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let user = user_in_realm(app, realm, id).await?;
    let idle = rt.realm.tokens.sso_idle.as_secs();
    Ok(app
        .store
        .user_sso_sessions(&user.id, idle)
        .await?
        .into_iter()
        .map(|s| SessionInfo {
            id: s.id,
            user_id: user.id.clone(),
            ip: s.ip,
            user_agent: s.user_agent,
            started_at: s.created_at,
            last_access_at: s.last_seen_at,
            clients: s.clients,
        })
        .collect())
}

/// Ends one live session of `realm` as `actor`.
pub async fn revoke_session(app: &AppState, actor: &Actor, realm: &str, session_id: &str) -> Result<(), AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let idle = rt.realm.tokens.sso_idle.as_secs();
    let session = app
        .store
        .live_sso_session_by_id(session_id, idle)
        .await?
        .filter(|s| s.realm == realm)
        .ok_or_else(|| AdminError::NotFound(format!("session '{session_id}'")))?;
    app.store.end_sso_session(&session.id).await?;
    record(
        app,
        actor,
        realm,
        "session_revoked",
        Some(&session.user_id),
        json!({ "sessionId": session.id }),
    )
    .await;
    Ok(())
}

/// Ends every session of a user and revokes all their grants, as `actor`. Returns how many
/// sessions were open.
pub async fn logout_user(app: &AppState, actor: &Actor, realm: &str, id: &str) -> Result<u64, AdminError> {
    let user = user_in_realm(app, realm, id).await?;
    let ended = app.store.end_user_sso_sessions(&user.id).await?;
    record(
        app,
        actor,
        realm,
        "sessions_revoked",
        Some(&user.id),
        json!({ "username": user.username, "sessions": ended }),
    )
    .await;
    Ok(ended)
}

/// [`logout_user`] for the command line, naming the user by username or id.
pub async fn logout_user_named(app: &AppState, realm: &str, user: &str) -> Result<u64, AdminError> {
    let user = resolve_user(app, realm, user).await?;
    logout_user(app, &Actor::cli(), realm, &user.id).await
}

/// A user's live personal access token, as administrators see it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub scope: String,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
}

/// A user's live personal access tokens, newest first.
pub async fn list_tokens(app: &AppState, realm: &str, id: &str) -> Result<Vec<TokenInfo>, AdminError> {
    let user = user_in_realm(app, realm, id).await?;
    Ok(app
        .store
        .user_pats(&user.id)
        .await?
        .into_iter()
        .map(|t| TokenInfo {
            id: t.id,
            name: t.name,
            scope: t.scope,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            last_used_ip: t.last_used_ip,
        })
        .collect())
}

/// Revokes one of a user's personal access tokens, as `actor`.
pub async fn revoke_token(app: &AppState, actor: &Actor, realm: &str, id: &str, token: &str) -> Result<(), AdminError> {
    let user = user_in_realm(app, realm, id).await?;
    if !app.store.revoke_pat(&user.id, token).await? {
        return Err(AdminError::NotFound(format!("personal access token '{token}'")));
    }
    let details = json!({ "token": token, "username": user.username });
    record(
        app,
        actor,
        realm,
        "personal_access_token_revoked",
        Some(&user.id),
        details,
    )
    .await;
    Ok(())
}
