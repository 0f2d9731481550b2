//! The token endpoint's grants: authorization_code, refresh_token, client_credentials and
//! (in `password_grant`) password: what `jwt` mints, handed out under each grant's rules.

use serde::{Deserialize, Serialize};

use super::audit::{self, Reason, Revoked};
use super::error::OAuthError;
use super::jwt::{self, SignInFacts, TokenInput};
use crate::crypto::sha256_hex;
use crate::events::Origin;
use crate::realm::{Client, GrantType};
use crate::state::{AppState, RealmRuntime};
use crate::store::entity::grant;
use crate::store::{CodeExchange, Lifetimes, RefreshRotation, now};

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

/// `origin` is where the request came from, for the security log (reuse detection revokes
/// tokens, and says so there).
pub async fn exchange(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    form: &TokenForm,
    origin: &Origin,
) -> Result<TokenResponse, OAuthError> {
    let (grant, issued) = match form.grant_type.as_deref() {
        Some("authorization_code") => (
            GrantType::AuthorizationCode,
            authorization_code(state, rt, client, form, origin).await,
        ),
        Some("refresh_token") => (
            GrantType::RefreshToken,
            refresh_token(state, rt, client, form, origin).await,
        ),
        Some("client_credentials") => (
            GrantType::ClientCredentials,
            client_credentials(state, rt, client, form),
        ),
        Some("password") => (
            GrantType::Password,
            super::password_grant::password(state, rt, client, form, origin).await,
        ),
        Some(other) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant_type '{other}' is not supported"
            )));
        }
        None => return Err(OAuthError::invalid_request("grant_type is missing")),
    };
    if issued.is_ok() {
        state.metrics.token_issued(grant.as_str());
    }
    issued
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

/// Claims a code exactly once. A code presented again revokes what was issued for it (RFC
/// 9700 §4.2.4): the code's own realm and client, whoever replays it.
async fn claim_code(
    state: &AppState,
    client: &Client,
    code_hash: &str,
    origin: &Origin,
) -> Result<Box<crate::store::entity::auth_code::Model>, OAuthError> {
    match state.store.claim_code(code_hash).await? {
        CodeExchange::Claimed(c) => Ok(c),
        CodeExchange::Reused(code) => {
            tracing::warn!(client = %client.client_id, "authorization code replayed; its grant is revoked");
            let what = Revoked {
                user_id: Some(&code.user_id),
                client_id: &code.client_id,
                session_id: Some(&code.session_id),
                token_type: "authorization_code",
            };
            audit::token_revoked(state, &code.realm, origin, Reason::CodeReplayed, what).await;
            Err(OAuthError::invalid_grant(
                "the code was already used; tokens issued for it are revoked",
            ))
        }
        CodeExchange::Expired => Err(OAuthError::invalid_grant("the code has expired")),
        CodeExchange::Unknown => Err(OAuthError::invalid_grant("the code is not valid")),
    }
}

/// PKCE (RFC 7636): a code requested with a challenge needs its verifier, and one without
/// takes none.
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) if jwt::pkce_matches(challenge, verifier) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is missing")),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent but no code_challenge was",
        )),
        (None, None) => Ok(()),
    }
}

async fn authorization_code(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    form: &TokenForm,
    origin: &Origin,
) -> Result<TokenResponse, OAuthError> {
    require_grant(client, GrantType::AuthorizationCode)?;
    // The console spends its own codes on the server; none is ever exchanged for tokens.
    if client.client_id == crate::realm::ACCOUNT_CONSOLE {
        return Err(OAuthError::unauthorized_client(
            "the account console's codes are not exchanged for tokens",
        ));
    }
    let code = form
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let code_hash = sha256_hex(code.as_bytes());
    let claimed = claim_code(state, client, &code_hash, origin).await?;
    if claimed.client_id != client.client_id || claimed.realm != rt.realm.name {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if form.redirect_uri.as_deref() != Some(claimed.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    let facts: SignInFacts =
        serde_json::from_str(&claimed.data).map_err(|_| OAuthError::server_error("stored code is unreadable"))?;
    check_pkce(facts.code_challenge.as_deref(), form.code_verifier.as_deref())?;
    let user = state
        .store
        .find_user(&claimed.user_id)
        .await?
        .filter(|u| u.enabled)
        .ok_or_else(|| OAuthError::invalid_grant("the user is disabled or deleted"))?;
    let t = now();
    let grant = grant::Model {
        id: code_hash,
        realm: rt.realm.name.clone(),
        client_id: client.client_id.clone(),
        user_id: Some(user.id.clone()),
        session_id: Some(claimed.session_id.clone()),
        scope: facts.scope.clone(),
        data: claimed.data.clone(),
        created_at: t,
        revoked_at: None,
    };
    let refresh = match client.allows(GrantType::RefreshToken) {
        true => Some(new_refresh_token(
            state,
            rt,
            client,
            &user.id,
            Some(&claimed.session_id),
            &facts,
            t,
        )),
        false => None,
    };
    state
        .store
        .create_grant(
            grant.clone(),
            refresh.as_ref().map(|r| sha256_hex(r.as_bytes())),
            lifetimes(rt),
        )
        .await
        .map_err(|e| match e {
            // A replay of the code won the race and revoked this grant before it existed.
            crate::store::StoreError::Conflict(_) => OAuthError::invalid_grant("the code was already used"),
            crate::store::StoreError::NotFound(_) => OAuthError::invalid_grant("the user has signed out"),
            other => other.into(),
        })?;
    let roles = user_roles(state, rt, &user.id).await?;
    respond(state, rt, client, &grant, &user, &facts, &roles, refresh, t)
}

/// Spends the refresh token `hash` for `next`. A token presented again revokes its whole
/// family (RFC 9700 §4.14.2): the grant's own realm and client, whoever presents it.
async fn rotate(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    hash: &str,
    next: &str,
    origin: &Origin,
) -> Result<grant::Model, OAuthError> {
    match state
        .store
        .rotate_refresh_token(hash, &sha256_hex(next.as_bytes()), lifetimes(rt))
        .await?
    {
        RefreshRotation::Rotated(g) => Ok(*g),
        RefreshRotation::SessionEnded => Err(OAuthError::invalid_grant(
            "the sign-in session has ended; sign in again",
        )),
        RefreshRotation::Reused(g) => {
            tracing::warn!(client = %client.client_id, "refresh token reused; its family is revoked");
            let what = Revoked {
                user_id: g.user_id.as_deref(),
                client_id: &g.client_id,
                session_id: g.session_id.as_deref(),
                token_type: "refresh_token",
            };
            audit::token_revoked(state, &g.realm, origin, Reason::RefreshTokenReused, what).await;
            Err(OAuthError::invalid_grant(
                "the refresh token was already used; the session's tokens are revoked",
            ))
        }
        RefreshRotation::Revoked => Err(OAuthError::invalid_grant("the refresh token has been revoked")),
        RefreshRotation::Expired => Err(OAuthError::invalid_grant("the refresh token has expired")),
        RefreshRotation::Unknown => Err(OAuthError::invalid_grant("the refresh token is not valid")),
    }
}

async fn refresh_token(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    form: &TokenForm,
    origin: &Origin,
) -> Result<TokenResponse, OAuthError> {
    require_grant(client, GrantType::RefreshToken)?;
    let presented = form
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    if let Some(scope) = form.scope.as_deref().and_then(|s| client.disallowed_scope(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{scope}' is not allowed for this client"
        )));
    }
    let hash = sha256_hex(presented.as_bytes());
    let invalid = || OAuthError::invalid_grant("the refresh token is not valid");
    // The token must belong to this client before it is spent (RFC 6749 §6).
    let grant_id = state.store.grant_of_refresh_token(&hash).await?.ok_or_else(invalid)?;
    let owner = state.store.grant(&grant_id).await?.ok_or_else(invalid)?;
    if owner.client_id != client.client_id || owner.realm != rt.realm.name {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    // Everything that can refuse the request is checked before the token is spent, so that a
    // refused request leaves it usable (a retry must not look like reuse).
    if let Some(requested) = form.scope.as_deref() {
        // The default scopes count as granted: the token response named them.
        let defaults = rt.realm.tokens.default_scopes.iter().map(String::as_str);
        let granted: Vec<&str> = owner.scope.split_ascii_whitespace().chain(defaults).collect();
        if requested.split_ascii_whitespace().any(|s| !granted.contains(&s)) {
            return Err(OAuthError::invalid_scope("a refresh may not widen the granted scope"));
        }
    }
    let user = state
        .store
        .find_user(owner.user_id.as_deref().unwrap_or_default())
        .await?
        .filter(|u| u.enabled)
        .ok_or_else(|| OAuthError::invalid_grant("the user is disabled or deleted"))?;
    let roles = user_roles(state, rt, &user.id).await?;
    let t = now();
    let mut facts: SignInFacts = serde_json::from_str(&owner.data).unwrap_or_default();
    if let Some(requested) = form.scope.as_deref() {
        facts.scope = requested.to_string();
    }
    // A nonce belongs to the original authentication only (OIDC Core §12.2).
    facts.nonce = None;
    let next = new_refresh_token(state, rt, client, &user.id, owner.session_id.as_deref(), &facts, t);
    let grant = rotate(state, rt, client, &hash, &next, origin).await?;
    respond(state, rt, client, &grant, &user, &facts, &roles, Some(next), t)
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
        default_scopes: &defaults,
        web_origins: &[],
    };
    jwt::refresh_token(&state.master_key, &input, rt.realm.tokens.refresh_ttl.as_secs())
}

/// The realm's default scopes for `client`: `profile` and `email` only when the client may
/// ask for them (its `scopes` list bounds what it gets).
fn default_scopes(rt: &RealmRuntime, client: &Client) -> Vec<String> {
    rt.realm
        .tokens
        .default_scopes
        .iter()
        .filter(|s| !matches!(s.as_str(), "profile" | "email") || client.allows_scope(s))
        .cloned()
        .collect()
}

/// The user's realm roles for the tokens (none read when the realm puts no roles in tokens).
pub(super) async fn user_roles(state: &AppState, rt: &RealmRuntime, user_id: &str) -> Result<Vec<String>, OAuthError> {
    if rt.realm.tokens.roles_claim.is_empty() {
        return Ok(vec![]);
    }
    Ok(state.store.roles(user_id).await?)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn respond(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    grant: &grant::Model,
    user: &crate::store::entity::user::Model,
    facts: &SignInFacts,
    roles: &[String],
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
            roles: (&rt.realm.tokens.roles_claim, roles),
            default_scopes: &default_scopes(rt, client),
            web_origins: &client.resolved_web_origins(),
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

fn client_credentials(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    form: &TokenForm,
) -> Result<TokenResponse, OAuthError> {
    require_grant(client, GrantType::ClientCredentials)?;
    if client.is_public() {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        ));
    }
    let scope = form.scope.clone().unwrap_or_default();
    let without_openid: Vec<&str> = scope.split_ascii_whitespace().filter(|s| *s != "openid").collect();
    if let Some(unknown) = client.disallowed_scope(&without_openid.join(" ")) {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{unknown}' is not allowed for this client"
        )));
    }
    // `openid` is accepted, as Keycloak does (python-keycloak sends it by default), but gives no
    // ID token: there is no user to say anything about.
    if scope.split_ascii_whitespace().any(|s| s == "offline_access") {
        return Err(OAuthError::invalid_scope(
            "offline_access needs a user; client_credentials has none",
        ));
    }
    let key = state
        .keys
        .active(&rt.realm.name)
        .ok_or_else(|| OAuthError::server_error("no signing key"))?;
    let facts = SignInFacts {
        scope: scope.clone(),
        ..Default::default()
    };
    let issued = jwt::issue(
        &key,
        &TokenInput {
            issuer: &rt.issuer,
            client_id: &client.client_id,
            subject: &client.client_id,
            user: None,
            session_id: None,
            grant_id: None,
            facts: &facts,
            access_ttl: rt.realm.tokens.access_ttl.as_secs(),
            now: now(),
            alg: key.alg,
            roles: (&rt.realm.tokens.roles_claim, &client.service_account_roles),
            default_scopes: &default_scopes(rt, client),
            web_origins: &client.resolved_web_origins(),
        },
    )
    .map_err(|e| OAuthError::server_error(e.to_string()))?;
    Ok(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: None,
        refresh_expires_in: None,
        id_token: None,
        scope: issued.scope,
    })
}
