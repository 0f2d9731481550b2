//! The password grant (RFC 6749 §4.3; Keycloak's "direct access grants"), for clients that list
//! `password` in `grant_types`. The realm's `flows.direct_grant` flow decides, on the request's
//! `username`, `password` and `totp`, with the same brute-force protection and events as a
//! browser sign-in. There are no pages: a user with pending required actions is refused until
//! they sign in with a browser. Success opens a session (listed, and ended, like any other) and
//! issues tokens as the code flow does.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::error::OAuthError;
use super::grant_common::{
    TokenForm, TokenResponse, lifetimes, refresh_if_allowed, require_grant, respond, user_roles,
};
use super::jwt::SignInFacts;
use crate::crypto::{new_id, random_token, sha256_hex};
use crate::events::Origin;
use crate::flow::{Flow, FlowContext, FlowState, Outcome, SignInRequest};
use crate::realm::{Client, GrantType};
use crate::state::{AppState, RealmRuntime};
use crate::store::entity::{grant, user};
use crate::store::{NewSsoSession, now};

/// Keycloak's answer when a user must finish setting up their account first.
const NOT_FULLY_SET_UP: &str = "Account is not fully set up";

pub async fn password(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    form: &TokenForm,
    origin: &Origin,
) -> Result<TokenResponse, OAuthError> {
    require_grant(client, GrantType::Password)?;
    let scope = allowed_scope(client, form.scope.as_deref())?;
    let t = now();
    spend_sign_in_budget(state, origin, t)?;
    let flow = run_flow(state, rt, client, form, origin).await?;
    let user = flow_user(state, &flow).await?;
    let (amr, acr) = crate::flow::methods_and_level(&flow.amr);
    // Before anything is written: an organization's app admits its members only.
    let attempt = crate::orgs::Attempt {
        ip: origin.ip.as_deref(),
        amr: &amr,
        auth_time: t,
        now: t,
    };
    let roles = user_roles(state, rt, client, &user.id, &attempt).await?;
    let facts = SignInFacts {
        scope,
        auth_time: t,
        amr: amr.clone(),
        acr: Some(acr.to_string()),
        ..Default::default()
    };
    let session = new_session(rt, origin, &user.id, amr, acr, t);
    let grant = new_grant(rt, client, &user.id, &session.id, &facts, t);
    let refresh = refresh_if_allowed(state, rt, client, &user.id, Some(&session.id), &facts, t);
    state
        .store
        .create_session_with_grant(
            session,
            grant.clone(),
            refresh.as_ref().map(|r| sha256_hex(r.as_bytes())),
            lifetimes(rt),
        )
        .await?;
    let details = json!({ "grant": "password", "flow": rt.realm.flows.direct_grant, "steps": flow.trace });
    record(state, rt, client, origin, "sign_in", Some(&user.id), details).await;
    respond(state, rt, client, &grant, &user, &facts, &roles, refresh, t)
}

/// The scope asked for (see [`scope_of`]), refused if the client may not ask for part of it.
fn allowed_scope(client: &Client, asked: Option<&str>) -> Result<String, OAuthError> {
    let scope = scope_of(asked)?;
    if let Some(s) = client.disallowed_scope(&scope) {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{s}' is not allowed for this client"
        )));
    }
    Ok(scope)
}

/// Spends one sign-in from the request's address (if known) at time `t`, refusing when its
/// budget is gone.
fn spend_sign_in_budget(state: &AppState, origin: &Origin, t: i64) -> Result<(), OAuthError> {
    if let Some(ip) = &origin.ip
        && !state.sign_in_budget.spend(ip, t)
    {
        return Err(OAuthError::invalid_grant(
            "too many sign-ins from this address; try again in a minute",
        ));
    }
    Ok(())
}

/// The enabled user the finished flow identified.
async fn flow_user(state: &AppState, flow: &FlowState) -> Result<user::Model, OAuthError> {
    let user_id = flow
        .user_id
        .clone()
        .ok_or_else(|| OAuthError::server_error("the flow identified no user"))?;
    state
        .store
        .find_user(&user_id)
        .await?
        .filter(|u| u.enabled)
        .ok_or_else(|| OAuthError::invalid_grant("Invalid user credentials"))
}

/// The SSO session this sign-in opens.
fn new_session(
    rt: &RealmRuntime,
    origin: &Origin,
    user_id: &str,
    amr: Vec<String>,
    acr: &str,
    t: i64,
) -> NewSsoSession {
    NewSsoSession {
        id: new_id(),
        // No browser carries this session: its cookie is never handed out.
        token_hash: sha256_hex(random_token().as_bytes()),
        realm: rt.realm.name.clone(),
        user_id: user_id.to_string(),
        auth_time: t,
        amr,
        acr: Some(acr.to_string()),
        max_lifetime_secs: rt.realm.tokens.sso_max.as_secs(),
        ip: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
    }
}

/// The grant the tokens of this sign-in stand on, in the session `session_id`.
fn new_grant(
    rt: &RealmRuntime,
    client: &Client,
    user_id: &str,
    session_id: &str,
    facts: &SignInFacts,
    t: i64,
) -> grant::Model {
    grant::Model {
        id: sha256_hex(random_token().as_bytes()),
        realm: rt.realm.name.clone(),
        client_id: client.client_id.clone(),
        user_id: Some(user_id.to_string()),
        session_id: Some(session_id.to_string()),
        scope: facts.scope.clone(),
        data: serde_json::to_string(facts).unwrap_or_default(),
        created_at: t,
        revoked_at: None,
    }
}

/// The scope asked for (`openid` when none), each once, bounded as at the authorization
/// endpoint.
fn scope_of(asked: Option<&str>) -> Result<String, OAuthError> {
    let asked = asked.unwrap_or("openid");
    if asked.len() > super::authorize::MAX_SCOPE_BYTES {
        return Err(OAuthError::invalid_request(format!(
            "scope is longer than {} bytes",
            super::authorize::MAX_SCOPE_BYTES
        )));
    }
    let mut scopes: Vec<&str> = Vec::new();
    for s in asked.split_ascii_whitespace() {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    Ok(scopes.join(" "))
}

/// Runs the realm's direct grant flow on the request's parameters; the flow's state once it
/// succeeded and the user has nothing left to do.
async fn run_flow(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    form: &TokenForm,
    origin: &Origin,
) -> Result<FlowState, OAuthError> {
    let name = rt.realm.flows.direct_grant.clone();
    let definition = direct_grant_flow(state, &name)?;
    let credentials = credentials_of(form);
    let request = SignInRequest {
        client_id: client.client_id.clone(),
        ..Default::default()
    };
    let mut flow = FlowState {
        flow: name,
        ..Default::default()
    };
    let mut ctx = FlowContext {
        services: state.flow_services(),
        realm: &rt.realm,
        request: &request,
        flow: &mut flow,
        sso_session: None,
        ip: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
        step_config: Value::Null,
        siblings: Vec::new(),
        credentials: Some(&credentials),
        auth_session_id: None,
        lang: None,
        device_cookie: None,
    };
    let outcome = crate::flow::run(&definition, &mut ctx, None).await.map_err(|e| {
        tracing::error!(error = %crate::ops::logging::untrusted(&e.to_string()), "direct grant flow failed");
        OAuthError::server_error("the sign-in could not be completed; retry")
    })?;
    if let Some(key) = refusal_of(outcome) {
        // The authenticators logged wrong credentials, codes and lockouts themselves (within
        // the address's event budget); a missing parameter is the client's mistake.
        return Err(refused(state, rt, &key));
    }
    check_nothing_pending(state, rt, &ctx).await?;
    check_no_unasked_factor(state, &ctx).await?;
    Ok(flow)
}

/// Codes by email or text cannot travel in a token request: a user who has them on, and whose sign-in
/// here checked no second factor, is refused rather than let in on the password alone.
async fn check_no_unasked_factor(state: &AppState, ctx: &FlowContext<'_>) -> Result<(), OAuthError> {
    let Some(user_id) = ctx.flow.user_id.clone() else {
        return Ok(());
    };
    let second_factor_checked = ctx.flow.amr.iter().any(|m| m != "pwd");
    let mut sent_codes = false;
    for kind in crate::store::SENT_CODES {
        sent_codes |= state.store.has_credential(&user_id, kind).await?;
    }
    if !second_factor_checked && sent_codes {
        let details = json!({ "reason": "second_factor_not_possible", "grant": "password" });
        ctx.event("login_error", Some(&user_id), details).await;
        return Err(OAuthError::invalid_grant(
            "this account signs in with a code by email or text, which the password grant cannot ask for; use the browser sign-in",
        ));
    }
    Ok(())
}

/// The flow `name`, if it is loaded and fit for the direct grant.
fn direct_grant_flow(state: &AppState, name: &str) -> Result<Arc<Flow>, OAuthError> {
    state
        .flows
        .get(name)
        .filter(|f| crate::flow::model::is_direct_grant(&f.steps))
        .ok_or_else(|| OAuthError::server_error(format!("the direct grant flow '{name}' is not available")))
}

/// The request's credentials, under the names the authenticators read.
fn credentials_of(form: &TokenForm) -> HashMap<String, String> {
    [
        ("username", &form.username),
        ("password", &form.password),
        ("totp", &form.totp),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
    .collect()
}

/// The message key of a flow's refusal; `None` when it succeeded.
fn refusal_of(outcome: Outcome) -> Option<String> {
    match outcome {
        Outcome::Success => None,
        Outcome::Failure(key) => Some(key),
        // Refused when the flow is loaded; kept as an answer rather than a panic.
        Outcome::Challenge(_) | Outcome::Redirect(_) => Some("noWayToSignIn".to_string()),
    }
}

/// Refuses a user with required actions still to do (there are no pages to do them on).
async fn check_nothing_pending(state: &AppState, rt: &RealmRuntime, ctx: &FlowContext<'_>) -> Result<(), OAuthError> {
    let user_id = ctx.flow.user_id.clone();
    let mut pending = match &user_id {
        Some(id) => state.store.required_actions(id).await?,
        None => vec![],
    };
    // As in the browser: actions the realm no longer enables are not waited for.
    pending.retain(|a| rt.realm.is_required_action_enabled(a));
    if !pending.is_empty() || !ctx.flow.extra_actions.is_empty() {
        let details = json!({ "reason": "resolve_required_actions", "grant": "password", "actions": pending });
        ctx.event("login_error", user_id.as_deref(), details).await;
        return Err(OAuthError::invalid_grant(NOT_FULLY_SET_UP));
    }
    Ok(())
}

/// The OAuth error for a flow's refusal: a missing parameter is the client's mistake, anything
/// else a refused grant, described in the realm's English text.
fn refused(state: &AppState, rt: &RealmRuntime, key: &str) -> OAuthError {
    match key {
        "missingUsername" => return OAuthError::invalid_request("username is missing"),
        "missingPassword" => return OAuthError::invalid_request("password is missing"),
        "missingOtp" => {
            return OAuthError::invalid_grant("a one-time code is needed: send it as the totp parameter");
        }
        _ => {}
    }
    // A lockout message with its arguments comes as JSON text.
    let message = serde_json::from_str::<Value>(key)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::String(key.to_string()));
    OAuthError::invalid_grant(state.templates.message_text(&rt.realm.theme, "en", &message))
}

async fn record(
    state: &AppState,
    rt: &RealmRuntime,
    client: &Client,
    origin: &Origin,
    kind: &str,
    user_id: Option<&str>,
    details: Value,
) {
    let event = crate::store::NewEvent {
        realm: rt.realm.name.clone(),
        kind: kind.into(),
        user_id: user_id.map(String::from),
        client_id: Some(client.client_id.clone()),
        ip: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
        details,
    };
    crate::events::record(&state.store, event).await;
}
