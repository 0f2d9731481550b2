//! The OpenID Provider metadata (OIDC Discovery 1.0 and RFC 8414), rendered once per realm.

use serde_json::json;

use crate::crypto::Algorithm;
use crate::realm::Realm;

pub fn document(issuer: &str, realm: &Realm) -> String {
    let endpoint = |path: &str| format!("{issuer}/protocol/openid-connect/{path}");
    // The realm's algorithm first; the others stay listed so a client that checks `alg`
    // against this list keeps working across a change of algorithm (JWKS has the keys).
    let mut algs: Vec<&str> = vec![realm.tokens.signing_alg.as_str()];
    for a in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        if !algs.contains(&a.as_str()) {
            algs.push(a.as_str());
        }
    }
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    let mut grants = vec!["authorization_code", "refresh_token", "client_credentials"];
    if realm
        .clients
        .values()
        .any(|c| c.allows(crate::realm::GrantType::Password))
    {
        grants.push("password");
    }
    let mut acr_values = vec!["1".to_string(), "2".to_string()];
    acr_values.extend(realm.acr.loa_map.keys().cloned());
    json!({
        "issuer": issuer,
        "authorization_endpoint": endpoint("auth"),
        "token_endpoint": endpoint("token"),
        "userinfo_endpoint": endpoint("userinfo"),
        "jwks_uri": endpoint("certs"),
        "introspection_endpoint": endpoint("token/introspect"),
        "revocation_endpoint": endpoint("revoke"),
        "end_session_endpoint": endpoint("logout"),
        "scopes_supported": realm.scopes_supported(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": grants,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": &auth_methods[..2],
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp",
            "name", "given_name", "family_name", "preferred_username", "email", "email_verified"
        ],
        "acr_values_supported": acr_values,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["en"],
        "backchannel_logout_supported": false,
        "frontchannel_logout_supported": false,
    })
    .to_string()
}
