//! Validating an authorization request (RFC 6749 §4.1, OIDC Core §3.1.2) and building the
//! response that carries the code (or an error) back to the client.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::error::{PageProblem, RedirectError};
use crate::realm::{Client, GrantType, Realm};

/// How the response reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    /// In the redirect URI's fragment (keycloak-js's default): never sent to a server.
    Fragment,
    FormPost,
}

/// A request that passed validation; stored in the authentication session while the user
/// signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub id_token_hint: Option<String>,
    /// The `claims` request parameter (OIDC Core §5.5), as JSON.
    pub claims: Option<serde_json::Value>,
    /// An application-initiated action (Keycloak's `kc_action`), by Gatehouse's name: run for
    /// the signed-in user, answered with `kc_action_status`.
    #[serde(default)]
    pub kc_action: Option<String>,
    /// The level of authentication asked for (`acr_values`, an `acr` claim).
    #[serde(default)]
    pub acr: Option<crate::flow::level::AcrRequest>,
}

/// Where an error goes: a page (redirect URI not trusted yet) or back to the client.
#[derive(Debug)]
pub enum AuthorizeError {
    Page(PageProblem),
    Redirect {
        target: RedirectTarget,
        error: RedirectError,
    },
}

/// A verified redirect URI with what the response must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectTarget {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    /// The request asked for an action: the response says how it went (`kc_action_status`).
    pub kc_action: bool,
    /// How the action ended when it did not succeed: `cancelled` or `error` (with a code).
    pub kc_action_status: Option<String>,
}

impl AuthorizeRequest {
    /// What the flow engine sees of this request.
    pub fn sign_in_request(&self) -> crate::flow::SignInRequest {
        crate::flow::SignInRequest {
            client_id: self.client_id.clone(),
            login_hint: self.login_hint.clone(),
            prompt_login: self.prompt_login,
            prompt_none: self.prompt_none,
            max_age: self.max_age,
            kc_action: self.kc_action.clone(),
            acr: self.acr.clone(),
        }
    }

    pub fn target(&self) -> RedirectTarget {
        RedirectTarget {
            redirect_uri: self.redirect_uri.clone(),
            response_mode: self.response_mode,
            state: self.state.clone(),
            kc_action: self.kc_action.is_some(),
            kc_action_status: None,
        }
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_ascii_whitespace()
    }
}

fn param<'a>(p: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    p.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// The longest value, in bytes, of each parameter an authorization request stores (in the
/// authentication session, and some in codes and tokens): enough for any honest client, and
/// a bound on what one request can make the server keep.
/// The longest `scope` accepted, in bytes (here and at the token endpoint).
pub const MAX_SCOPE_BYTES: usize = 2048;

const PARAMETER_LIMITS: &[(&str, usize)] = &[
    ("state", 4096),
    ("nonce", 1024),
    ("login_hint", 1024),
    ("ui_locales", 256),
    ("scope", MAX_SCOPE_BYTES),
    ("code_challenge", 128),
    ("claims", 4096),
    ("id_token_hint", 8192),
    ("prompt", 64),
    ("max_age", 20),
    ("acr_values", 512),
];

/// The first parameter over its limit, with the limit.
fn too_long(p: &HashMap<String, String>) -> Option<(&'static str, usize)> {
    PARAMETER_LIMITS
        .iter()
        .find(|(name, limit)| p.get(*name).is_some_and(|v| v.len() > *limit))
        .copied()
}

/// Validates the parameters of an authorization request. Unknown parameters are ignored.
pub fn validate(realm: &Realm, p: &HashMap<String, String>) -> Result<AuthorizeRequest, AuthorizeError> {
    let (client_id, client, redirect_uri) = client_and_redirect_uri(realm, p)?;
    // From here on the redirect URI is trusted: errors go back to the client.
    let response_mode = response_mode_of(p);
    let too_long = too_long(p);
    let target = RedirectTarget {
        redirect_uri: redirect_uri.to_string(),
        response_mode: *response_mode.as_ref().unwrap_or(&ResponseMode::Query),
        // An over-long state is not echoed back: it is the error.
        state: param(p, "state").filter(|_| too_long.is_none()).map(String::from),
        kc_action: param(p, "kc_action").is_some(),
        kc_action_status: None,
    };
    let fail = |code: &'static str, d: String| AuthorizeError::Redirect {
        target: target.clone(),
        error: RedirectError::new(code, d),
    };
    let response_mode = response_mode.map_err(|d| fail("invalid_request", d))?;
    if let Some((name, limit)) = too_long {
        return Err(fail("invalid_request", format!("{name} may be at most {limit} bytes")));
    }
    check_request(client, p).map_err(|(code, d)| fail(code, d))?;
    if let Some(scope) = param(p, "scope").and_then(|s| client.disallowed_scope(s)) {
        return Err(fail(
            "invalid_scope",
            format!("scope '{scope}' is not allowed for this client"),
        ));
    }

    let options = parse_options(p).map_err(|d| fail("invalid_request", d))?;
    let kc_action = kc_action_of(realm, p).map_err(|d| fail("invalid_request", d))?;
    let acr = crate::flow::level::requested(realm, param(p, "acr_values"), options.claims.as_ref())
        .map_err(|d| fail("unmet_authentication_requirements", d))?;
    Ok(AuthorizeRequest {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        response_mode,
        scope: param(p, "scope").unwrap_or("").to_string(),
        state: target.state.clone(),
        nonce: param(p, "nonce").map(String::from),
        code_challenge: param(p, "code_challenge").map(String::from),
        prompt_none: options.prompt_none,
        prompt_login: options.prompt_login,
        max_age: options.max_age,
        login_hint: param(p, "login_hint").map(String::from),
        ui_locales: param(p, "ui_locales").map(String::from),
        id_token_hint: param(p, "id_token_hint").map(String::from),
        claims: options.claims,
        kc_action,
        acr,
    })
}

/// The client and its redirect URI, checked before anything can be sent to that URI: what is
/// wrong here is a page.
fn client_and_redirect_uri<'a>(
    realm: &'a Realm,
    p: &'a HashMap<String, String>,
) -> Result<(&'a str, &'a Client, &'a str), AuthorizeError> {
    let page = |e: PageProblem| AuthorizeError::Page(e);
    let client_id = param(p, "client_id").ok_or_else(|| page(PageProblem::new("missingClientId")))?;
    let client = realm
        .clients
        .get(client_id)
        .ok_or_else(|| page(PageProblem::new("unknownClient").arg("client", client_id)))?;
    let redirect_uri = param(p, "redirect_uri").ok_or_else(|| page(PageProblem::new("missingRedirectUri")))?;
    if !client.has_redirect_uri(redirect_uri) {
        return Err(page(
            PageProblem::new("unregisteredRedirectUri")
                .arg("uri", redirect_uri)
                .arg("client", client_id),
        ));
    }
    Ok((client_id, client, redirect_uri))
}

/// The requested `response_mode` (`query` when none); what is wrong is an `invalid_request`
/// with this description.
fn response_mode_of(p: &HashMap<String, String>) -> Result<ResponseMode, String> {
    match param(p, "response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("fragment") => Ok(ResponseMode::Fragment),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(other) => Err(format!("response_mode '{other}' is not supported")),
    }
}

/// The application-initiated action asked for (`kc_action`), by Gatehouse's name; what is
/// wrong is an `invalid_request` with this description.
fn kc_action_of(realm: &Realm, p: &HashMap<String, String>) -> Result<Option<String>, String> {
    match param(p, "kc_action") {
        None => Ok(None),
        Some(name) => crate::flow::actions::app_initiated(name, realm)
            .map(Some)
            .ok_or_else(|| format!("kc_action '{name}' is not available in this realm")),
    }
}

/// `prompt`, `max_age` and `claims` of an authorization request.
struct Options {
    prompt_none: bool,
    prompt_login: bool,
    max_age: Option<i64>,
    claims: Option<serde_json::Value>,
}

/// Reads [`Options`]; what is wrong is an `invalid_request` with this description.
fn parse_options(p: &HashMap<String, String>) -> Result<Options, String> {
    let prompts: Vec<&str> = param(p, "prompt")
        .map(|v| v.split_ascii_whitespace().collect())
        .unwrap_or_default();
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return Err("prompt=none cannot be combined with other values".into());
    }
    let max_age = match param(p, "max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or("max_age must be a non-negative integer")?,
        ),
    };
    let claims = match param(p, "claims") {
        None => None,
        Some(v) => Some(
            serde_json::from_str::<serde_json::Value>(v)
                .ok()
                .filter(|c| c.is_object())
                .ok_or("claims must be a JSON object")?,
        ),
    };
    Ok(Options {
        prompt_none,
        prompt_login: prompts.contains(&"login"),
        max_age,
        claims,
    })
}

/// Checks that need a trusted redirect URI to report to: response type, grant, request
/// objects and PKCE.
fn check_request(client: &Client, p: &HashMap<String, String>) -> Result<(), (&'static str, String)> {
    if param(p, "request").is_some() {
        return Err(("request_not_supported", "request objects are not supported".into()));
    }
    if param(p, "request_uri").is_some() {
        return Err(("request_uri_not_supported", "request_uri is not supported".into()));
    }
    match param(p, "response_type") {
        None => return Err(("invalid_request", "response_type is missing".into())),
        Some("code") => {}
        Some(other) => {
            return Err((
                "unsupported_response_type",
                format!("response_type '{other}' is not supported; use code"),
            ));
        }
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err((
            "unauthorized_client",
            "this client may not use the authorization code flow".into(),
        ));
    }
    let challenge = param(p, "code_challenge");
    match (challenge, param(p, "code_challenge_method")) {
        (Some(_), Some("S256")) => {}
        (Some(_), None | Some("plain")) => {
            return Err((
                "invalid_request",
                "code_challenge_method must be S256; plain is not allowed".into(),
            ));
        }
        (Some(_), Some(other)) => {
            return Err((
                "invalid_request",
                format!("code_challenge_method '{other}' is not supported; use S256"),
            ));
        }
        (None, Some(_)) => return Err(("invalid_request", "code_challenge_method without code_challenge".into())),
        (None, None) if client.requires_pkce() => {
            return Err((
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256".into(),
            ));
        }
        (None, None) => {}
    }
    if let Some(c) = challenge
        && !is_pkce_value(c)
    {
        return Err((
            "invalid_request",
            "code_challenge must be 43-128 characters of [A-Za-z0-9-._~]".into(),
        ));
    }
    Ok(())
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
pub fn is_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The parameters of a successful or failed authorization response, in order.
pub fn response_params(
    target: &RedirectTarget,
    issuer: &str,
    result: Result<&str, &RedirectError>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match result {
        Ok(code) => out.push(("code".to_string(), code.to_string())),
        Err(e) => {
            out.push(("error".to_string(), e.code.to_string()));
            out.push(("error_description".to_string(), e.description.clone()));
        }
    }
    if let Some(state) = &target.state {
        out.push(("state".to_string(), state.clone()));
    }
    if target.kc_action {
        let status = match result {
            Ok(_) => target.kc_action_status.as_deref().unwrap_or("success"),
            Err(_) => "error",
        };
        out.push(("kc_action_status".to_string(), status.to_string()));
    }
    out.push(("iss".to_string(), issuer.to_string()));
    out
}

/// The redirect URI with the response parameters in its fragment (OAuth 2.0 Multiple Response
/// Type Encoding Practices §2.1), replacing any fragment it had.
pub fn fragment_url(redirect_uri: &str, params: &[(String, String)]) -> String {
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let base = redirect_uri.split('#').next().unwrap_or(redirect_uri);
    format!("{base}#{encoded}")
}

/// The redirect URI with the response parameters added to its query (keeping its own). With
/// none to add it is returned exactly as registered: no bare `?` is appended, which would make
/// it a different, unregistered URI for clients that compare it (keycloak-js after `logout()`).
pub fn redirect_url(redirect_uri: &str, params: &[(String, String)]) -> String {
    if params.is_empty() {
        return redirect_uri.to_string();
    }
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params.iter());
            url.to_string()
        }
        Err(_) => redirect_uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realm::load_str;

    fn realm() -> Realm {
        load_str(
            "t.yaml",
            "realm: t\nclients:\n  - client_id: spa\n    redirect_uris: [https://app/cb]\n",
            &|_| None,
        )
        .unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("client_id", "spa"),
            ("redirect_uri", "https://app/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
    }

    fn redirect_code(pairs: Vec<(&str, &str)>) -> &'static str {
        match validate(&realm(), &params(&pairs)) {
            Err(AuthorizeError::Redirect { error, target }) => {
                assert_eq!(target.state.as_deref(), Some("s1"));
                error.code
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_good_request_and_ignores_unknown_parameters() {
        let mut p = base();
        p.push(("unknown", "x"));
        p.push(("prompt", "login"));
        p.push(("max_age", "60"));
        let r = validate(&realm(), &params(&p)).unwrap();
        assert!(r.prompt_login && !r.prompt_none);
        assert_eq!(r.max_age, Some(60));
    }

    #[test]
    fn unknown_client_and_unregistered_redirect_show_a_page() {
        let mut p = base();
        p[0] = ("client_id", "nope");
        assert!(matches!(validate(&realm(), &params(&p)), Err(AuthorizeError::Page(_))));
        let mut p = base();
        p[1] = ("redirect_uri", "https://app/cb/extra");
        assert!(matches!(validate(&realm(), &params(&p)), Err(AuthorizeError::Page(_))));
    }

    #[test]
    fn protocol_errors_redirect_with_the_right_code() {
        let mut p = base();
        p[2] = ("response_type", "token");
        assert_eq!(redirect_code(p), "unsupported_response_type");
        let mut p = base();
        p[6] = ("code_challenge_method", "plain");
        assert_eq!(redirect_code(p), "invalid_request");
        let p: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("code_challenge"))
            .collect();
        assert_eq!(redirect_code(p), "invalid_request");
        let mut p = base();
        p.push(("request", "eyJ..."));
        assert_eq!(redirect_code(p), "request_not_supported");
        let mut p = base();
        p.push(("prompt", "none login"));
        assert_eq!(redirect_code(p), "invalid_request");
    }

    #[test]
    fn fragment_responses_keep_the_query_and_carry_the_parameters_after_the_hash() {
        let params = vec![
            ("code".to_string(), "C".to_string()),
            ("state".to_string(), "a b".to_string()),
        ];
        assert_eq!(
            fragment_url("http://app/cb?x=1", &params),
            "http://app/cb?x=1#code=C&state=a+b"
        );
        assert_eq!(
            fragment_url("http://app/cb#old", &params),
            "http://app/cb#code=C&state=a+b"
        );
    }

    #[test]
    fn a_redirect_without_parameters_is_exactly_the_registered_uri() {
        for uri in ["http://app/page.html", "http://app/cb?x=1", "https://app.example/"] {
            assert_eq!(redirect_url(uri, &[]), uri);
        }
    }

    #[test]
    fn response_keeps_existing_query_and_adds_iss() {
        let target = RedirectTarget {
            redirect_uri: "http://app/cb?x=1".into(),
            response_mode: ResponseMode::Query,
            state: Some("a b".into()),
            kc_action: false,
            kc_action_status: None,
        };
        let params = response_params(&target, "http://op/realms/t", Ok("C"));
        assert_eq!(
            redirect_url(&target.redirect_uri, &params),
            "http://app/cb?x=1&code=C&state=a+b&iss=http%3A%2F%2Fop%2Frealms%2Ft"
        );
    }
}
