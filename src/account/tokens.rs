//! Personal access tokens: a user's named, scoped, expiring bearer tokens for scripts and
//! tools. The secret (`gtp_…`) is shown once; only its SHA-256 is kept. Usable at userinfo and
//! introspectable by the realm's confidential clients (`token_type: "pat"`).

use serde::Serialize;
use serde_json::{Value, json};

use super::{AccountError, Viewer, record};
use crate::crypto::{random_token, sha256_hex};
use crate::state::{AppState, RealmRuntime};
use crate::store::{NewPat, PAT_PREFIX, now};

/// Lifetimes offered, in days (cut to the realm's `pat.max_ttl`).
pub const LIFETIMES_DAYS: &[i64] = &[7, 30, 90, 365];

/// One live token, as the console lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created: i64,
    pub expires: i64,
    pub last_used: Option<i64>,
    pub last_used_ip: Option<String>,
}

pub async fn list(app: &AppState, viewer: &Viewer) -> Result<Vec<TokenView>, AccountError> {
    Ok(app
        .store
        .user_pats(&viewer.user.id)
        .await?
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            name: t.name,
            scopes: t.scope.split_ascii_whitespace().map(str::to_string).collect(),
            created: t.created_at,
            expires: t.expires_at,
            last_used: t.last_used_at,
            last_used_ip: t.last_used_ip,
        })
        .collect())
}

/// The lifetimes (days) the realm allows.
pub fn lifetimes(rt: &RealmRuntime) -> Vec<i64> {
    let max_days = (rt.realm.pat.max_ttl.as_secs() / 86_400).max(1);
    let days: Vec<i64> = LIFETIMES_DAYS.iter().copied().filter(|d| *d <= max_days).collect();
    if days.is_empty() { vec![max_days] } else { days }
}

/// What the person asked for.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub name: String,
    pub days: i64,
    pub scopes: Vec<String>,
}

/// A token just made: its listing and the secret, shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub token: TokenView,
    pub secret: String,
}

/// Makes a token when the request holds: a name (1–64 characters, none hidden), a lifetime the
/// realm allows, and at least one scope, each among the realm's `pat.scopes`. `Err` is a field
/// and a catalog key.
pub async fn create(
    app: &AppState,
    rt: &RealmRuntime,
    viewer: &Viewer,
    new: &NewToken,
) -> Result<Result<Created, (&'static str, Value)>, AccountError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 64 || crate::realm::usernames::has_hidden_characters(name) {
        return Ok(Err(("name", Value::from("tokenNameInvalid"))));
    }
    if !lifetimes(rt).contains(&new.days) {
        return Ok(Err(("days", Value::from("tokenLifetimeInvalid"))));
    }
    let allowed = &rt.realm.pat.scopes;
    if new.scopes.is_empty() || new.scopes.iter().any(|s| !allowed.contains(s)) {
        return Ok(Err(("scopes", Value::from("tokenScopesInvalid"))));
    }
    let secret = format!("{PAT_PREFIX}{}", random_token());
    let stored = app
        .store
        .create_pat(NewPat {
            realm: rt.realm.name.clone(),
            user_id: viewer.user.id.clone(),
            name: name.to_string(),
            token_hash: sha256_hex(secret.as_bytes()),
            scope: new.scopes.join(" "),
            expires_at: now() + new.days * 86_400,
        })
        .await?;
    let details = json!({ "token": stored.id, "name": name, "scope": stored.scope, "days": new.days });
    record(app, rt, viewer, "personal_access_token_created", details).await;
    let token = TokenView {
        scopes: new.scopes.clone(),
        id: stored.id,
        name: stored.name,
        created: stored.created_at,
        expires: stored.expires_at,
        last_used: None,
        last_used_ip: None,
    };
    Ok(Ok(Created { token, secret }))
}

/// Revokes one of the viewer's tokens at once; false when they have no such live token.
pub async fn revoke(app: &AppState, rt: &RealmRuntime, viewer: &Viewer, id: &str) -> Result<bool, AccountError> {
    let revoked = app.store.revoke_pat(&viewer.user.id, id).await?;
    if revoked {
        record(app, rt, viewer, "personal_access_token_revoked", json!({ "token": id })).await;
    }
    Ok(revoked)
}
