//! The pages keycloak-js loads in hidden frames, Gatehouse's own code under Keycloak's paths:
//!
//! - `3p-cookies/step1.html` sets a test cookie with the SSO cookie's attributes and goes on to
//!   `step2.html`, which tells the app (`postMessage`) whether it came back: `supported` or
//!   `unsupported`. A browser that keeps our cookies from frames would make the session check
//!   below always say `changed`; keycloak-js turns the check off instead.
//! - `login-status-iframe.html` answers the app's `"{client_id} {sid}"` messages with
//!   `unchanged`, `changed` or `error`: whether this browser's SSO session is still the one the
//!   app's tokens name. Its `init` endpoint says whether an origin is the client's (`204`, else
//!   `403`), as Keycloak's; its `check` endpoint compares session ids on the server, so no
//!   session id ever reaches the frame's script.
//!
//! The frames may be embedded only by the realm's web origins (`frame-ancestors`), and answer
//! only an origin the client lists.

use crate::crypto::sha256_hex;
use crate::realm::Realm;
use crate::state::{AppState, RealmRuntime};
use crate::store::StoreError;

/// The test cookie of the third-party cookie check.
pub const CHECK_COOKIE: &str = "GATEHOUSE_3P_CHECK";

pub const SUPPORTED_SCRIPT: &str = "parent.postMessage(\"supported\",\"*\");";
pub const UNSUPPORTED_SCRIPT: &str = "parent.postMessage(\"unsupported\",\"*\");";

/// The session check's script: checks the asking origin once per client (`init`), then asks
/// the server to compare the app's session id with this browser's (`check`), and answers the
/// app's window only, at its origin.
pub const STATUS_SCRIPT: &str = concat!(
    "(function(){var ready={};",
    "window.addEventListener(\"message\",function(e){",
    "if(typeof e.data!==\"string\")return;var p=e.data.split(\" \");if(p.length!==2)return;",
    "var src=e.source,origin=e.origin,key=p[0]+\" \"+origin;",
    "var q=\"client_id=\"+encodeURIComponent(p[0])+\"&origin=\"+encodeURIComponent(origin);",
    "var answer=function(s){if(src)src.postMessage(s,origin)};",
    "var check=function(){fetch(\"login-status-iframe.html/check?\"+q+\"&sid=\"+encodeURIComponent(p[1]),",
    "{credentials:\"same-origin\"}).then(function(r){return r.ok?r.text():\"error\"})",
    ".then(answer,function(){answer(\"error\")})};",
    "if(ready[key]){check();return}",
    "fetch(\"login-status-iframe.html/init?\"+q,{credentials:\"same-origin\"}).then(function(r){",
    "if(r.status===204){ready[key]=true;check()}else{answer(\"error\")}},function(){answer(\"error\")})",
    "})})();"
);

/// A page that only runs `script`.
pub fn page(title: &str, script: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body><script>{script}</script></body></html>"
    )
}

/// The `frame-ancestors` sources of the realm: every client's web origins (`'none'` without).
pub fn frame_ancestors(realm: &Realm) -> String {
    let mut origins: Vec<String> = Vec::new();
    for client in realm.clients.values() {
        for origin in client.resolved_web_origins() {
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
    }
    if origins.is_empty() {
        "'none'".into()
    } else {
        origins.join(" ")
    }
}

/// The CSP of a frame page running `script` (and, for the session check, fetching from here).
pub fn frame_csp(realm: &Realm, script: &str, connect: bool) -> String {
    let hash = crate::crypto::sha256_b64(script.as_bytes())
        .replace('-', "+")
        .replace('_', "/")
        + "=";
    let connect = if connect { " connect-src 'self';" } else { "" };
    format!(
        "default-src 'none'; script-src 'sha256-{hash}';{connect} frame-ancestors {}; base-uri 'none'; form-action 'none'",
        frame_ancestors(realm)
    )
}

/// Whether scripts at `origin` may ask about `client_id`'s sessions.
pub fn origin_allowed(realm: &Realm, client_id: &str, origin: &str) -> bool {
    realm
        .clients
        .get(client_id)
        .is_some_and(|c| c.allows_web_origin(origin))
}

/// `unchanged` when this browser's live SSO session is the one `sid` names (or there is none
/// and `sid` is empty), else `changed`. Polling does not keep the session alive.
pub async fn status(
    app: &AppState,
    rt: &RealmRuntime,
    sso_cookie: Option<&str>,
    sid: &str,
) -> Result<&'static str, StoreError> {
    let current = match sso_cookie {
        Some(cookie) => app
            .store
            .peek_sso_session(
                &rt.realm.name,
                &sha256_hex(cookie.as_bytes()),
                rt.realm.tokens.sso_idle.as_secs(),
            )
            .await?
            .map(|s| s.id),
        None => None,
    };
    Ok(if current.as_deref().unwrap_or("") == sid {
        "unchanged"
    } else {
        "changed"
    })
}
