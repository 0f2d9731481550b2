//! Administration shared by the CLI and the admin REST API: users, their required actions,
//! credentials, sessions and roles. Every change is recorded as a security event saying who
//! did what to whom (never a secret).

pub mod api;
pub mod auth;
mod credentials;
pub mod master;
mod org_invites;
mod orgs;
mod roles;
mod sessions;
mod users;

pub use credentials::*;
pub use org_invites::*;
pub use orgs::*;
pub use roles::*;
pub use sessions::*;
pub use users::*;

use crate::state::AppState;
use crate::store::{NewEvent, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("realm '{0}' does not exist")]
    UnknownRealm(String),
    #[error("user '{0}' does not exist")]
    UnknownUser(String),
    #[error("user '{0}' already exists")]
    UserExists(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// Taken, or refused because of what exists (the message says which).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Password(#[from] crate::crypto::PasswordError),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> AdminError {
        match e {
            StoreError::Conflict(what) => AdminError::UserExists(what),
            other => AdminError::Store(other),
        }
    }
}

/// Who performs an administrative action, for the security log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `cli`, `user:NAME@master` or `client:ID@master`.
    pub who: String,
    /// The client the admin's access token was issued to (`None` on the command line).
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    /// The command line on the server's machine.
    pub fn cli() -> Actor {
        Actor {
            who: "cli".into(),
            client_id: None,
            ip: None,
            user_agent: None,
        }
    }
}

/// Records an administrative action: `details` says what changed (before/after, never a
/// secret); the event names the actor (`details.by`), the client its token was issued to
/// (`client_id`), and where the request came from.
pub(crate) async fn record(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    kind: &str,
    user_id: Option<&str>,
    mut details: serde_json::Value,
) {
    if let Some(map) = details.as_object_mut() {
        map.insert("by".into(), serde_json::Value::String(actor.who.clone()));
    }
    crate::events::record(
        &app.store,
        NewEvent {
            realm: realm.into(),
            kind: kind.into(),
            user_id: user_id.map(String::from),
            client_id: actor.client_id.clone(),
            ip: actor.ip.clone(),
            user_agent: actor.user_agent.clone(),
            details,
        },
    )
    .await;
}
