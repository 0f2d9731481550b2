//! What the token endpoint's grants share: the request form and the response, the client's
//! right to a grant, refresh tokens and the token response. `grants.rs` and `password_grant.rs`
//! both take these from here, so neither needs the other's helpers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::OAuthError;
use super::jwt::{self, SignInFacts, TokenInput};
use crate::realm::{Client, GrantType};
use crate::state::{AppState, RealmRuntime};
use crate::store::Lifetimes;
use crate::store::entity::grant;

/// The form fields of a token request.
/// Not `Debug`: it may hold a password.
#[derive(Default, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// The password grant's credentials (`totp`: the one-time code, Keycloak's name).
    pub username: Option<String>,
    pub password: Option<String>,
    pub totp: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

pub(super) fn lifetimes(rt: &RealmRuntime) -> Lifetimes {
    Lifetimes {
        refresh_ttl_secs: rt.realm.tokens.refresh_ttl.as_secs(),
        sso_idle_secs: rt.realm.tokens.sso_idle.as_secs(),
    }
}

pub(super) fn require_grant(client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if client.allows(grant) {
        Ok(())
    } else {
        Err(OAuthError::unauthorized_client(format!(
            "this client may not use {}",
            grant.as_str()
        )))
    }
}

/// A new refresh token of `client` for `user_id` (see [`jwt::refresh_token`]).
pub(super) fn new_refresh_token(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    user_id: &str,
    session_id: Option<&str>,
    facts: &SignInFacts,
    t: i64,
) -> String {
    let defaults = default_scopes(rt, client);
    let input = TokenInput {
        issuer: &rt.issuer,
        client_id: &client.client_id,
        subject: user_id,
        user: None,
        session_id,
        grant_id: None,
        facts,
        access_ttl: 0,
        now: t,
        alg: rt.realm.tokens.signing_alg,
        roles: ("", &[]),
        client_roles: &jwt::NO_CLIENT_ROLES,
        default_scopes: &defaults,
        web_origins: &[],
        organization: None,
    };
    jwt::refresh_token(&state.master_key, &input, rt.realm.tokens.refresh_ttl.as_secs())
}

/// A new refresh token as [`new_refresh_token`], when `client` may use the refresh_token
/// grant; `None` otherwise.
pub(super) fn refresh_if_allowed(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    user_id: &str,
    session_id: Option<&str>,
    facts: &SignInFacts,
    t: i64,
) -> Option<String> {
    match client.allows(GrantType::RefreshToken) {
        true => Some(new_refresh_token(state, rt, client, user_id, session_id, facts, t)),
        false => None,
    }
}

/// The realm's default scopes for `client`: `profile` and `email` only when the client may
/// ask for them (its `scopes` list bounds what it gets).
pub(super) fn default_scopes(rt: &RealmRuntime, client: &Client) -> Vec<String> {
    rt.realm
        .tokens
        .default_scopes
        .iter()
        .filter(|s| !matches!(s.as_str(), "profile" | "email") || client.allows_scope(s))
        .cloned()
        .collect()
}

/// A user's roles as tokens carry them: realm roles, client roles by client id, and the
/// membership of the client's organization.
#[derive(Debug, Default)]
pub(super) struct UserRoles {
    pub realm: Vec<String>,
    pub clients: BTreeMap<String, Vec<String>>,
    /// The `organization` claim, for an organization's app.
    pub organization: Option<serde_json::Value>,
}

/// The user's roles for tokens of `client` (none read when the realm puts no roles in
/// tokens; client roles only when a client has roles, and only those its realm file still
/// lists). Refused (`invalid_grant`, and logged) when the client belongs to an organization
/// that does not admit the user (see [`crate::orgs::admit`]).
pub(super) async fn user_roles(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    user_id: &str,
    attempt: &crate::orgs::Attempt<'_>,
) -> Result<UserRoles, OAuthError> {
    let organization = match crate::orgs::admit(&state.store, &rt.realm, client, user_id, attempt).await? {
        crate::orgs::Admission::Open => None,
        crate::orgs::Admission::Member(claim) => Some(claim),
        crate::orgs::Admission::Refused(refusal) => return Err(OAuthError::invalid_grant(refusal.message)),
    };
    if rt.realm.tokens.roles_claim.is_empty() {
        return Ok(UserRoles {
            organization,
            ..UserRoles::default()
        });
    }
    let realm = state.store.roles(user_id).await?;
    if rt.realm.clients.values().all(|c| c.roles.is_empty()) {
        return Ok(UserRoles {
            realm,
            clients: BTreeMap::new(),
            organization,
        });
    }
    let clients = rt.realm.listed_client_roles(state.store.client_roles(user_id).await?);
    Ok(UserRoles {
        realm,
        clients,
        organization,
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn respond(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    grant: &grant::Model,
    user: &crate::store::entity::user::Model,
    facts: &SignInFacts,
    roles: &UserRoles,
    refresh: Option<String>,
    t: i64,
) -> Result<TokenResponse, OAuthError> {
    let key = state
        .keys
        .active(&rt.realm.name)
        .ok_or_else(|| OAuthError::server_error("no signing key"))?;
    let issued = jwt::issue(
        &key,
        &TokenInput {
            issuer: &rt.issuer,
            client_id: &client.client_id,
            subject: &user.id,
            user: Some(user),
            session_id: grant.session_id.as_deref(),
            grant_id: Some(&grant.id),
            facts,
            access_ttl: rt.realm.tokens.access_ttl.as_secs(),
            now: t,
            alg: key.alg,
            roles: (&rt.realm.tokens.roles_claim, &roles.realm),
            client_roles: &roles.clients,
            default_scopes: &default_scopes(rt, client),
            web_origins: &client.resolved_web_origins(),
            organization: roles.organization.as_ref(),
        },
    )
    .map_err(|e| OAuthError::server_error(e.to_string()))?;
    Ok(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_expires_in: refresh.as_ref().map(|_| rt.realm.tokens.refresh_ttl.as_secs()),
        refresh_token: refresh,
        id_token: issued.id_token,
        scope: issued.scope,
    })
}
