//! Cross-origin calls from browser apps (CORS), as Keycloak answers them: the token,
//! userinfo, revocation, introspection and logout endpoints and the account API (with a bearer
//! token) answer scripts at an origin one of the realm's clients lists in `web_origins`
//! (`+`: the origins of its redirect URIs); discovery, the keys and the realm document are
//! public and answer any origin. Other origins get no CORS headers, so browsers keep the
//! answer from them. Cookie-authenticated account pages never get CORS headers: a page's
//! CSRF token must not be readable by another site.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// What a path is, as far as CORS goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Public documents: any origin may read them.
    Public,
    /// OAuth endpoints: origins of the realm's clients.
    Protocol,
    /// The account JSON API: origins of the realm's clients, bearer tokens only.
    Account,
}

/// The realm and scope of `path`, or `None` where CORS does not apply.
fn scope_of(path: &str) -> Option<(&str, Scope)> {
    let rest = path.strip_prefix("/realms/")?;
    let (realm, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let scope = match tail {
        "" | ".well-known/openid-configuration" | "protocol/openid-connect/certs" => Scope::Public,
        "protocol/openid-connect/token"
        | "protocol/openid-connect/userinfo"
        | "protocol/openid-connect/revoke"
        | "protocol/openid-connect/token/introspect"
        | "protocol/openid-connect/logout" => Scope::Protocol,
        t if t == "account" || t.starts_with("account/") => Scope::Account,
        _ => return None,
    };
    Some((realm, scope))
}

const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, Accept-Language";
const EXPOSE_HEADERS: &str = "WWW-Authenticate, Location";

pub async fn cors(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some((realm, scope)) = scope_of(request.uri().path()) else {
        return next.run(request).await;
    };
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return vary_on_origin(next.run(request).await);
    };
    let allowed = match scope {
        Scope::Public => true,
        // `null` (sandboxed frames, file pages) is nobody's origin.
        Scope::Protocol | Scope::Account => origin.to_str().is_ok_and(|o| {
            o != "null"
                && app
                    .realm(realm)
                    .is_some_and(|rt| rt.realm.clients.values().any(|c| c.allows_web_origin(o)))
        }),
    };
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut r = vary_on_origin(StatusCode::NO_CONTENT.into_response());
        if allowed {
            let h = r.headers_mut();
            allow(h, origin, scope);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("3600"));
        }
        return r;
    }
    // The account pages answer a browser's cookie; only the bearer-token API is shared.
    let shared = scope != Scope::Account || request.headers().contains_key(header::AUTHORIZATION);
    let mut response = vary_on_origin(next.run(request).await);
    // Pages (the logout confirmation, with its CSRF token) and answers that set cookies stay
    // the browser's own: only API answers are shared.
    let page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    let sets_cookie = response.headers().contains_key(header::SET_COOKIE);
    if allowed && shared && !page && !sets_cookie {
        let h = response.headers_mut();
        allow(h, origin, scope);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    response
}

/// Every answer on a CORS path depends on the `Origin` it was asked from (caches must know).
fn vary_on_origin(mut response: Response) -> Response {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

fn allow(h: &mut HeaderMap, origin: HeaderValue, scope: Scope) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    // keycloak-js sends its token requests with credentials; nothing there reads cookies.
    if scope == Scope::Protocol {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_scoped_as_keycloak_shares_them() {
        assert_eq!(scope_of("/realms/demo"), Some(("demo", Scope::Public)));
        assert_eq!(
            scope_of("/realms/demo/protocol/openid-connect/certs"),
            Some(("demo", Scope::Public))
        );
        assert_eq!(
            scope_of("/realms/demo/protocol/openid-connect/token"),
            Some(("demo", Scope::Protocol))
        );
        assert_eq!(
            scope_of("/realms/demo/account/sessions"),
            Some(("demo", Scope::Account))
        );
        assert_eq!(scope_of("/realms/demo/login-actions/authenticate"), None);
        assert_eq!(scope_of("/realms/demo/protocol/openid-connect/auth"), None);
        assert_eq!(scope_of("/admin/realms/demo/users"), None);
        assert_eq!(scope_of("/realms/demo/accounts"), None);
    }
}
