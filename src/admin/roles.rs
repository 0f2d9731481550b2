//! Realm-role mappings of a user, as Keycloak's `…/role-mappings/realm`. Roles are defined in
//! the realm file; a mapping may name only those. Tokens read a user's roles when issued.

use serde_json::json;

use super::users::user_in_realm;
use super::{Actor, AdminError, record};
use crate::state::AppState;

/// The realm roles a user holds, by name.
pub async fn user_roles(app: &AppState, realm: &str, id: &str) -> Result<Vec<String>, AdminError> {
    let user = user_in_realm(app, realm, id).await?;
    Ok(app.store.roles(&user.id).await?)
}

fn check_roles(app: &AppState, realm: &str, roles: &[String]) -> Result<(), AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    for role in roles {
        if !rt.realm.roles.contains(role) {
            return Err(AdminError::Invalid(format!(
                "realm '{realm}' has no role '{role}'; its roles: {}",
                if rt.realm.roles.is_empty() {
                    "none (add them under `roles:` in the realm file)".to_string()
                } else {
                    rt.realm.roles.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// Grants realm roles as `actor` (all or none); returns those newly granted. Each is one
/// `role_granted` event.
pub async fn grant_roles(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    roles: &[String],
) -> Result<Vec<String>, AdminError> {
    check_roles(app, realm, roles)?;
    let user = user_in_realm(app, realm, id).await?;
    let added = app.store.grant_roles(&user.id, roles).await?;
    for role in &added {
        let details = json!({ "username": user.username, "role": role });
        record(app, actor, realm, "role_granted", Some(&user.id), details).await;
    }
    Ok(added)
}

/// Takes realm roles away as `actor`; returns those the user held. Each is one
/// `role_revoked` event.
pub async fn revoke_roles(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    roles: &[String],
) -> Result<Vec<String>, AdminError> {
    check_roles(app, realm, roles)?;
    let user = user_in_realm(app, realm, id).await?;
    let removed = app.store.revoke_roles(&user.id, roles).await?;
    for role in &removed {
        let details = json!({ "username": user.username, "role": role });
        record(app, actor, realm, "role_revoked", Some(&user.id), details).await;
    }
    Ok(removed)
}

/// The client roles a user holds, by client id (only roles the realm file still lists).
pub async fn user_client_roles(
    app: &AppState,
    realm: &str,
    id: &str,
) -> Result<std::collections::BTreeMap<String, Vec<String>>, AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let user = user_in_realm(app, realm, id).await?;
    let held = rt.realm.listed_client_roles(app.store.client_roles(&user.id).await?);
    Ok(held)
}

/// The roles `client_id` lists, or why the client or a role is unknown.
fn check_client_roles(app: &AppState, realm: &str, client_id: &str, roles: &[String]) -> Result<(), AdminError> {
    let rt = app.realm(realm).ok_or_else(|| AdminError::UnknownRealm(realm.into()))?;
    let client = rt
        .realm
        .clients
        .get(client_id)
        .ok_or_else(|| AdminError::NotFound(format!("client '{client_id}' of realm '{realm}'")))?;
    for role in roles {
        if !client.roles.contains(role) {
            return Err(AdminError::Invalid(format!(
                "client '{client_id}' has no role '{role}'; its roles: {}",
                if client.roles.is_empty() {
                    "none (add them under the client's `roles:` in the realm file)".to_string()
                } else {
                    client.roles.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// Grants roles of `client_id` as `actor` (all or none); returns those newly granted. Each is
/// one `role_granted` event naming the client.
pub async fn grant_client_roles(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    client_id: &str,
    roles: &[String],
) -> Result<Vec<String>, AdminError> {
    check_client_roles(app, realm, client_id, roles)?;
    let user = user_in_realm(app, realm, id).await?;
    let added = app.store.grant_client_roles(&user.id, client_id, roles).await?;
    for role in &added {
        let details = json!({ "username": user.username, "client": client_id, "role": role });
        record(app, actor, realm, "role_granted", Some(&user.id), details).await;
    }
    Ok(added)
}

/// Takes roles of `client_id` away as `actor`; returns those the user held. Each is one
/// `role_revoked` event naming the client. Roles (and clients) the realm file no longer lists
/// may be taken away too, so that they cannot come back with a role of the same name.
pub async fn revoke_client_roles(
    app: &AppState,
    actor: &Actor,
    realm: &str,
    id: &str,
    client_id: &str,
    roles: &[String],
) -> Result<Vec<String>, AdminError> {
    let user = user_in_realm(app, realm, id).await?;
    let removed = app.store.revoke_client_roles(&user.id, client_id, roles).await?;
    for role in &removed {
        let details = json!({ "username": user.username, "client": client_id, "role": role });
        record(app, actor, realm, "role_revoked", Some(&user.id), details).await;
    }
    Ok(removed)
}
