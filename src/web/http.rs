//! Reading what every handler reads from a request's headers, in one place: the credentials
//! of an `Authorization` scheme, the `User-Agent`, and so where a request came from.

use std::net::SocketAddr;

use axum::http::{HeaderMap, header};

use crate::events::Origin;

/// How much of a `User-Agent` is kept, in bytes.
pub const USER_AGENT_MAX_BYTES: usize = 512;

/// `ua` cut to at most [`USER_AGENT_MAX_BYTES`] bytes, at a character boundary.
pub fn cap_user_agent(ua: &str) -> &str {
    if ua.len() <= USER_AGENT_MAX_BYTES {
        return ua;
    }
    let mut end = USER_AGENT_MAX_BYTES;
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    &ua[..end]
}

/// The credentials after `scheme` in the `Authorization` header (the scheme's name is
/// case-insensitive, RFC 7235 §2.1), trimmed; `None` when absent or another scheme.
pub fn credentials<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (name, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    name.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// The `User-Agent` header, cut to a bounded length.
pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| cap_user_agent(s).to_string())
}

/// The peer's address and user agent, as the security log records them.
pub fn origin(headers: &HeaderMap, peer: Option<SocketAddr>) -> Origin {
    Origin {
        ip: peer.map(|p| p.ip().to_string()),
        user_agent: user_agent(headers),
    }
}

/// JSON that holds tokens, claims or account data: never cached (`Cache-Control: no-store`,
/// and `Pragma: no-cache` for HTTP/1.0 caches, as RFC 6749 §5.1 asks). The one responder for
/// such JSON; [`NoStore::with_status`] for answers other than 200.
pub struct NoStore<T>(pub T);

impl<T: serde::Serialize> NoStore<T> {
    pub fn with_status(self, status: axum::http::StatusCode) -> axum::response::Response {
        use axum::response::IntoResponse;
        let mut r = self.into_response();
        *r.status_mut() = status;
        r
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for NoStore<T> {
    fn into_response(self) -> axum::response::Response {
        use axum::http::{HeaderValue, header};
        let mut r = axum::Json(self.0).into_response();
        let headers = r.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        r
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn user_agents_are_cut_to_512_bytes_on_a_character_boundary() {
        assert_eq!(cap_user_agent("curl/8"), "curl/8");
        assert_eq!(cap_user_agent(&"a".repeat(600)).len(), 512);
        // 'é' is two bytes: 511 ASCII bytes then 'é' would end at 513.
        let ua = format!("{}é", "a".repeat(511));
        assert_eq!(cap_user_agent(&ua), "a".repeat(511));
        let mut headers = HeaderMap::new();
        headers.insert(header::USER_AGENT, HeaderValue::from_str(&"x".repeat(10_000)).unwrap());
        assert_eq!(user_agent(&headers).map(|u| u.len()), Some(512));
    }

    fn with_authorization(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn credentials_follow_the_scheme_case_insensitively() {
        assert_eq!(credentials(&with_authorization("Bearer abc"), "Bearer"), Some("abc"));
        assert_eq!(credentials(&with_authorization("bearer  abc "), "Bearer"), Some("abc"));
        assert_eq!(credentials(&with_authorization("Basic abc"), "Bearer"), None);
        assert_eq!(credentials(&with_authorization("Bearer  "), "Bearer"), Some(""));
        assert_eq!(credentials(&with_authorization("Bearer"), "Bearer"), None);
        assert_eq!(credentials(&HeaderMap::new(), "Bearer"), None);
    }
}
