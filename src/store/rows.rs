//! Row writers shared by `sessions.rs` and `tokens.rs`: a sign-in stores an SSO session with
//! an authorization code (browser) or with a grant (password grant), each in one transaction.
//! They live here so that neither file needs the other.

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use super::entity::{auth_code, sso_session};
use super::{Result, now};

#[derive(Debug, Clone)]
pub struct NewSsoSession {
    pub id: String,
    pub token_hash: String,
    pub realm: String,
    pub user_id: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub max_lifetime_secs: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewAuthCode {
    pub code_hash: String,
    pub realm: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: String,
    pub redirect_uri: String,
    pub data: String,
    pub ttl_secs: i64,
}

/// Writes a new SSO session within `txn`.
pub(super) async fn insert_sso_session_in(txn: &impl ConnectionTrait, new: NewSsoSession) -> Result<()> {
    let t = now();
    sso_session::ActiveModel {
        id: Set(new.id),
        token_hash: Set(new.token_hash),
        realm: Set(new.realm),
        user_id: Set(new.user_id),
        auth_time: Set(new.auth_time),
        amr: Set(serde_json::to_string(&new.amr).unwrap_or_else(|_| "[]".into())),
        acr: Set(new.acr),
        created_at: Set(t),
        last_seen_at: Set(t),
        expires_at: Set(t + new.max_lifetime_secs),
        ended_at: Set(None),
        ip: Set(new.ip),
        user_agent: Set(new.user_agent),
    }
    .insert(txn)
    .await?;
    Ok(())
}

pub(super) async fn insert_auth_code_in(db: &impl ConnectionTrait, new: NewAuthCode) -> Result<()> {
    let t = now();
    auth_code::ActiveModel {
        code_hash: Set(new.code_hash),
        realm: Set(new.realm),
        client_id: Set(new.client_id),
        user_id: Set(new.user_id),
        session_id: Set(new.session_id),
        redirect_uri: Set(new.redirect_uri),
        data: Set(new.data),
        created_at: Set(t),
        expires_at: Set(t + new.ttl_secs),
        used_at: Set(None),
        grant_id: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}
