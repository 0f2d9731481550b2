//! The OpenID Connect provider: discovery, JWKS, authorize, token, userinfo, introspection,
//! revocation and logout. Domain logic lives in the files below; `routes` only extracts,
//! calls and renders.

pub mod audit;
pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod error;
mod grant_common;
pub mod grants;
pub mod introspection;
pub mod jwt;
pub mod logout;
pub mod password_grant;
pub mod routes;
pub mod session_status;
