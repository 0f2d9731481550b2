//! Who may use the admin API: the bearer of a valid access token issued by the `master` realm
//! to a user, or to a client for itself (client_credentials, a service account), holding the
//! `admin` role (every realm) or `REALM-admin` (that realm). Roles are read when the request
//! arrives — a user's from the database, a service account's from the master realm's
//! configuration — so taking a role away takes effect at once, not when tokens expire.

use super::Actor;
use super::master::MASTER_REALM;
use crate::events::Origin;
use crate::state::AppState;

/// Why a caller may not use the admin API (the API maps it to 401, 403 or 500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No token, or one that is invalid, expired, revoked or from another realm.
    Unauthorized(String),
    /// A valid token without the role this realm needs.
    Forbidden(String),
    /// The token could not be checked (details are logged).
    Internal,
}

pub use super::master::ADMIN_ROLE;

/// The role that administers one realm.
pub fn realm_admin_role(realm: &str) -> String {
    format!("{realm}-admin")
}

/// Who the token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { id: String, username: String },
    Client { client_id: String },
}

/// An authenticated caller of the admin API (not yet authorised for any realm).
#[derive(Debug, Clone)]
pub struct Admin {
    pub principal: Principal,
    /// The master-realm client the token was issued to.
    pub client_id: String,
    roles: Vec<String>,
    origin: Origin,
}

impl Admin {
    /// Whether this caller may administer `realm`. The master realm holds the administrators
    /// themselves, so only `admin` may change it: a `master-admin` could otherwise make
    /// itself `admin`.
    pub fn may_administer(&self, realm: &str) -> bool {
        if realm == MASTER_REALM {
            return self.is_global_admin();
        }
        let own = realm_admin_role(realm);
        self.roles.iter().any(|r| r == ADMIN_ROLE || *r == own)
    }

    /// Whether this caller holds the `admin` role (every realm, the master realm included).
    pub fn is_global_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ADMIN_ROLE)
    }

    /// 403 unless this caller may administer `realm`.
    pub fn require(&self, realm: &str) -> Result<(), Denied> {
        if self.may_administer(realm) {
            Ok(())
        } else {
            Err(Denied::Forbidden(format!(
                "this token's {} lacks the '{ADMIN_ROLE}' or '{}' role in the master realm",
                match &self.principal {
                    Principal::User { .. } => "user",
                    Principal::Client { .. } => "client",
                },
                realm_admin_role(realm)
            )))
        }
    }

    /// The caller as the security log names it.
    pub fn actor(&self) -> Actor {
        Actor {
            who: match &self.principal {
                Principal::User { username, .. } => format!("user:{username}@{MASTER_REALM}"),
                Principal::Client { client_id } => format!("client:{client_id}@{MASTER_REALM}"),
            },
            client_id: Some(self.client_id.clone()),
            ip: self.origin.ip.clone(),
            user_agent: self.origin.user_agent.clone(),
        }
    }
}

/// Checks the request's bearer token (`bearer`, from `Authorization: Bearer`) against the
/// master realm.
pub async fn authenticate(app: &AppState, bearer: Option<&str>, origin: Origin) -> Result<Admin, Denied> {
    let token = bearer.filter(|t| !t.is_empty()).ok_or_else(|| {
        Denied::Unauthorized("send an access token of the master realm as 'Authorization: Bearer …'".into())
    })?;
    let master = app
        .realm(MASTER_REALM)
        .ok_or_else(|| Denied::Unauthorized("the master realm is not loaded".into()))?;
    let claims = match crate::oidc::introspection::verify_access_token(app, &master, token).await {
        Ok(claims) => claims,
        // A database or key failure is ours, not the caller's.
        Err(e) if e.code == "server_error" => {
            tracing::error!(error = %e.description, "admin API: cannot check a token");
            return Err(Denied::Internal);
        }
        Err(e) => return Err(Denied::Unauthorized(format!("{}: {}", e.code, e.description))),
    };
    let (principal, roles) = if claims.gid.is_none() && claims.sub == claims.client_id {
        let client = master
            .realm
            .clients
            .get(&claims.client_id)
            .ok_or_else(|| Denied::Unauthorized("the token's client no longer exists".into()))?;
        (
            Principal::Client {
                client_id: client.client_id.clone(),
            },
            client.service_account_roles.clone(),
        )
    } else {
        person(app, &master, &claims.client_id, &claims.sub).await?
    };
    Ok(Admin {
        principal,
        client_id: claims.client_id,
        roles,
        origin,
    })
}

/// A person's token: issued to a client meant for administration (`admin_api: true`), not to
/// any app of the master realm (RFC 9700 §2.3), for an enabled user of the master realm. Only
/// roles the master realm still defines count.
async fn person(
    app: &AppState,
    master: &crate::state::RealmRuntime,
    client_id: &str,
    user_id: &str,
) -> Result<(Principal, Vec<String>), Denied> {
    if !master.realm.clients.get(client_id).is_some_and(|c| c.admin_api) {
        return Err(Denied::Unauthorized(format!(
            "tokens of client '{client_id}' are not accepted by the admin API (its master-realm client needs admin_api: true)"
        )));
    }
    let user = app
        .store
        .find_user(user_id)
        .await
        .map_err(store_failure)?
        .filter(|u| u.enabled && u.realm == MASTER_REALM)
        .ok_or_else(|| Denied::Unauthorized("the token's user is disabled or no longer exists".into()))?;
    let roles = app
        .store
        .roles(&user.id)
        .await
        .map_err(store_failure)?
        .into_iter()
        .filter(|r| master.realm.roles.contains(r))
        .collect();
    let principal = Principal::User {
        id: user.id,
        username: user.username,
    };
    Ok((principal, roles))
}

/// A database failure while checking a caller is ours, not the caller's.
fn store_failure(e: crate::store::StoreError) -> Denied {
    tracing::error!(error = %crate::ops::logging::untrusted(&e.to_string()), "admin API: cannot check a caller");
    Denied::Internal
}
