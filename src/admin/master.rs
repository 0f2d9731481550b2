//! The `master` realm, which holds the administrators. It exists from the first start: when no
//! realm file defines it and it was never applied, the built-in one below is applied. The
//! first administrator comes from `gatehouse admin bootstrap` or the
//! `GATEHOUSE_BOOTSTRAP_ADMIN_*` variables.

use super::{Actor, AdminError};
use crate::realm::Realm;
use crate::state::AppState;
use crate::store::Store;

pub const MASTER_REALM: &str = "master";

/// The role that administers every realm.
pub const ADMIN_ROLE: &str = "admin";

/// The built-in master realm. `admin-cli` is a public client for command-line tools, which
/// receive the code on a loopback redirect (RFC 8252), or use the password grant (Keycloak's
/// admin scripts do; a second factor is then asked as `totp`). ES256 keeps the first start fast.
pub const BUILT_IN: &str = "realm: master
display_name: Gatehouse administration
roles: [admin]
password_policy: { min_length: 12 }
required_actions:
  configure-otp: { enabled: true }
  update-password: { enabled: true }
tokens: { access_ttl: 5m, signing_alg: ES256 }
clients:
  - client_id: admin-cli
    name: Gatehouse command line
    redirect_uris: [http://127.0.0.1:8400/callback]
    grant_types: [authorization_code, refresh_token, password]
    admin_api: true
";

/// The built-in master realm, parsed.
pub fn built_in() -> Realm {
    // The text is fixed and covered by a test; an error here is a bug in this file.
    crate::realm::load_str("built-in master realm", BUILT_IN, &|_| None).unwrap_or_else(|e| {
        panic!("the built-in master realm is invalid: {e:?}");
    })
}

/// Applies the built-in master realm unless a master realm was ever applied. Returns whether
/// it did.
pub async fn ensure(store: &Store) -> Result<bool, crate::realm::apply::ApplyError> {
    if store.latest_realm_snapshot(MASTER_REALM).await?.is_some() {
        return Ok(false);
    }
    let changed = crate::realm::apply::apply(store, &[built_in()], "built-in").await?;
    Ok(!changed.is_empty())
}

/// Creates the first administrator: a master-realm user with the `admin` role. Refused once
/// any user holds that role, so it cannot be used to take over an installation.
pub async fn bootstrap(
    app: &AppState,
    username: &str,
    password: &str,
    email: Option<&str>,
) -> Result<String, AdminError> {
    let rt = app
        .realm(MASTER_REALM)
        .ok_or_else(|| AdminError::UnknownRealm(MASTER_REALM.into()))?;
    if !rt.realm.roles.iter().any(|r| r == ADMIN_ROLE) {
        return Err(AdminError::Invalid(format!(
            "the master realm has no '{ADMIN_ROLE}' role; add it to its realm file"
        )));
    }
    if app.store.any_user_with_role(MASTER_REALM, ADMIN_ROLE).await? {
        return Err(AdminError::Invalid(
            "an administrator already exists; bootstrap only creates the first one".into(),
        ));
    }
    // The master realm's password policy applies, as to every user created.
    let user = super::create_user(app, MASTER_REALM, username, email, Some(password)).await?;
    app.store.grant_role(&user.id, ADMIN_ROLE).await?;
    super::record(
        app,
        &Actor::cli(),
        MASTER_REALM,
        "admin_bootstrapped",
        Some(&user.id),
        serde_json::json!({ "username": username, "role": ADMIN_ROLE }),
    )
    .await;
    Ok(user.id)
}

/// `GATEHOUSE_BOOTSTRAP_ADMIN_USERNAME` and `_PASSWORD` at start: creates the first
/// administrator if there is none yet; does nothing once there is one.
pub async fn bootstrap_from_env(app: &AppState) -> Result<(), AdminError> {
    let (Ok(username), Ok(password)) = (
        std::env::var("GATEHOUSE_BOOTSTRAP_ADMIN_USERNAME"),
        std::env::var("GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD"),
    ) else {
        return Ok(());
    };
    if app.store.any_user_with_role(MASTER_REALM, ADMIN_ROLE).await? {
        return Ok(());
    }
    let email = std::env::var("GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL").ok();
    match bootstrap(app, &username, &password, email.as_deref()).await {
        Ok(_) => {
            tracing::info!(%username, "first administrator created from GATEHOUSE_BOOTSTRAP_ADMIN_*");
            Ok(())
        }
        // Another node starting at the same moment won the race, or an earlier start stopped
        // half-way: neither should keep this node from starting.
        Err(AdminError::UserExists(_)) => {
            tracing::warn!(
                %username,
                "GATEHOUSE_BOOTSTRAP_ADMIN_USERNAME names an existing user; if it is not an administrator, run: gatehouse user grant-role master {username} admin"
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_master_realm_is_valid() {
        let realm = super::built_in();
        assert_eq!(realm.name, super::MASTER_REALM);
        assert!(realm.roles.contains(&super::ADMIN_ROLE.to_string()));
        assert!(realm.clients["admin-cli"].is_public());
    }
}
