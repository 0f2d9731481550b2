//! The admin API's extractors: the caller, authenticated from its bearer token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::ApiError;
use crate::admin::auth::{Admin, authenticate};
use crate::state::AppState;
use crate::web::http;

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Admin, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        let origin = http::origin(&parts.headers, peer);
        Ok(authenticate(app, http::credentials(&parts.headers, "Bearer"), origin).await?)
    }
}
