//! Administration shared by the CLI and the admin REST API: users, their required actions,
//! credentials, sessions and roles. Every change is recorded as a security event saying who
//! did what to whom (never a secret).

pub mod api;
pub mod auth;
pub mod master;

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
    #[error("{0} does not exist")]
    NotFound(String),
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

/// Who performs an administrative action, for the security log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `cli`, `user:NAME@master` or `client:ID@master`.
    pub who: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    /// The command line on the server's machine.
    pub fn cli() -> Actor {
        Actor {
            who: "cli".into(),
            ip: None,
            user_agent: None,
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
    audit(app, realm, "password_set", &user.id, serde_json::json!({})).await;
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
    record(app, &Actor::cli(), realm, kind, Some(user_id), details).await;
}

/// Records an administrative action: `details` says what changed (before/after, never a
/// secret); the event names the actor.
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
            ip: actor.ip.clone(),
            user_agent: actor.user_agent.clone(),
            details,
            ..Default::default()
        },
    )
    .await;
}

/// A user with what the admin API shows along with it.
#[derive(Debug, Clone)]
pub struct UserDetails {
    pub user: user::Model,
    pub required_actions: Vec<String>,
    pub attributes: Vec<(String, String)>,
}

async fn details(app: &AppState, user: user::Model) -> Result<UserDetails, AdminError> {
    let required_actions = app.store.required_actions(&user.id).await?;
    let attributes = app.store.attributes(&user.id).await?;
    Ok(UserDetails {
        user,
        required_actions,
        attributes,
    })
}

/// A user of `realm` by id.
pub async fn get_user(app: &AppState, realm: &str, id: &str) -> Result<UserDetails, AdminError> {
    app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let user = app
        .store
        .find_user(id)
        .await?
        .filter(|u| u.realm == realm)
        .ok_or_else(|| AdminError::NotFound(format!("user '{id}'")))?;
    details(app, user).await
}

/// The users of `realm` that match `search`, by username.
pub async fn search_users(
    app: &AppState,
    realm: &str,
    search: &crate::store::UserSearch,
) -> Result<Vec<UserDetails>, AdminError> {
    app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let mut out = Vec::new();
    for user in app.store.search_users(realm, search).await? {
        out.push(details(app, user).await?);
    }
    Ok(out)
}

/// What an administrator gives to create a user.
#[derive(Debug, Clone, Default)]
pub struct NewUserInput {
    pub username: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub enabled: bool,
    pub required_actions: Vec<String>,
    /// An initial password; `temporary` makes the user choose a new one at first sign-in.
    pub password: Option<(String, bool)>,
}

/// Creates a user as `actor`: the realm's default required actions plus the given ones
/// (each must be enabled in the realm).
pub async fn create_user_by(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    input: NewUserInput,
) -> Result<UserDetails, AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    check_username(&input.username)?;
    if let Some(e) = &input.email
        && (!e.contains('@') || e.len() > 320)
    {
        return Err(AdminError::Invalid(format!("'{e}' is not an email address")));
    }
    let mut actions = rt.realm.default_required_actions();
    for action in &input.required_actions {
        check_action(&rt.realm, realm, action)?;
        if !actions.contains(action) {
            actions.push(action.clone());
        }
    }
    let password_hash = match &input.password {
        Some((p, _)) if p.is_empty() => return Err(AdminError::Invalid("the password is empty".into())),
        Some((p, temporary)) => {
            if *temporary && rt.realm.is_required_action_enabled("update-password") {
                actions.push("update-password".into());
            } else if *temporary {
                return Err(AdminError::Invalid(format!(
                    "a temporary password needs the update-password required action, which realm '{realm}' does not enable"
                )));
            }
            Some(app.hasher.hash(p).await?)
        }
        None => None,
    };
    actions.dedup();
    let user = app
        .store
        .create_user(NewUser {
            realm: realm.into(),
            username: input.username.clone(),
            email: input.email.clone(),
            first_name: input.first_name.clone(),
            last_name: input.last_name.clone(),
            password_hash,
            required_actions: actions.clone(),
            disabled: !input.enabled,
        })
        .await?;
    record(
        app,
        actor,
        realm,
        "user_created",
        Some(&user.id),
        serde_json::json!({
            "username": input.username,
            "after": {
                "email": input.email,
                "firstName": input.first_name,
                "lastName": input.last_name,
                "enabled": input.enabled,
                "requiredActions": actions,
                "password": input.password.as_ref().map(|(_, temporary)| if *temporary { "temporary" } else { "set" }),
            }
        }),
    )
    .await;
    details(app, user).await
}

/// An action may be required only if Gatehouse knows it and the realm enables it.
fn check_action(realm_config: &crate::realm::Realm, realm: &str, action: &str) -> Result<(), AdminError> {
    if !KNOWN_REQUIRED_ACTIONS.contains(&action) {
        return Err(AdminError::Invalid(format!(
            "unknown required action '{action}'; known: {}",
            KNOWN_REQUIRED_ACTIONS.join(", ")
        )));
    }
    if !realm_config.is_required_action_enabled(action) {
        return Err(AdminError::Invalid(format!(
            "required action '{action}' is not enabled in realm '{realm}' (set required_actions.{action}.enabled: true)"
        )));
    }
    Ok(())
}
