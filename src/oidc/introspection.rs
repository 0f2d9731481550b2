//! Checking tokens we issued: userinfo (OIDC Core §5.3), introspection (RFC 7662) and
//! revocation (RFC 7009).

use serde_json::{Map, Value, json};

use super::audit::{self, Reason, Revoked};
use super::error::OAuthError;
use super::jwt::{AccessClaims, user_claims};
use crate::crypto::sha256_hex;
use crate::events::Origin;
use crate::realm::Client;
use crate::state::{AppState, RealmRuntime};
use crate::store::PAT_PREFIX;

/// Verifies an access token's signature, type, issuer and expiry (no database read): nothing
/// about its grant, for callers that check that in the statement they read with.
pub async fn verify_signature(state: &AppState, rt: &RealmRuntime, token: &str) -> Result<AccessClaims, OAuthError> {
    let keys = state
        .keys
        .get_or_reload_for(&rt.realm.name, token, rt.realm.key_retention_secs())
        .await
        .ok_or_else(|| OAuthError::server_error("no signing keys"))?;
    keys.verifying
        .verify_access_token(token, &rt.issuer)
        .map_err(|_| OAuthError::invalid_token("the access token is invalid or expired"))
}

/// Verifies an access token's signature, issuer and expiry, then that its grant (or, for a
/// token without one, the token itself) has not been revoked.
pub async fn verify_access_token(state: &AppState, rt: &RealmRuntime, token: &str) -> Result<AccessClaims, OAuthError> {
    let claims = verify_signature(state, rt, token).await?;
    let revoked = match &claims.gid {
        Some(gid) => state.store.grant(gid).await?.is_none_or(|g| g.revoked_at.is_some()),
        None => state.store.is_jti_revoked(&claims.jti).await?,
    };
    if revoked {
        return Err(OAuthError::invalid_token("the access token has been revoked"));
    }
    Ok(claims)
}

/// A personal access token under the realm's policy as it is now: the scopes it was given that
/// `pat.scopes` still allows, and when it ends at the latest (`pat.max_ttl` after creation);
/// `None` once that has passed. Narrowing the policy narrows tokens already out.
fn pat_in_policy<'p>(
    rt: &RealmRuntime,
    pat: &'p crate::store::entity::personal_access_token::Model,
) -> Option<(Vec<&'p str>, i64)> {
    let policy = &rt.realm.pat;
    let exp = pat.expires_at.min(pat.created_at + policy.max_ttl.as_secs());
    if exp <= crate::store::now() {
        return None;
    }
    let scopes = pat
        .scope
        .split_ascii_whitespace()
        .filter(|s| policy.scopes.iter().any(|a| a == s))
        .collect();
    Some((scopes, exp))
}

/// What a user's access token stands for: its claims, its live grant, and its user (enabled,
/// of this realm). One database read: the grant joined with its user.
pub async fn token_user(state: &AppState, rt: &RealmRuntime, token: &str) -> Result<TokenUser, OAuthError> {
    checked_token_user(state, rt, token, None).await
}

/// As [`token_user`], and the SSO session the token was issued under is still live: for APIs
/// that act on the user's sessions (the account API). One statement for grant, user and session.
pub async fn token_user_in_live_session(
    state: &AppState,
    rt: &RealmRuntime,
    token: &str,
) -> Result<TokenUser, OAuthError> {
    checked_token_user(state, rt, token, Some(rt.realm.tokens.sso_idle.as_secs())).await
}

/// An access token's claims, its grant and its user.
pub type TokenUser = (
    AccessClaims,
    crate::store::entity::grant::Model,
    crate::store::entity::user::Model,
);

async fn checked_token_user(
    state: &AppState,
    rt: &RealmRuntime,
    token: &str,
    live_session_idle: Option<i64>,
) -> Result<TokenUser, OAuthError> {
    let claims = verify_signature(state, rt, token).await?;
    // Tokens of a user always name their grant; one without is a client's own token.
    let gid = claims
        .gid
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_token("the access token has no user"))?;
    let found = match live_session_idle {
        Some(idle) => state.store.grant_with_user_in_live_session(gid, idle).await?,
        None => state.store.grant_with_user(gid).await?,
    };
    let (grant, user) = found
        .filter(|(g, _)| g.revoked_at.is_none())
        .ok_or_else(|| match live_session_idle {
            Some(_) => OAuthError::invalid_token("the access token has been revoked, or its session has ended"),
            None => OAuthError::invalid_token("the access token has been revoked"),
        })?;
    let user = user
        .filter(|u| u.enabled && u.realm == rt.realm.name && u.id == claims.sub)
        .ok_or_else(|| OAuthError::invalid_token("the user no longer exists"))?;
    Ok((claims, grant, user))
}

/// What a personal access token (`gtp_…`) stands for: its user (enabled, of this realm) and
/// the scopes the realm's policy still grants it. Its last use (time, `ip`) is noted.
pub async fn pat_user(
    state: &AppState,
    rt: &RealmRuntime,
    token: &str,
    ip: Option<&str>,
) -> Result<(Vec<String>, crate::store::entity::user::Model), OAuthError> {
    let (pat, user) = state
        .store
        .use_pat(&rt.realm.name, &sha256_hex(token.as_bytes()), ip)
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the personal access token is revoked, expired or unknown"))?;
    let Some((scopes, _)) = pat_in_policy(rt, &pat) else {
        return Err(OAuthError::invalid_token(
            "the personal access token is longer-lived than the realm now allows",
        ));
    };
    // A token is used only from where the realm and each of the member's organizations allow
    // (where the address is known: not at introspection, whose caller is a resource server).
    if let Some(ip) = ip {
        let mut refusal = crate::orgs::realm_refusal(&rt.realm, Some(ip));
        if refusal.is_none() {
            let orgs = state.store.user_orgs(&user.id).await?;
            let outside = orgs
                .into_iter()
                .map(|(org, _)| org)
                .find(|org| org.enabled && !crate::ops::ranges::allowed(&org.ip_allowlist, Some(ip)));
            refusal = outside.map(|org| crate::orgs::Refusal {
                organization: Some(org.alias.clone()),
                reason: "ip_not_allowed",
                message: format!("{} allows personal access tokens only from its own networks.", org.name),
            });
        }
        if let Some(refusal) = refusal {
            let (store, realm) = (&state.store, &rt.realm.name);
            crate::orgs::record_refusal(store, realm, None, Some(&user.id), Some(ip), &refusal).await;
            return Err(OAuthError::invalid_token(refusal.message));
        }
    }
    Ok((scopes.into_iter().map(str::to_string).collect(), user))
}

/// The userinfo response for a valid access token, or a personal access token (its scopes).
pub async fn userinfo(state: &AppState, rt: &RealmRuntime, token: &str, ip: Option<&str>) -> Result<Value, OAuthError> {
    if token.starts_with(PAT_PREFIX) {
        let (scopes, user) = pat_user(state, rt, token, ip).await?;
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        if !scopes.contains(&"openid") {
            return Err(OAuthError::insufficient_scope("userinfo needs the openid scope"));
        }
        return Ok(Value::Object(user_claims(&user, &scopes)));
    }
    let (claims, grant, user) = token_user(state, rt, token).await?;
    let scopes: Vec<&str> = claims.scope.split_ascii_whitespace().collect();
    if !scopes.contains(&"openid") {
        return Err(OAuthError::insufficient_scope("userinfo needs the openid scope"));
    }
    let facts = serde_json::from_str::<super::jwt::SignInFacts>(&grant.data).ok();
    // An organization's app, or any app of a realm with an address allowlist.
    if let Some(client) = rt.realm.clients.get(&grant.client_id)
        && (client.organization.is_some() || !rt.realm.ip_allowlist.is_empty())
    {
        let (amr, auth_time) = facts.as_ref().map_or((&[][..], 0), |f| (&f.amr[..], f.auth_time));
        let attempt = crate::orgs::Attempt {
            ip,
            amr,
            auth_time,
            now: crate::store::now(),
        };
        still_admitted(state, rt, client, &user.id, &attempt).await?;
    }
    let mut out = user_claims(&user, &scopes);
    // Claims requested for userinfo with the `claims` parameter are released too.
    if let Some(facts) = facts
        && let Some(requested) = facts
            .claims
            .as_ref()
            .and_then(|c| c.get("userinfo"))
            .and_then(Value::as_object)
    {
        let all = user_claims(&user, &["profile", "email"]);
        for name in requested.keys() {
            if let Some(v) = all.get(name) {
                out.insert(name.clone(), v.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

/// Refuses (`invalid_token`, logged by `admit`) a token of an organization's app whose user the
/// organization no longer admits: no longer a member, from another network, past its policy.
async fn still_admitted(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    user_id: &str,
    attempt: &crate::orgs::Attempt<'_>,
) -> Result<(), OAuthError> {
    let admitted = crate::orgs::admit(&state.store, &rt.realm, client, user_id, attempt).await?;
    if let crate::orgs::Admission::Refused(refusal) = admitted {
        return Err(OAuthError::invalid_token(refusal.message));
    }
    Ok(())
}

/// Whether `caller` may learn about access token `c` (RFC 7662 §4): the client it was issued
/// to (`client_id`, `azp`), a client in its audience, or a resource server the realm file
/// allows to introspect (`introspection: true`).
fn may_introspect(caller: &Client, c: &AccessClaims) -> bool {
    let me = caller.client_id.as_str();
    // `account` is every user token's audience; no client may introspect by that name.
    let in_audience = me != crate::realm::ACCOUNT_AUDIENCE
        && match &c.aud {
            Value::String(aud) => aud == me,
            Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(me)),
            _ => false,
        };
    caller.introspection || c.client_id == me || c.extra.get("azp").and_then(Value::as_str) == Some(me) || in_audience
}

/// RFC 7662. A token the caller may not introspect is answered exactly as an unknown one,
/// `{"active": false}`: refresh tokens only to the client they were issued to, access tokens
/// as [`may_introspect`] says.
pub async fn introspect(
    state: &AppState,
    rt: &RealmRuntime,
    caller: &Client,
    token: &str,
) -> Result<Value, OAuthError> {
    // Refresh tokens are JWTs too, but are only ever looked up by their hash.
    if super::jwt::is_access_token(token) {
        return introspect_access_token(state, rt, caller, token).await;
    }
    let hash = sha256_hex(token.as_bytes());
    if token.starts_with(PAT_PREFIX) {
        return introspect_pat(state, rt, caller, &hash).await;
    }
    Ok(match state.store.live_refresh_token(&hash).await? {
        Some((t, g)) if g.realm == rt.realm.name && g.client_id == caller.client_id => json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": g.scope,
            "client_id": g.client_id,
            "sub": g.user_id,
            "exp": t.expires_at,
            "iat": t.created_at,
            "iss": rt.issuer,
        }),
        _ => json!({ "active": false }),
    })
}

/// An access token's introspection (RFC 7662 §2.2), as [`may_introspect`] allows.
async fn introspect_access_token(
    state: &AppState,
    rt: &RealmRuntime,
    caller: &Client,
    token: &str,
) -> Result<Value, OAuthError> {
    let verified = match verify_access_token(state, rt, token).await {
        // A token of an organization's app stands while its user is still admitted (the
        // address is the resource server's here, so it is not checked).
        Ok(c) if may_introspect(caller, &c) => match rt.realm.clients.get(&c.client_id) {
            Some(client) if client.organization.is_some() => {
                let attempt = crate::orgs::Attempt {
                    ip: None,
                    amr: &c.amr,
                    auth_time: c.auth_time.unwrap_or(0),
                    now: crate::store::now(),
                };
                let admitted = crate::orgs::admit(&state.store, &rt.realm, client, &c.sub, &attempt).await?;
                match admitted {
                    crate::orgs::Admission::Refused(_) => Err(OAuthError::invalid_token("no longer admitted")),
                    _ => Ok(c),
                }
            }
            _ => Ok(c),
        },
        other => other,
    };
    Ok(match verified {
        Ok(c) if !may_introspect(caller, &c) => json!({ "active": false }),
        Ok(c) => {
            let mut m = Map::new();
            m.insert("active".into(), json!(true));
            m.insert("token_type".into(), json!("Bearer"));
            m.insert("scope".into(), json!(c.scope));
            m.insert("client_id".into(), json!(c.client_id));
            m.insert("sub".into(), json!(c.sub));
            m.insert("aud".into(), c.aud);
            m.insert("iss".into(), json!(c.iss));
            m.insert("exp".into(), json!(c.exp));
            m.insert("iat".into(), json!(c.iat));
            m.insert("jti".into(), json!(c.jti));
            if let Some(u) = c.preferred_username {
                m.insert("username".into(), json!(u));
            }
            if let Some(sid) = c.sid {
                m.insert("sid".into(), json!(sid));
            }
            Value::Object(m)
        }
        Err(e) if e.code == "server_error" => return Err(e),
        Err(_) => json!({ "active": false }),
    })
}

/// A personal access token's introspection: a user's own token, issued to no client, so only
/// the realm's resource servers (clients with `introspection: true`) may ask about it.
async fn introspect_pat(state: &AppState, rt: &RealmRuntime, caller: &Client, hash: &str) -> Result<Value, OAuthError> {
    if !caller.introspection {
        return Ok(json!({ "active": false }));
    }
    let found = state.store.use_pat(&rt.realm.name, hash, None).await?;
    let live = found
        .as_ref()
        .and_then(|(pat, user)| pat_in_policy(rt, pat).map(|p| (pat, p, user)));
    Ok(match live {
        Some((pat, (scopes, exp), user)) => json!({
            "active": true,
            "token_type": "pat",
            "scope": scopes.join(" "),
            "sub": user.id,
            "username": user.username,
            "exp": exp,
            "iat": pat.created_at,
            "iss": rt.issuer,
        }),
        None => json!({ "active": false }),
    })
}

/// RFC 7009 for an access token of `client`: its grant (a user's), or the token itself (the
/// client's own) until it expires.
async fn revoke_access_token(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    token: &str,
    origin: &Origin,
) -> Result<(), OAuthError> {
    let realm = rt.realm.name.as_str();
    // Reloads keys for an unknown kid: a key rotated in on another node must not make a
    // revocation silently do nothing.
    let Some(keys) = state
        .keys
        .get_or_reload_for(realm, token, rt.realm.key_retention_secs())
        .await
    else {
        return Ok(());
    };
    // Expired tokens need no revocation; invalid ones are ignored.
    let Ok(c) = keys.verifying.verify_access_token::<AccessClaims>(token, &rt.issuer) else {
        return Ok(());
    };
    if c.client_id != client.client_id {
        return Ok(());
    }
    let (revoked, user_id) = match &c.gid {
        Some(gid) => (state.store.revoke_grant(gid).await?, Some(c.sub.as_str())),
        // A client's own token: its subject is the client, not a user.
        None => {
            state.store.revoke_jti(&c.jti, c.exp).await?;
            (true, None)
        }
    };
    if revoked {
        let what = Revoked {
            user_id,
            client_id: &client.client_id,
            session_id: c.sid.as_deref(),
            token_type: "access_token",
        };
        audit::token_revoked(state, realm, origin, Reason::Requested, what).await;
    }
    Ok(())
}

/// RFC 7009: revokes a refresh token's grant, or an access token (its grant if it has one).
/// Unknown or foreign tokens are answered with success, as the RFC asks; only an actual
/// revocation is recorded in the security log.
pub async fn revoke(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    token: &str,
    origin: &Origin,
) -> Result<(), OAuthError> {
    let realm = rt.realm.name.as_str();
    if token.starts_with(PAT_PREFIX) {
        // Whoever holds a personal access token may end it (a leaked one, found by a scanner).
        if let Some(user_id) = state
            .store
            .revoke_pat_by_hash(realm, &sha256_hex(token.as_bytes()))
            .await?
        {
            let what = Revoked {
                user_id: Some(&user_id),
                client_id: &client.client_id,
                session_id: None,
                token_type: "personal_access_token",
            };
            audit::token_revoked(state, realm, origin, Reason::Requested, what).await;
        }
        return Ok(());
    }
    if super::jwt::is_access_token(token) {
        return revoke_access_token(state, rt, client, token, origin).await;
    }
    let hash = sha256_hex(token.as_bytes());
    if let Some(gid) = state.store.grant_of_refresh_token(&hash).await?
        && let Some(grant) = state.store.grant(&gid).await?
        && grant.client_id == client.client_id
        && grant.realm == realm
        && state.store.revoke_grant(&gid).await?
    {
        let what = Revoked {
            user_id: grant.user_id.as_deref(),
            client_id: &client.client_id,
            session_id: grant.session_id.as_deref(),
            token_type: "refresh_token",
        };
        audit::token_revoked(state, realm, origin, Reason::Requested, what).await;
    }
    Ok(())
}
