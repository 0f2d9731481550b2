//! Reading what every handler reads from a request's headers, in one place: the credentials
//! of an `Authorization` scheme, the `User-Agent`, and so where a request came from.

use std::net::SocketAddr;

use axum::http::{HeaderMap, header};

use crate::events::Origin;

/// How much of a `User-Agent` is kept.
pub const USER_AGENT_MAX_CHARS: usize = 512;

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
        .map(|s| s.chars().take(USER_AGENT_MAX_CHARS).collect())
}

/// The peer's address and user agent, as the security log records them.
pub fn origin(headers: &HeaderMap, peer: Option<SocketAddr>) -> Origin {
    Origin {
        ip: peer.map(|p| p.ip().to_string()),
        user_agent: user_agent(headers),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

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
