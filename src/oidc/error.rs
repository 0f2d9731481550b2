//! OAuth errors and how each kind of client sees them: JSON for back-channel endpoints,
//! a redirect for the front channel once the redirect URI is trusted, and an HTML page
//! before that (an untrusted redirect URI must never be redirected to).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error a client sees from the token, introspection, revocation or userinfo endpoints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
    pub status: StatusCode,
    /// Set for `invalid_client` after Basic authentication and for userinfo errors.
    pub www_authenticate: Option<String>,
}

impl OAuthError {
    fn new(code: &'static str, status: StatusCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
            status,
            www_authenticate: None,
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_request", StatusCode::BAD_REQUEST, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_grant", StatusCode::BAD_REQUEST, d)
    }
    pub fn invalid_client(d: impl Into<String>, basic: bool) -> OAuthError {
        let mut e = OAuthError::new("invalid_client", StatusCode::UNAUTHORIZED, d);
        if basic {
            e.www_authenticate = Some("Basic realm=\"gatehouse\"".into());
        }
        e
    }
    pub fn unauthorized_client(d: impl Into<String>) -> OAuthError {
        OAuthError::new("unauthorized_client", StatusCode::BAD_REQUEST, d)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> OAuthError {
        OAuthError::new("unsupported_grant_type", StatusCode::BAD_REQUEST, d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_scope", StatusCode::BAD_REQUEST, d)
    }
    /// RFC 6750 §3.1: a bad bearer token.
    pub fn invalid_token(d: impl Into<String>) -> OAuthError {
        let d = d.into();
        let mut e = OAuthError::new("invalid_token", StatusCode::UNAUTHORIZED, d.clone());
        e.www_authenticate = Some(format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            d.replace('"', "'")
        ));
        e
    }
    pub fn server_error(d: impl Into<String>) -> OAuthError {
        OAuthError::new("server_error", StatusCode::INTERNAL_SERVER_ERROR, d)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) = self.www_authenticate.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
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

/// An authorization-request error shown to the person, because there is no trustworthy
/// place to redirect to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PageError(pub String);
