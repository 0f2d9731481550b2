//! Users: create, read, search, update, delete, and their required actions. The CLI names
//! users by username, the REST API by id; both end up in the same functions.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Actor, AdminError, record};
use crate::state::AppState;
use crate::store::entity::user;
use crate::store::{NewUser, UserUpdate};

fn check_username(username: &str) -> Result<(), AdminError> {
    match crate::realm::usernames::username_problem(username) {
        Some(problem) => Err(AdminError::Invalid(problem)),
        None => Ok(()),
    }
}

/// Creates an enabled user as the command line, with a permanent password if given: the same
/// as [`create_user_by`] (the realm's password policy and default required actions apply).
pub async fn create_user(
    app: &AppState,
    realm: &str,
    username: &str,
    email: Option<&str>,
    password: Option<&str>,
) -> Result<user::Model, AdminError> {
    let input = NewUserInput {
        username: username.into(),
        email: email.map(String::from),
        enabled: true,
        password: password.map(|p| (p.to_string(), false)),
        ..Default::default()
    };
    Ok(create_user_by(app, &Actor::cli(), realm, input).await?.user)
}

/// Adds a required action the user must complete at next sign-in.
pub async fn require_action(app: &AppState, realm: &str, username: &str, action: &str) -> Result<(), AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let action = check_action(&rt.realm, realm, action)?;
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

pub(super) async fn find(app: &AppState, realm: &str, username: &str) -> Result<user::Model, AdminError> {
    app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    app.store
        .find_user_by_username(realm, username)
        .await?
        .ok_or_else(|| AdminError::UnknownUser(username.into()))
}

pub(super) async fn audit(app: &AppState, realm: &str, kind: &str, user_id: &str, details: serde_json::Value) {
    record(app, &Actor::cli(), realm, kind, Some(user_id), details).await;
}

/// A user with what the admin API shows along with it.
#[derive(Debug, Clone)]
pub struct UserDetails {
    pub user: user::Model,
    pub required_actions: Vec<String>,
    pub attributes: Vec<(String, String)>,
}

pub(super) async fn details(app: &AppState, user: user::Model) -> Result<UserDetails, AdminError> {
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

/// How many users of `realm` match `search` (its paging aside).
pub async fn count_users(app: &AppState, realm: &str, search: &crate::store::UserSearch) -> Result<u64, AdminError> {
    app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    Ok(app.store.count_users(realm, search).await?)
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
    pub email_verified: bool,
    /// One value per name, as updates take them.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// The hash of a user's first password, under the realm's policy. A temporary one adds
/// `update-password` to `actions` (the realm must enable it).
async fn initial_password_hash(
    app: &AppState,
    realm: &crate::realm::Realm,
    username: &str,
    password: &str,
    temporary: bool,
    actions: &mut Vec<String>,
) -> Result<String, AdminError> {
    if password.is_empty() {
        return Err(AdminError::Invalid("the password is empty".into()));
    }
    if let Some(problem) = crate::flow::actions::password_policy_violation(&realm.password_policy, username, password) {
        let text = app.templates.message_text(&realm.theme, "en", &problem);
        return Err(AdminError::Invalid(format!("the password is refused: {text}")));
    }
    if temporary && !realm.is_required_action_enabled("update-password") {
        return Err(AdminError::Invalid(format!(
            "a temporary password needs the update-password required action, which realm '{}' does not enable",
            realm.name
        )));
    }
    if temporary && !actions.iter().any(|a| a == "update-password") {
        actions.push("update-password".into());
    }
    Ok(app.hasher.hash(password).await?)
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
    let attributes = single_valued(input.attributes.clone())?;
    let mut actions = rt.realm.default_required_actions();
    for action in &input.required_actions {
        let action = check_action(&rt.realm, realm, action)?.to_string();
        if !actions.contains(&action) {
            actions.push(action);
        }
    }
    let password_hash = match &input.password {
        Some((password, temporary)) => {
            Some(initial_password_hash(app, &rt.realm, &input.username, password, *temporary, &mut actions).await?)
        }
        None => None,
    };
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
            unique_email: !rt.realm.users.duplicate_emails,
            email_verified: input.email_verified,
            attributes,
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
                "emailVerified": input.email_verified,
                "attributes": input.attributes.keys().collect::<Vec<_>>(),
                "requiredActions": actions,
                "password": input.password.as_ref().map(|(_, temporary)| if *temporary { "temporary" } else { "set" }),
            }
        }),
    )
    .await;
    details(app, user).await
}

/// An action may be required only if Gatehouse knows it (by its name or Keycloak's alias, such
/// as `CONFIGURE_TOTP`) and the realm enables it; its Gatehouse name.
pub(super) fn check_action(
    realm_config: &crate::realm::Realm,
    realm: &str,
    action: &str,
) -> Result<&'static str, AdminError> {
    let Some(action) = crate::flow::actions::canonical(action) else {
        return Err(AdminError::Invalid(format!(
            "unknown required action '{action}'; known: {} (or Keycloak's names, such as CONFIGURE_TOTP)",
            crate::flow::actions::names().join(", ")
        )));
    };
    if action.starts_with("webauthn-register") && realm_config.webauthn.is_none() {
        return Err(AdminError::Invalid(format!(
            "required action '{action}' is not enabled in realm '{realm}': passkeys are off there (add a webauthn: section to the realm file)"
        )));
    }
    if !realm_config.is_required_action_enabled(action) {
        return Err(AdminError::Invalid(format!(
            "required action '{action}' is not enabled in realm '{realm}' (set required_actions.{action}.enabled: true)"
        )));
    }
    Ok(action)
}

/// A user of `realm` by id; a user of another realm is as unknown as a missing one.
pub(super) async fn user_in_realm(app: &AppState, realm: &str, id: &str) -> Result<user::Model, AdminError> {
    app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    app.store
        .find_user(id)
        .await?
        .filter(|u| u.realm == realm)
        .ok_or_else(|| AdminError::NotFound(format!("user '{id}'")))
}

/// A user of `realm` named by username or, failing that, by id (for the command line).
pub async fn resolve_user(app: &AppState, realm: &str, user: &str) -> Result<user::Model, AdminError> {
    match find(app, realm, user).await {
        Err(AdminError::UnknownUser(_)) => user_in_realm(app, realm, user)
            .await
            .map_err(|_| AdminError::UnknownUser(user.into())),
        other => other,
    }
}

/// A partial update, as Keycloak's `PUT …/users/{id}`: only the fields given change. An
/// empty email or name clears it.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub enabled: Option<bool>,
    pub email_verified: Option<bool>,
    /// Replaces the set; each must be enabled in the realm.
    pub required_actions: Option<Vec<String>>,
    /// Replaces every attribute; one value per name (an empty list removes the name).
    pub attributes: Option<BTreeMap<String, Vec<String>>>,
}

fn cleared(v: String) -> Option<String> {
    (!v.is_empty()).then_some(v)
}

/// Records `name` in `before`/`after` if it changes.
fn diff(before: &mut Map<String, Value>, after: &mut Map<String, Value>, name: &str, old: Value, new: Value) {
    if old != new {
        before.insert(name.into(), old);
        after.insert(name.into(), new);
    }
}

/// Updates a user as `actor`. Disabling ends their sessions and revokes their tokens.
pub async fn update_user(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    changes: UserChanges,
) -> Result<UserDetails, AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let current = details(app, user_in_realm(app, realm, id).await?).await?;
    let email = changes.email.map(cleared);
    if let Some(Some(e)) = &email
        && (!e.contains('@') || e.len() > 320)
    {
        return Err(AdminError::Invalid(format!("'{e}' is not an email address")));
    }
    let mut actions = changes.required_actions;
    if let Some(list) = &mut actions {
        *list = list
            .iter()
            .map(|a| check_action(&rt.realm, realm, a).map(str::to_string))
            .collect::<Result<_, _>>()?;
        list.sort();
        list.dedup();
    }
    let attributes = changes.attributes.map(single_valued).transpose()?;
    let update = UserUpdate {
        email,
        first_name: changes.first_name.map(cleared),
        last_name: changes.last_name.map(cleared),
        enabled: changes.enabled,
        email_verified: changes.email_verified,
        required_actions: actions,
        attributes,
        unique_email: !rt.realm.users.duplicate_emails,
    };
    let (before, after) = changed_fields(&current, &update);
    app.store.update_user(id, update).await?;
    if !after.is_empty() {
        record(
            app,
            actor,
            realm,
            "user_updated",
            Some(id),
            json!({ "username": current.user.username, "before": before, "after": after }),
        )
        .await;
    }
    get_user(app, realm, id).await
}

/// Attributes as Gatehouse stores them: one value each (none removes one).
fn single_valued(map: BTreeMap<String, Vec<String>>) -> Result<Vec<(String, String)>, AdminError> {
    let mut out = Vec::new();
    for (name, mut values) in map {
        if name.is_empty() || name.len() > 255 {
            return Err(AdminError::Invalid("an attribute name must be 1-255 characters".into()));
        }
        match values.len() {
            0 => {}
            1 => out.extend(values.pop().map(|v| (name, v))),
            _ => {
                return Err(AdminError::Invalid(format!(
                    "attribute '{name}' has {} values; Gatehouse stores one value per attribute",
                    values.len()
                )));
            }
        }
    }
    Ok(out)
}

/// What `update` changes of `current`, before and after, in the admin API's field names (for
/// the security log; unchanged fields are left out).
fn changed_fields(current: &UserDetails, update: &UserUpdate) -> (Map<String, Value>, Map<String, Value>) {
    let u = &current.user;
    let (mut before, mut after) = (Map::new(), Map::new());
    if let Some(v) = &update.email {
        diff(&mut before, &mut after, "email", json!(u.email), json!(v));
    }
    if let Some(v) = &update.first_name {
        diff(&mut before, &mut after, "firstName", json!(u.first_name), json!(v));
    }
    if let Some(v) = &update.last_name {
        diff(&mut before, &mut after, "lastName", json!(u.last_name), json!(v));
    }
    if let Some(v) = update.enabled {
        diff(&mut before, &mut after, "enabled", json!(u.enabled), json!(v));
    }
    if let Some(v) = update.email_verified {
        diff(
            &mut before,
            &mut after,
            "emailVerified",
            json!(u.email_verified),
            json!(v),
        );
    }
    if let Some(v) = &update.required_actions {
        let mut old = current.required_actions.clone();
        old.sort();
        diff(&mut before, &mut after, "requiredActions", json!(old), json!(v));
    }
    if let Some(v) = &update.attributes {
        let old: BTreeMap<_, _> = current.attributes.iter().cloned().collect();
        let new: BTreeMap<_, _> = v.iter().cloned().collect();
        diff(&mut before, &mut after, "attributes", json!(old), json!(new));
    }
    (before, after)
}

/// Deletes a user and everything of theirs (their events stay, as the audit trail).
pub async fn delete_user(app: &AppState, actor: &Actor, realm: &str, id: &str) -> Result<(), AdminError> {
    user_in_realm(app, realm, id).await?;
    let deleted = app
        .store
        .delete_user(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("user '{id}'")))?;
    record(
        app,
        actor,
        realm,
        "user_deleted",
        Some(id),
        json!({ "username": deleted.username }),
    )
    .await;
    Ok(())
}

/// Takes back a required action (for the command line; the API replaces the whole set).
pub async fn unrequire_action(app: &AppState, realm: &str, username: &str, action: &str) -> Result<bool, AdminError> {
    let user = resolve_user(app, realm, username).await?;
    let action = crate::flow::actions::canonical(action).unwrap_or(action);
    let removed = app.store.remove_required_action(&user.id, action).await?;
    if removed {
        audit(
            app,
            realm,
            "required_action_removed",
            &user.id,
            json!({ "action": action }),
        )
        .await;
    }
    Ok(removed)
}
