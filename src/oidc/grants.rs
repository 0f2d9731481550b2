//! The token endpoint's grants: authorization_code, refresh_token, client_credentials and
//! (in `password_grant`) password: what `jwt` mints, handed out under each grant's rules.

use super::audit::{self, Reason, Revoked};
use super::error::OAuthError;
use super::grant_common::{
    default_scopes, lifetimes, new_refresh_token, refresh_if_allowed, require_grant, respond, user_roles,
};
use super::jwt::{self, SignInFacts, TokenInput};
use crate::crypto::sha256_hex;
use crate::events::Origin;
use crate::realm::{Client, GrantType};
use crate::state::{AppState, RealmRuntime};
use crate::store::entity::{auth_code, grant};
use crate::store::{CodeExchange, RefreshRotation, now};

pub use super::grant_common::{TokenForm, TokenResponse};

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

/// Claims a code exactly once. A code presented again revokes what was issued for it (RFC
/// 9700 §4.2.4): the code's own realm and client, whoever replays it.
async fn claim_code(
    state: &AppState,
    client: &Client,
    code_hash: &str,
    origin: &Origin,
) -> Result<Box<auth_code::Model>, OAuthError> {
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
    let facts = check_claimed_code(rt, client, form, &claimed)?;
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
    // The address was checked when the code was issued; this request is the app's server.
    let attempt = crate::orgs::Attempt {
        ip: None,
        amr: &facts.amr,
        auth_time: facts.auth_time,
        now: t,
    };
    let roles = user_roles(state, rt, client, &user.id, &attempt).await?;
    let refresh = refresh_if_allowed(state, rt, client, &user.id, Some(&claimed.session_id), &facts, t);
    store_code_grant(state, rt, &grant, refresh.as_deref()).await?;
    respond(state, rt, client, &grant, &user, &facts, &roles, refresh, t)
}

/// Checks a claimed code against the request presenting it (its client and realm, the
/// redirect URI, PKCE), returning the sign-in facts it was issued with.
fn check_claimed_code(
    rt: &RealmRuntime,
    client: &Client,
    form: &TokenForm,
    claimed: &auth_code::Model,
) -> Result<SignInFacts, OAuthError> {
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
    Ok(facts)
}

/// Stores the grant a code was exchanged for, with its first refresh token (if any).
async fn store_code_grant(
    state: &AppState,
    rt: &RealmRuntime,
    grant: &grant::Model,
    refresh: Option<&str>,
) -> Result<(), OAuthError> {
    state
        .store
        .create_grant(grant.clone(), refresh.map(|r| sha256_hex(r.as_bytes())), lifetimes(rt))
        .await
        .map_err(|e| match e {
            // A replay of the code won the race and revoked this grant before it existed.
            crate::store::StoreError::Conflict(_) => OAuthError::invalid_grant("the code was already used"),
            crate::store::StoreError::NotFound(_) => OAuthError::invalid_grant("the user has signed out"),
            other => other.into(),
        })
}

/// Spends the refresh token `hash` for `next`. A token presented again revokes its whole
/// family (RFC 9700 §4.14.2): the grant's own realm and client, whoever presents it.
async fn rotate(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    hash: &str,
    next: &str,
    owner: &grant::Model,
    origin: &Origin,
) -> Result<grant::Model, OAuthError> {
    match state
        .store
        .rotate_refresh_token(hash, &sha256_hex(next.as_bytes()), owner, lifetimes(rt))
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
    let (owner, user) = state
        .store
        .grant_with_user_of_refresh_token(&hash)
        .await?
        .ok_or_else(invalid)?;
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
    let user = user
        .filter(|u| u.enabled)
        .ok_or_else(|| OAuthError::invalid_grant("the user is disabled or deleted"))?;
    let t = now();
    let mut facts: SignInFacts = serde_json::from_str(&owner.data).unwrap_or_default();
    // For an organization's app (or in a realm with an address allowlist), a token that no
    // longer stands goes to the rotation first, which refuses it and revokes the family if it
    // is a replay: the policy must not answer in its place (nor tell a stale token's holder
    // about itself).
    let policy_applies = client.organization.is_some() || !rt.realm.ip_allowlist.is_empty();
    if policy_applies && state.store.live_refresh_token(&hash).await?.is_none() {
        let next = new_refresh_token(state, rt, client, &user.id, owner.session_id.as_deref(), &facts, t);
        rotate(state, rt, client, &hash, &next, &owner, origin).await?;
        return Err(invalid());
    }
    let attempt = crate::orgs::Attempt {
        ip: origin.ip.as_deref(),
        amr: &facts.amr,
        auth_time: facts.auth_time,
        now: t,
    };
    let roles = user_roles(state, rt, client, &user.id, &attempt).await?;
    if let Some(requested) = form.scope.as_deref() {
        facts.scope = requested.to_string();
    }
    // A nonce belongs to the original authentication only (OIDC Core §12.2).
    facts.nonce = None;
    let next = new_refresh_token(state, rt, client, &user.id, owner.session_id.as_deref(), &facts, t);
    let grant = rotate(state, rt, client, &hash, &next, &owner, origin).await?;
    respond(state, rt, client, &grant, &user, &facts, &roles, Some(next), t)
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
    check_client_scope(client, &scope)?;
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
            client_roles: &jwt::NO_CLIENT_ROLES,
            default_scopes: &default_scopes(rt, client),
            web_origins: &client.resolved_web_origins(),
            organization: None,
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

/// The scope a client asks for itself: what its `scopes` allow, besides `openid`, and never
/// `offline_access`.
fn check_client_scope(client: &Client, scope: &str) -> Result<(), OAuthError> {
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
    Ok(())
}
