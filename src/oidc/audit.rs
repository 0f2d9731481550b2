//! Security events of the token endpoints: every revocation of tokens, whether a client asked
//! for it (RFC 7009) or reuse detection did it (a replayed code, a reused refresh token).

use serde_json::json;

use crate::events::Origin;
use crate::state::AppState;
use crate::store::NewEvent;

/// The event type of every token revocation; `details.reason` says why.
pub const TOKEN_REVOKED: &str = "token_revoked";

/// Why tokens were revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The client asked at the revocation endpoint (RFC 7009).
    Requested,
    /// An authorization code was presented a second time (RFC 6749 §4.1.2).
    CodeReplayed,
    /// A refresh token that had already been rotated was presented again.
    RefreshTokenReused,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Requested => "revocation_request",
            Reason::CodeReplayed => "code_replayed",
            Reason::RefreshTokenReused => "refresh_token_reused",
        }
    }
}

/// What was revoked: the grant's session (if any) and the kind of token presented.
#[derive(Debug, Clone, Default)]
pub struct Revoked<'a> {
    pub user_id: Option<&'a str>,
    pub client_id: &'a str,
    pub session_id: Option<&'a str>,
    /// `access_token`, `refresh_token` or `authorization_code`.
    pub token_type: &'a str,
}

/// Records one revocation (never the token itself).
pub async fn token_revoked(app: &AppState, realm: &str, origin: &Origin, reason: Reason, what: Revoked<'_>) {
    let mut details = json!({ "reason": reason.as_str(), "token_type": what.token_type });
    if let (Some(sid), Some(map)) = (what.session_id, details.as_object_mut()) {
        map.insert("sid".into(), json!(sid));
    }
    crate::events::record(
        &app.store,
        NewEvent {
            realm: realm.to_string(),
            kind: TOKEN_REVOKED.into(),
            user_id: what.user_id.map(String::from),
            client_id: Some(what.client_id.to_string()),
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
            details,
        },
    )
    .await;
}
