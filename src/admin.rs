//! User administration shared by the CLI and (later) the admin API.

use crate::realm::KNOWN_REQUIRED_ACTIONS;
use crate::server::AppState;
use crate::store::entity::user;
use crate::store::{NewEvent, NewUser, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("realm '{0}' does not exist")]
    UnknownRealm(String),
    #[error("user '{0}' does not exist")]
    UnknownUser(String),
    #[error("user '{0}' already exists")]
    UserExists(String),
    #[error("{0}")]
    Invalid(String),
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

fn check_username(username: &str) -> Result<(), AdminError> {
    if username.is_empty() || username.len() > 255 || username.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(AdminError::Invalid(
            "a username must be 1-255 characters without spaces".into(),
        ));
    }
    Ok(())
}

/// Creates a user, with a password if given, and the realm's default required actions.
pub async fn create_user(
    app: &AppState,
    realm: &str,
    username: &str,
    email: Option<&str>,
    password: Option<&str>,
) -> Result<user::Model, AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    check_username(username)?;
    if let Some(e) = email
        && (!e.contains('@') || e.len() > 320)
    {
        return Err(AdminError::Invalid(format!("'{e}' is not an email address")));
    }
    let password_hash = match password {
        Some("") => return Err(AdminError::Invalid("the password is empty".into())),
        Some(p) => Some(app.hasher.hash(p).await?),
        None => None,
    };
    let user = app
        .store
        .create_user(NewUser {
            realm: realm.into(),
            username: username.into(),
            email: email.map(String::from),
            password_hash,
            required_actions: rt.realm.default_required_actions(),
            ..Default::default()
        })
        .await?;
    audit(
        app,
        realm,
        "user_created",
        &user.id,
        serde_json::json!({ "username": username }),
    )
    .await;
    Ok(user)
}

pub async fn set_password(app: &AppState, realm: &str, username: &str, password: &str) -> Result<(), AdminError> {
    let user = find(app, realm, username).await?;
    if password.is_empty() {
        return Err(AdminError::Invalid("the password is empty".into()));
    }
    let hash = app.hasher.hash(password).await?;
    app.store.set_password(&user.id, hash).await?;
    audit(
        app,
        realm,
        "password_set",
        &user.id,
        serde_json::json!({ "by": "admin" }),
    )
    .await;
    Ok(())
}

/// Adds a required action the user must complete at next sign-in.
pub async fn require_action(app: &AppState, realm: &str, username: &str, action: &str) -> Result<(), AdminError> {
    if !KNOWN_REQUIRED_ACTIONS.contains(&action) {
        return Err(AdminError::Invalid(format!(
            "unknown required action '{action}'; known: {}",
            KNOWN_REQUIRED_ACTIONS.join(", ")
        )));
    }
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    if !rt.realm.is_required_action_enabled(action) {
        return Err(AdminError::Invalid(format!(
            "required action '{action}' is not enabled in realm '{realm}' (set required_actions.{action}.enabled: true)"
        )));
    }
    let user = find(app, realm, username).await?;
    app.store.add_required_action(&user.id, action).await?;
    audit(
        app,
        realm,
        "required_action_added",
        &user.id,
        serde_json::json!({ "action": action }),
    )
    .await;
    Ok(())
}

pub async fn list_users(app: &AppState, realm: &str) -> Result<Vec<(user::Model, Vec<String>)>, AdminError> {
    app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let mut out = Vec::new();
    for u in app.store.list_users(realm).await? {
        let actions = app.store.required_actions(&u.id).await?;
        out.push((u, actions));
    }
    Ok(out)
}

async fn find(app: &AppState, realm: &str, username: &str) -> Result<user::Model, AdminError> {
    app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    app.store
        .find_user_by_username(realm, username)
        .await?
        .ok_or_else(|| AdminError::UnknownUser(username.into()))
}

async fn audit(app: &AppState, realm: &str, kind: &str, user_id: &str, details: serde_json::Value) {
    crate::events::record(
        &app.store,
        NewEvent {
            realm: realm.into(),
            kind: kind.into(),
            user_id: Some(user_id.into()),
            details,
            ..Default::default()
        },
    )
    .await;
}
