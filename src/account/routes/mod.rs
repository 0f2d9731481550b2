//! HTTP handlers of the account console: pages for a browser with the SSO cookie
//! (`html.rs`) and Keycloak's Account REST API for a bearer of an access token (`json.rs`),
//! on the same paths. Each extracts, calls a function of `account`, and renders.

mod email;
mod html;
mod json;
mod keys;
mod linked;
mod org_admin;
mod orgs;
mod phone;
mod tokens_html;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Query};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::sessions::{self};
use crate::state::AppState;

use html::*;
use json::*;
use tokens_html::*;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/realms/{realm}/account", get(overview).post(update_profile))
        .route("/realms/{realm}/account/", get(overview).post(update_profile))
        .route("/realms/{realm}/account/sessions/devices", get(devices))
        .route(
            "/realms/{realm}/account/sessions/{id}",
            axum::routing::delete(delete_session),
        )
        .route("/realms/{realm}/account/credentials", get(credentials))
        .route(
            "/realms/{realm}/account/credentials/{id}",
            axum::routing::delete(delete_credential),
        )
        .route(
            "/realms/{realm}/account/credentials/{id}/label",
            axum::routing::put(rename_credential),
        )
        .route("/realms/{realm}/account/callback", get(callback))
        .route("/realms/{realm}/account/reauthenticate", get(reauthenticate))
        .route("/realms/{realm}/account/security", get(security))
        .route("/realms/{realm}/account/security/password", post(change_password))
        .route(
            "/realms/{realm}/account/security/add-authenticator",
            get(add_authenticator),
        )
        .route(
            "/realms/{realm}/account/security/remove-authenticator",
            post(remove_authenticator),
        )
        .route(
            "/realms/{realm}/account/security/recovery-codes",
            post(regenerate_recovery_codes),
        )
        .route(
            "/realms/{realm}/account/security/verify-email",
            post(email::send_verification),
        )
        .route("/realms/{realm}/account/security/email-codes", post(email::email_codes))
        .route("/realms/{realm}/account/security/add-passkey", get(keys::add_passkey))
        .route(
            "/realms/{realm}/account/security/add-security-key",
            get(keys::add_security_key),
        )
        .route("/realms/{realm}/account/security/keys/remove", post(keys::remove))
        .route("/realms/{realm}/account/security/keys/rename", post(keys::rename))
        .route(
            "/realms/{realm}/account/security/password/remove",
            post(keys::remove_password),
        )
        .route("/realms/{realm}/account/security/phone", post(phone::send_code))
        .route("/realms/{realm}/account/security/phone/verify", post(phone::confirm))
        .route("/realms/{realm}/account/security/phone/remove", post(phone::remove))
        .route("/realms/{realm}/account/security/sms-codes", post(phone::sms_codes))
        .route("/realms/{realm}/account/log", get(log))
        .route("/realms/{realm}/account/linked", get(linked::linked_page))
        .route("/realms/{realm}/account/linked/link", get(linked::link))
        .route("/realms/{realm}/account/linked/unlink", post(linked::unlink))
        .route("/realms/{realm}/account/organizations", get(orgs::organizations_page))
        .route("/realms/{realm}/account/organizations/leave", post(orgs::leave))
        .route(
            "/realms/{realm}/account/organizations/join",
            get(orgs::join_page).post(orgs::join),
        )
        .route(
            "/realms/{realm}/account/organizations/{id}",
            get(org_admin::manage_page),
        )
        .route(
            "/realms/{realm}/account/organizations/{id}/members",
            post(org_admin::change_member),
        )
        .route(
            "/realms/{realm}/account/organizations/{id}/invites",
            post(org_admin::create_link),
        )
        .route(
            "/realms/{realm}/account/organizations/{id}/invites/revoke",
            post(org_admin::revoke_link),
        )
        .route("/realms/{realm}/account/tokens", get(tokens).post(create_token))
        .route(
            "/realms/{realm}/account/tokens/{id}",
            axum::routing::delete(delete_token),
        )
        .route("/realms/{realm}/account/tokens/{id}/revoke", post(revoke_token_form))
        .route(
            "/realms/{realm}/account/sessions",
            get(sessions).delete(delete_sessions),
        )
        .route("/realms/{realm}/account/sessions/sign-out", post(sign_out))
        .route("/realms/{realm}/account/sessions/trusted-devices", post(revoke_devices))
}

/// A page for a browser, the JSON face for a bearer of an access token.
enum Face {
    Page(Box<Console>),
    Api(Box<Api>),
}

impl FromRequestParts<Arc<AppState>> for Face {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Face, Response> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            Ok(Face::Api(Box::new(Api::from_request_parts(parts, app).await?)))
        } else {
            Ok(Face::Page(Box::new(Console::from_request_parts(parts, app).await?)))
        }
    }
}

async fn overview(face: Face, query: Query<HashMap<String, String>>) -> Response {
    match face {
        Face::Page(console) => overview_page(*console, query).await,
        Face::Api(api) => match super::api::profile(&api.app, &api.viewer).await {
            Ok(profile) => json_ok(profile),
            Err(e) => internal(&e),
        },
    }
}

/// The faces of `GET /account/sessions`. A user's access token is checked by the statement
/// that lists the sessions (the list's hot path: one statement, not two).
enum SessionsFace {
    Face(Face),
    Token(Box<SignedToken>),
}

impl FromRequestParts<Arc<AppState>> for SessionsFace {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<SessionsFace, Response> {
        let user_token = crate::web::http::credentials(&parts.headers, "Bearer")
            .is_some_and(|t| !t.starts_with(crate::store::PAT_PREFIX));
        if user_token {
            Ok(SessionsFace::Token(Box::new(
                SignedToken::from_request_parts(parts, app).await?,
            )))
        } else {
            Ok(SessionsFace::Face(Face::from_request_parts(parts, app).await?))
        }
    }
}

async fn sessions(face: SessionsFace, query: Query<HashMap<String, String>>) -> Response {
    let listed = match face {
        SessionsFace::Face(Face::Page(console)) => return sessions_page(*console, query).await,
        SessionsFace::Face(Face::Api(api)) => sessions::list(&api.app, &api.rt, &api.viewer, "en").await.map(Some),
        SessionsFace::Token(t) => match sessions::list_for_token(&t.app, &t.rt, &t.claims, "en").await {
            Ok(Some(_)) if let Err(e) = t.for_account() => return e.into_response(),
            listed => listed,
        },
    };
    match listed {
        Ok(Some(list)) => json_ok(list.iter().map(super::api::session_json).collect::<Vec<_>>()),
        Ok(None) => {
            crate::oidc::error::OAuthError::invalid_token("the access token has been revoked, or its session has ended")
                .into_response()
        }
        Err(e) => internal(&e),
    }
}

async fn log(face: Face, query: Query<HashMap<String, String>>) -> Response {
    match face {
        Face::Page(console) => log_page(*console, query).await,
        Face::Api(api) => json::log(*api, query).await,
    }
}

async fn credentials(face: Face) -> Response {
    match face {
        Face::Page(console) => see_other(&format!("/realms/{}/account/security", console.rt.realm.name)),
        Face::Api(api) => match super::api::credentials_json(&api.app, &api.viewer).await {
            Ok(list) => json_ok(list),
            Err(e) => internal(&e),
        },
    }
}

async fn tokens(face: Face, Query(query): Query<HashMap<String, String>>) -> Response {
    match face {
        Face::Page(console) => tokens_page(*console, None, None, notice(&query)).await,
        Face::Api(api) => list_tokens(*api).await,
    }
}

async fn create_token(face: Face, body: axum::body::Bytes) -> Response {
    match face {
        Face::Page(console) => create_token_form(*console, body).await,
        Face::Api(api) => create_token_json(*api, body).await,
    }
}
