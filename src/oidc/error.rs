//! OAuth errors and how each kind of client sees them: JSON for back-channel endpoints,
//! a redirect for the front channel once the redirect URI is trusted, and an HTML page
//! before that (an untrusted redirect URI must never be redirected to).

/// An error a client sees from the token, introspection, revocation or userinfo endpoints.
/// Free of HTTP: the handlers map it to a status and headers in one place
/// (`oidc::routes`), from its code and challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
    /// Which authentication the client is asked for (`WWW-Authenticate`), if any.
    pub challenge: Option<Challenge>,
}

/// The scheme of a `WWW-Authenticate` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP Basic client authentication was tried (RFC 6749 §5.2).
    Basic,
    /// A bearer token was wrong or missing (RFC 6750 §3).
    Bearer,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
            challenge: None,
        }
    }
    /// The same error, asking for `challenge`.
    pub fn with_challenge(mut self, challenge: Challenge) -> OAuthError {
        self.challenge = Some(challenge);
        self
    }
    pub fn invalid_request(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_request", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_grant", d)
    }
    pub fn invalid_client(d: impl Into<String>, basic: bool) -> OAuthError {
        let e = OAuthError::new("invalid_client", d);
        if basic { e.with_challenge(Challenge::Basic) } else { e }
    }
    pub fn unauthorized_client(d: impl Into<String>) -> OAuthError {
        OAuthError::new("unauthorized_client", d)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> OAuthError {
        OAuthError::new("unsupported_grant_type", d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_scope", d)
    }
    /// RFC 6750 §3.1: a bad bearer token.
    pub fn invalid_token(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_token", d).with_challenge(Challenge::Bearer)
    }
    /// RFC 6750 §3.1: the token lacks a scope the resource needs.
    pub fn insufficient_scope(d: impl Into<String>) -> OAuthError {
        OAuthError::new("insufficient_scope", d).with_challenge(Challenge::Bearer)
    }
    pub fn server_error(d: impl Into<String>) -> OAuthError {
        OAuthError::new("server_error", d)
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> OAuthError {
        tracing::error!(error = %crate::ops::logging::untrusted(&e.to_string()), "storage failure");
        OAuthError::server_error("temporary storage failure; retry")
    }
}

/// An authorization-request error to be sent back to the client's (verified) redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectError {
    pub code: &'static str,
    pub description: String,
}

impl RedirectError {
    pub fn new(code: &'static str, description: impl Into<String>) -> RedirectError {
        RedirectError {
            code,
            description: description.into(),
        }
    }
}

/// A front-channel error shown to the person, because there is no trustworthy place to
/// redirect to: a key of the theme's message catalog with its arguments, so that the page
/// shows it in the person's language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {args:?}")]
pub struct PageProblem {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl PageProblem {
    pub fn new(key: &'static str) -> PageProblem {
        PageProblem { key, args: Vec::new() }
    }

    /// The same error with `{name}` in its message filled with `value`.
    pub fn arg(mut self, name: &'static str, value: impl Into<String>) -> PageProblem {
        self.args.push((name, value.into()));
        self
    }
}
