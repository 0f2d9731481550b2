//! Building and checking the JWTs Gatehouse issues: ID tokens (OIDC Core §2) and access
//! tokens (RFC 9068 profile). Access tokens name their grant (`gid`) so that revoking the
//! grant — by logout, refresh-token reuse or code replay — invalidates them at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::crypto::{SigningKey, random_token, sha256_b64};
use crate::store::entity::user;

/// Facts about the sign-in behind a code or grant, carried from authorize to token to refresh.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignInFacts {
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub claims: Option<Value>,
}

impl AccessClaims {
    /// Whether `audience` is the token's audience or one of them.
    pub fn has_audience(&self, audience: &str) -> bool {
        match &self.aud {
            Value::String(a) => a == audience,
            Value::Array(all) => all.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        }
    }
}

/// The claims of an access token, as verified at userinfo, introspection and revocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Value,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// RFC 8176 methods of the sign-in behind the token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Further claims, such as the realm's roles claim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub struct Issued {
    pub access_token: String,
    pub id_token: Option<String>,
    pub expires_in: i64,
    /// The scope granted: the one asked for, with the realm's default `profile` and `email`.
    pub scope: String,
}

/// What one token response is built from.
pub struct TokenInput<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub subject: &'a str,
    pub user: Option<&'a user::Model>,
    pub session_id: Option<&'a str>,
    pub grant_id: Option<&'a str>,
    pub facts: &'a SignInFacts,
    pub access_ttl: i64,
    pub now: i64,
    pub alg: crate::crypto::Algorithm,
    /// The realm's roles claim and the roles it carries (an empty claim name: none).
    pub roles: (&'a str, &'a [String]),
    /// The user's client roles by client id (Keycloak's `resource_access`).
    pub client_roles: &'a BTreeMap<String, Vec<String>>,
    /// The realm's default scopes (Keycloak's default client scopes), in force unasked.
    pub default_scopes: &'a [String],
    /// The client's web origins, `+` spelled out (the `allowed-origins` claim).
    pub web_origins: &'a [String],
    /// The `organization` claim of a member signing in to an organization's app.
    pub organization: Option<&'a Value>,
}

impl TokenInput<'_> {
    fn roles_claim(&self) -> Option<(String, Value)> {
        let (claim, roles) = self.roles;
        (!claim.is_empty()).then(|| (claim.to_string(), json!(roles)))
    }

    /// The scopes in force: those granted and the realm's defaults.
    fn scopes(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.facts.scope.split_ascii_whitespace().collect();
        for s in self.default_scopes {
            if !all.contains(&s.as_str()) {
                all.push(s);
            }
        }
        all
    }

    fn has_scope(&self, scope: &str) -> bool {
        self.scopes().contains(&scope)
    }

    /// The `scope` of the tokens and the token response: the one granted, with the default
    /// scopes that release claims (`profile`, `email`), as Keycloak writes it.
    pub fn granted_scope(&self) -> String {
        let mut all: Vec<&str> = self.facts.scope.split_ascii_whitespace().collect();
        for s in self
            .default_scopes
            .iter()
            .filter(|s| matches!(s.as_str(), "profile" | "email"))
        {
            if !all.contains(&s.as_str()) {
                all.push(s);
            }
        }
        all.join(" ")
    }

    /// The user's claims that the scopes in force release (without `sub`).
    fn released_user_claims(&self) -> Map<String, Value> {
        let Some(user) = self.user else { return Map::new() };
        let mut claims = user_claims(user, &self.scopes());
        claims.remove("sub");
        claims
    }

    /// The access token's further claims: the user's released claims; the realm's roles claim
    /// and, with the `roles` scope, Keycloak's `realm_access.roles` and `resource_access` (what
    /// keycloak-js's `hasRealmRole`/`hasResourceRole` read); with `web-origins`, Keycloak's
    /// `allowed-origins`. A realm without a roles claim puts roles in none of them.
    fn access_extra(&self) -> Map<String, Value> {
        let mut extra = self.released_user_claims();
        // A field of its own in the access token.
        extra.remove("preferred_username");
        if let Some((claim, roles)) = self.roles_claim() {
            if self.has_scope("roles") {
                extra.insert("realm_access".into(), json!({ "roles": roles }));
                // Every user manages their own account, as Keycloak's default `account` roles
                // say; then the user's roles of each client.
                let mut resource_access = Map::new();
                if self.user.is_some() {
                    resource_access.insert(
                        ACCOUNT_AUDIENCE.into(),
                        json!({ "roles": ["manage-account", "view-profile"] }),
                    );
                }
                for (client_id, roles) in self.client_roles {
                    resource_access.insert(client_id.clone(), json!({ "roles": roles }));
                }
                extra.insert("resource_access".into(), Value::Object(resource_access));
            }
            extra.insert(claim, roles);
        }
        if self.has_scope("web-origins") && !self.web_origins.is_empty() {
            extra.insert("allowed-origins".into(), json!(self.web_origins));
        }
        if let Some(organization) = self.organization {
            extra.insert("organization".into(), organization.clone());
        }
        extra
    }
}

/// No client roles (tokens of a client itself, refresh tokens).
pub static NO_CLIENT_ROLES: BTreeMap<String, Vec<String>> = BTreeMap::new();

/// The audience of the account console's JSON face (Keycloak's `account` client), which every
/// user's access token carries, as Keycloak's do: an app may read its user's own account
/// (`loadUserProfile()` in keycloak-js); changing it needs the `manage-account` scope too.
pub use crate::realm::ACCOUNT_AUDIENCE;

pub fn issue(key: &SigningKey, input: &TokenInput) -> Result<Issued, crate::crypto::SigningError> {
    let facts = input.facts;
    let aud = match input.user {
        Some(_) => json!([input.client_id, ACCOUNT_AUDIENCE]),
        None => json!(input.client_id),
    };
    let access = AccessClaims {
        iss: input.issuer.to_string(),
        sub: input.subject.to_string(),
        aud,
        exp: input.now + input.access_ttl,
        iat: input.now,
        jti: random_token(),
        client_id: input.client_id.to_string(),
        scope: input.granted_scope(),
        sid: input.session_id.map(String::from),
        gid: input.grant_id.map(String::from),
        auth_time: input.user.map(|_| facts.auth_time),
        acr: facts.acr.clone(),
        amr: facts.amr.clone(),
        preferred_username: input.user.map(|u| u.username.clone()),
        extra: input.access_extra().into_iter().collect(),
    };
    let access_token = key.sign_jwt(crate::crypto::ACCESS_TOKEN_TYP, &access)?;
    let wants_id_token = facts.scope.split_ascii_whitespace().any(|s| s == "openid");
    let id_token = match (input.user, wants_id_token) {
        (Some(user), true) => Some(key.sign_jwt(
            crate::crypto::ID_TOKEN_TYP,
            &id_token_claims(input, user, &access_token),
        )?),
        _ => None,
    };
    Ok(Issued {
        scope: access.scope.clone(),
        access_token,
        id_token,
        expires_in: input.access_ttl,
    })
}

fn id_token_claims(input: &TokenInput, user: &user::Model, access_token: &str) -> Value {
    let facts = input.facts;
    // at_hash (OIDC Core §3.2.2.9): the left half of the access token's hash, with the hash
    // of the signing algorithm (SHA-512 for Ed25519, as the OpenID conformance suite expects).
    let digest = match input.alg {
        crate::crypto::Algorithm::EdDSA => &aws_lc_rs::digest::SHA512,
        _ => &aws_lc_rs::digest::SHA256,
    };
    let full = aws_lc_rs::digest::digest(digest, access_token.as_bytes());
    let at_hash = crate::crypto::b64url(&full.as_ref()[..full.as_ref().len() / 2]);
    let mut c = Map::new();
    c.insert("iss".into(), json!(input.issuer));
    c.insert("sub".into(), json!(input.subject));
    c.insert("aud".into(), json!(input.client_id));
    c.insert("azp".into(), json!(input.client_id));
    c.insert("exp".into(), json!(input.now + input.access_ttl));
    c.insert("iat".into(), json!(input.now));
    c.insert("jti".into(), json!(random_token()));
    c.insert("auth_time".into(), json!(facts.auth_time));
    c.insert("at_hash".into(), json!(at_hash));
    if let Some(sid) = input.session_id {
        c.insert("sid".into(), json!(sid));
    }
    if let Some(nonce) = &facts.nonce {
        c.insert("nonce".into(), json!(nonce));
    }
    if let Some(acr) = &facts.acr {
        c.insert("acr".into(), json!(acr));
    }
    if !facts.amr.is_empty() {
        c.insert("amr".into(), json!(facts.amr));
    }
    if let Some((claim, roles)) = input.roles_claim() {
        c.entry(claim).or_insert(roles);
    }
    if let Some(organization) = input.organization {
        c.insert("organization".into(), organization.clone());
    }
    for (name, value) in input.released_user_claims() {
        c.entry(name).or_insert(value);
    }
    // Claims explicitly requested for the ID token with the `claims` parameter.
    if let Some(requested) = facts
        .claims
        .as_ref()
        .and_then(|c| c.get("id_token"))
        .and_then(Value::as_object)
    {
        let available = user_claims(user, &["profile", "email"]);
        for name in requested.keys() {
            if let Some(v) = available.get(name) {
                c.insert(name.clone(), v.clone());
            }
        }
    }
    Value::Object(c)
}

/// The standard claims of `user` that the given scopes release (OIDC Core §5.4).
pub fn user_claims(user: &user::Model, scopes: &[&str]) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("sub".into(), json!(user.id));
    if scopes.contains(&"profile") {
        c.insert("preferred_username".into(), json!(user.username));
        let name = [user.first_name.as_deref(), user.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if !name.is_empty() {
            c.insert("name".into(), json!(name));
        }
        if let Some(v) = &user.first_name {
            c.insert("given_name".into(), json!(v));
        }
        if let Some(v) = &user.last_name {
            c.insert("family_name".into(), json!(v));
        }
    }
    if scopes.contains(&"email")
        && let Some(email) = &user.email
    {
        c.insert("email".into(), json!(email));
        c.insert("email_verified".into(), json!(user.email_verified));
    }
    c
}

/// A new refresh token: a JWT in Keycloak's shape (`typ: Refresh`, `azp`, `sid`, `scope`,
/// `exp`), so that apps such as keycloak-js can read when it ends. The server never trusts its
/// content: it is single-use and looked up by its hash, as an opaque one would be; its random
/// `jti` makes it unguessable. Signed with HS256 under a key derived from the master key (as
/// Keycloak signs them with a realm HMAC key), so a refresh costs no third RSA signature.
pub fn refresh_token(master_key: &crate::crypto::MasterKey, input: &TokenInput, ttl: i64) -> String {
    let mut c = Map::new();
    c.insert("iss".into(), json!(input.issuer));
    c.insert("aud".into(), json!(input.issuer));
    c.insert("sub".into(), json!(input.subject));
    c.insert("typ".into(), json!("Refresh"));
    c.insert("azp".into(), json!(input.client_id));
    c.insert("iat".into(), json!(input.now));
    c.insert("exp".into(), json!(input.now + ttl));
    c.insert("jti".into(), json!(random_token()));
    c.insert("scope".into(), json!(input.granted_scope()));
    if let Some(sid) = input.session_id {
        c.insert("sid".into(), json!(sid));
    }
    let context = format!("refresh-token:{}", input.issuer);
    master_key.sign_hs256_jwt(&context, crate::crypto::REFRESH_TOKEN_TYP, &Value::Object(c))
}

/// Whether `token` is one of our access tokens by its header (not verified).
pub fn is_access_token(token: &str) -> bool {
    token.matches('.').count() == 2 && crate::crypto::jwt_typ(token).as_deref() == Some(crate::crypto::ACCESS_TOKEN_TYP)
}

/// RFC 7636 S256 check, in constant time.
pub fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    crate::crypto::constant_time_eq(sha256_b64(verifier.as_bytes()).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_rfc7636_vector() {
        assert!(pkce_matches(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!pkce_matches("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "wrong"));
    }

    #[test]
    fn scopes_release_only_their_claims() {
        let u = user::Model {
            id: "u1".into(),
            realm: "r".into(),
            username: "alice".into(),
            email: Some("a@x".into()),
            email_verified: false,
            first_name: Some("Alice".into()),
            last_name: None,
            enabled: true,
            created_at: 0,
            username_key: "alice".into(),
            email_key: None,
        };
        let c = user_claims(&u, &["openid"]);
        assert_eq!(c.len(), 1);
        let c = user_claims(&u, &["profile", "email"]);
        assert_eq!(c["name"], "Alice");
        assert_eq!(c["email"], "a@x");
    }
}
