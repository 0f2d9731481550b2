//! A browser sign-in from start to finish: the authorize endpoint starts it, the flow runs
//! (possibly across several pages), and on success the SSO session is created and a code is
//! sent back to the client.

use std::collections::HashMap;

use serde_json::json;

use super::{EngineError, FlowContext, FlowState, Outcome, Page};
use crate::crypto::{new_id, random_token, sha256_hex};
use crate::oidc::authorize::{AuthorizeRequest, RedirectTarget};
use crate::oidc::error::RedirectError;
use crate::oidc::tokens::SignInFacts;
use crate::server::{AppState, RealmRuntime};
use crate::store::entity::{auth_session, sso_session};
use crate::store::{NewAuthCode, NewSsoSession, now};

const ALREADY_DONE: &str =
    "Your sign-in took too long or was already completed. Go back to the application and start again.";

/// How long a sign-in may take before its authentication session expires.
pub const AUTH_SESSION_TTL_SECS: i64 = 30 * 60;

/// Who is asking, from the HTTP request.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub sso_cookie: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What the web layer must do next.
#[derive(Debug)]
pub enum Next {
    /// Show a page; `auth_cookie` is set when a new authentication session was created.
    Page {
        page: Page,
        csrf: String,
        auth_cookie: Option<String>,
    },
    /// Send the browser back to the client.
    Respond {
        target: RedirectTarget,
        result: Result<String, RedirectError>,
        /// A new SSO session cookie to set (`None`: keep the current one).
        sso_cookie: Option<String>,
    },
    /// The sign-in cannot continue; show this message.
    Error(String),
}

/// Starts a sign-in for a validated authorization request.
pub async fn begin(
    app: &AppState,
    rt: &RealmRuntime,
    request: AuthorizeRequest,
    who: &Client,
) -> Result<Next, EngineError> {
    let flow_name = rt
        .realm
        .clients
        .get(&request.client_id)
        .and_then(|c| c.browser_flow.clone())
        .unwrap_or_else(|| rt.realm.flows.browser.clone());
    let mut flow = FlowState {
        flow: flow_name,
        csrf: random_token(),
        ..Default::default()
    };
    let sso = current_sso_session(app, rt, who).await?;
    if request.prompt_none {
        return silent(app, rt, request, &mut flow, sso, who).await;
    }
    let token = random_token();
    let next = advance(app, rt, &request, &mut flow, sso, who, None, None).await?;
    if let Next::Page { .. } = next {
        let t = now();
        app.store
            .create_auth_session(auth_session::Model {
                id: sha256_hex(token.as_bytes()),
                realm: rt.realm.name.clone(),
                client_id: request.client_id.clone(),
                request: serde_json::to_string(&request).unwrap_or_default(),
                state: serde_json::to_string(&flow).unwrap_or_default(),
                created_at: t,
                updated_at: t,
                expires_at: t + AUTH_SESSION_TTL_SECS,
            })
            .await?;
        return Ok(match next {
            Next::Page { page, csrf, .. } => Next::Page {
                page,
                csrf,
                auth_cookie: Some(token),
            },
            other => other,
        });
    }
    Ok(next)
}

/// Continues a sign-in with the form a page posted.
pub async fn resume(
    app: &AppState,
    rt: &RealmRuntime,
    auth_cookie: Option<&str>,
    form: &HashMap<String, String>,
    who: &Client,
) -> Result<Next, EngineError> {
    let expired = || Next::Error(ALREADY_DONE.into());
    let Some(token) = auth_cookie else { return Ok(expired()) };
    let id = sha256_hex(token.as_bytes());
    let Some(session) = app.store.auth_session(&id).await?.filter(|s| s.realm == rt.realm.name) else {
        return Ok(expired());
    };
    let (Ok(request), Ok(mut flow)) = (
        serde_json::from_str::<AuthorizeRequest>(&session.request),
        serde_json::from_str::<FlowState>(&session.state),
    ) else {
        return Ok(expired());
    };
    let csrf_ok = form
        .get("csrf")
        .is_some_and(|c| crate::crypto::constant_time_eq(c.as_bytes(), flow.csrf.as_bytes()));
    let sso = current_sso_session(app, rt, who).await?;
    let input = if csrf_ok { Some(form) } else { None };
    let next = advance(app, rt, &request, &mut flow, sso, who, input, Some(&id)).await?;
    match &next {
        Next::Page { .. } => {
            app.store
                .save_auth_session_state(&id, serde_json::to_string(&flow).unwrap_or_default())
                .await?
        }
        _ => app.store.delete_auth_session(&id).await?,
    }
    Ok(next)
}

async fn current_sso_session(
    app: &AppState,
    rt: &RealmRuntime,
    who: &Client,
) -> Result<Option<sso_session::Model>, EngineError> {
    let Some(cookie) = &who.sso_cookie else { return Ok(None) };
    Ok(app
        .store
        .active_sso_session(
            &rt.realm.name,
            &sha256_hex(cookie.as_bytes()),
            rt.realm.tokens.sso_idle.as_secs(),
        )
        .await?)
}

/// `prompt=none`: succeed from the SSO session alone, or tell the client `login_required`.
async fn silent(
    app: &AppState,
    rt: &RealmRuntime,
    request: AuthorizeRequest,
    flow: &mut FlowState,
    sso: Option<sso_session::Model>,
    who: &Client,
) -> Result<Next, EngineError> {
    let login_required = |target: RedirectTarget, why: &str| Next::Respond {
        target,
        result: Err(RedirectError::new("login_required", why)),
        sso_cookie: None,
    };
    let Some(session) = sso else {
        return Ok(login_required(request.target(), "the user is not signed in"));
    };
    if let Some(hint) = &request.id_token_hint
        && crate::oidc::logout::hint_subject(app, rt, hint).as_deref() != Some(session.user_id.as_str())
    {
        return Ok(login_required(
            request.target(),
            "the signed-in user is not the one in id_token_hint",
        ));
    }
    match advance(app, rt, &request, flow, Some(session), who, None, None).await? {
        Next::Page { .. } => Ok(login_required(request.target(), "the user must sign in again")),
        other => Ok(other),
    }
}

#[allow(clippy::too_many_arguments)]
async fn advance(
    app: &AppState,
    rt: &RealmRuntime,
    request: &AuthorizeRequest,
    flow: &mut FlowState,
    sso: Option<sso_session::Model>,
    who: &Client,
    input: Option<&HashMap<String, String>>,
    auth_session_id: Option<&str>,
) -> Result<Next, EngineError> {
    let definition = app
        .flows
        .get(&flow.flow)
        .ok_or_else(|| EngineError::UnknownFlow(flow.flow.clone()))?;
    let mut ctx = FlowContext {
        app,
        realm: &rt.realm,
        request,
        flow,
        sso_session: sso,
        ip: who.ip.clone(),
        user_agent: who.user_agent.clone(),
    };
    match super::run(&definition, &mut ctx, input).await? {
        Outcome::Challenge(page) => {
            let csrf = ctx.flow.csrf.clone();
            Ok(Next::Page {
                page,
                csrf,
                auth_cookie: None,
            })
        }
        Outcome::Failure(message) => {
            ctx.event(
                "login_error",
                ctx.flow.user_id.clone().as_deref(),
                json!({ "reason": message, "flow": definition.name }),
            )
            .await;
            Ok(Next::Error(message))
        }
        Outcome::Success => {
            let trace =
                json!({ "flow": definition.name, "flow_hash": definition.content_hash, "steps": ctx.flow.trace });
            if let Some(id) = auth_session_id
                && !app.store.claim_auth_session(id).await?
            {
                return Ok(Next::Error(ALREADY_DONE.into()));
            }
            finish(app, rt, request, ctx.flow, who, trace).await
        }
    }
}

/// The flow succeeded: make sure there is an SSO session, then issue the code.
async fn finish(
    app: &AppState,
    rt: &RealmRuntime,
    request: &AuthorizeRequest,
    flow: &mut FlowState,
    who: &Client,
    trace: serde_json::Value,
) -> Result<Next, EngineError> {
    let user_id = flow.user_id.clone().ok_or(EngineError::NoUser)?;
    let t = now();
    let (session_id, auth_time, new_cookie) = match (&flow.sso_session_id, flow.auth_time) {
        (Some(sid), Some(auth_time)) => (sid.clone(), auth_time, None),
        _ => {
            let cookie = random_token();
            let sid = new_id();
            app.store
                .create_sso_session(NewSsoSession {
                    id: sid.clone(),
                    token_hash: sha256_hex(cookie.as_bytes()),
                    realm: rt.realm.name.clone(),
                    user_id: user_id.clone(),
                    auth_time: t,
                    amr: flow.amr.clone(),
                    acr: Some(acr(&flow.amr).to_string()),
                    max_lifetime_secs: rt.realm.tokens.sso_max.as_secs(),
                    ip: who.ip.clone(),
                    user_agent: who.user_agent.clone(),
                })
                .await?;
            (sid, t, Some(cookie))
        }
    };
    let code = random_token();
    let facts = SignInFacts {
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time,
        amr: flow.amr.clone(),
        acr: Some(acr(&flow.amr).to_string()),
        claims: request.claims.clone(),
    };
    app.store
        .insert_auth_code(NewAuthCode {
            code_hash: sha256_hex(code.as_bytes()),
            realm: rt.realm.name.clone(),
            client_id: request.client_id.clone(),
            user_id: user_id.clone(),
            session_id,
            redirect_uri: request.redirect_uri.clone(),
            data: serde_json::to_string(&facts).unwrap_or_default(),
            ttl_secs: rt.realm.tokens.code_ttl.as_secs(),
        })
        .await?;
    crate::events::record(
        &app.store,
        crate::store::NewEvent {
            realm: rt.realm.name.clone(),
            kind: "sign_in".into(),
            user_id: Some(user_id),
            client_id: Some(request.client_id.clone()),
            ip: who.ip.clone(),
            user_agent: who.user_agent.clone(),
            details: trace,
        },
    )
    .await;
    Ok(Next::Respond {
        target: request.target(),
        result: Ok(code),
        sso_cookie: new_cookie,
    })
}

/// `acr` from the factors used: "1" for one factor, "2" for more (Keycloak's convention).
fn acr(amr: &[String]) -> &'static str {
    if amr.len() > 1 { "2" } else { "1" }
}
