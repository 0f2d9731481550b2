//! What the broker's pages share: the link row of an upstream account, a user made from one,
//! and the security log's entries about them.

use serde_json::json;

use super::browser::Browser;
use crate::broker::Identity;
use crate::flow::EngineError;
use crate::realm::IdentityProvider;
use crate::state::{AppState, RealmRuntime};
use crate::store::{NewLink, NewUser};

pub(super) fn new_link(rt: &RealmRuntime, provider: &IdentityProvider, identity: &Identity) -> NewLink {
    NewLink {
        realm: rt.realm.name.clone(),
        provider: provider.alias.clone(),
        subject: identity.subject.clone(),
        upstream_username: identity.username.clone(),
        email: identity.email.clone(),
    }
}

pub(super) fn linked_details(provider: &IdentityProvider, identity: &Identity, how: &str) -> serde_json::Value {
    json!({ "provider": provider.alias, "upstream_username": identity.username, "how": how })
}

/// A new user made from the upstream account, linked to it.
pub(super) async fn create_user(
    app: &AppState,
    rt: &RealmRuntime,
    provider: &IdentityProvider,
    identity: &Identity,
    who: &Browser,
) -> Result<String, EngineError> {
    let username = free_username(app, rt, provider, identity).await?;
    let new = NewUser {
        realm: rt.realm.name.clone(),
        username,
        // An address the provider does not vouch for is not the new user's (it would keep its
        // owner from registering, and lead a password reset into this account).
        email: identity.email.clone().filter(|_| identity.email_verified),
        first_name: identity.first_name.clone(),
        last_name: identity.last_name.clone(),
        required_actions: rt.realm.default_required_actions(),
        unique_email: !rt.realm.users.duplicate_emails,
        email_verified: identity.email_verified,
        ..NewUser::default()
    };
    let created = app
        .store
        .create_federated_user(new, new_link(rt, provider, identity))
        .await?;
    let details = linked_details(provider, identity, "created");
    record(app, rt, "identity_provider_linked", Some(&created.id), who, details).await;
    Ok(created.id)
}

/// A username for a user made from an upstream account: the provider's name for it, else the
/// address's local part, else the provider's alias; a number is added while it is taken.
async fn free_username(
    app: &AppState,
    rt: &RealmRuntime,
    provider: &IdentityProvider,
    identity: &Identity,
) -> Result<String, EngineError> {
    let local = identity
        .email
        .as_deref()
        .and_then(|e| e.split('@').next())
        .map(str::to_string);
    let base = [identity.username.clone(), local]
        .into_iter()
        .flatten()
        .map(|name| name.to_lowercase())
        .find(|name| crate::realm::usernames::username_problem(name).is_none())
        .unwrap_or_else(|| provider.alias.clone());
    for n in 0..50 {
        let candidate = if n == 0 { base.clone() } else { format!("{base}-{n}") };
        if app
            .store
            .find_user_by_username(&rt.realm.name, &candidate)
            .await?
            .is_none()
        {
            return Ok(candidate);
        }
    }
    Ok(format!("{base}-{}", &crate::crypto::new_id()[..8].to_lowercase()))
}

pub(super) async fn record(
    app: &AppState,
    rt: &RealmRuntime,
    kind: &str,
    user_id: Option<&str>,
    who: &Browser,
    details: serde_json::Value,
) {
    let event = crate::store::NewEvent {
        realm: rt.realm.name.clone(),
        kind: kind.into(),
        user_id: user_id.map(String::from),
        client_id: None,
        ip: who.ip.clone(),
        user_agent: who.user_agent.clone(),
        details,
    };
    crate::events::record(&app.store, event).await;
}
