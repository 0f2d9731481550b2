//! The admin API's extractors: the caller, authenticated from its bearer token, and the caller
//! as an administrator of the realm the path names.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path};
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

/// An administrator of the realm in the path (`{realm}`): authenticated (401) and holding
/// `admin` or `REALM-admin` (403) before anything else of the request is read.
pub struct RealmAdmin(pub Admin);

impl FromRequestParts<Arc<AppState>> for RealmAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<RealmAdmin, ApiError> {
        let admin = Admin::from_request_parts(parts, app).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, app)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let realm = params.get("realm").ok_or(ApiError::Internal)?;
        admin.require(realm)?;
        Ok(RealmAdmin(admin))
    }
}
