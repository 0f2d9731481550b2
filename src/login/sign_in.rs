//! A browser sign-in from start to finish: the authorize endpoint starts it, the flow runs
//! (possibly across several pages), the user's required actions run, and then the SSO session
//! and the code are created together and the browser goes back to the client.

use std::collections::HashMap;

use serde_json::json;

use crate::crypto::{random_token, sha256_hex};
use crate::flow::actions::{self, ActionResult};
use crate::flow::{EngineError, FlowContext, FlowState, Outcome, Page};
use crate::oidc::authorize::{AuthorizeRequest, RedirectTarget};
use crate::oidc::error::RedirectError;
use crate::state::{AppState, RealmRuntime};
use crate::store::entity::{auth_session, sso_session};
use crate::store::now;

/// Catalog key: the sign-in expired or was already completed.
const ALREADY_DONE: &str = "signInOver";

/// Catalog key: this address started too many sign-ins this minute.
const TOO_MANY_SIGN_INS: &str = "tooManySignIns";

/// How long a sign-in may take before its authentication session expires.
pub const AUTH_SESSION_TTL_SECS: i64 = 30 * 60;

pub use super::browser::{Browser, Next};

/// Which flow serves a client's browser sign-ins.
fn browser_flow(rt: &RealmRuntime, client_id: &str) -> String {
    rt.realm
        .clients
        .get(client_id)
        .and_then(|c| c.browser_flow.clone())
        .unwrap_or_else(|| rt.realm.flows.browser.clone())
}

/// Starts a sign-in for a validated authorization request.
pub async fn begin(
    app: &AppState,
    rt: &RealmRuntime,
    request: AuthorizeRequest,
    who: &Browser,
) -> Result<Next, EngineError> {
    if let Some(refusal) = crate::orgs::realm_refusal(&rt.realm, who.ip.as_deref()) {
        let (realm, client) = (&rt.realm.name, Some(request.client_id.as_str()));
        crate::orgs::record_refusal(&app.store, realm, client, None, who.ip.as_deref(), &refusal).await;
        return Ok(Next::Respond {
            target: request.target(),
            result: Err(RedirectError::new("access_denied", refusal.message)),
            sso_cookie: None,
            device_cookie: None,
        });
    }
    let mut flow = FlowState {
        flow: browser_flow(rt, &request.client_id),
        csrf: random_token(),
        ..Default::default()
    };
    let sso = current_sso_session(app, rt, who).await?;
    let request = with_kc_action(rt, request, &mut flow, sso.as_ref());
    if request.prompt_none {
        return silent(app, rt, request, &mut flow, sso, who).await;
    }
    // The session's id is known before its first page, for links a step may mail.
    let token = random_token();
    let id = sha256_hex(token.as_bytes());
    let next = advance(app, rt, &request, &mut flow, sso, who, Input::None(Some(&id))).await?;
    if !matches!(next, Next::Page { .. } | Next::Redirect { .. }) {
        return Ok(next);
    }
    let t = now();
    if let Some(ip) = &who.ip
        && !app.sign_in_budget.spend(ip, t)
    {
        return Ok(Next::TooMany(TOO_MANY_SIGN_INS.into()));
    }
    app.store
        .create_auth_session(auth_session::Model {
            id,
            realm: rt.realm.name.clone(),
            client_id: request.client_id.clone(),
            request: serde_json::to_string(&request).unwrap_or_default(),
            state: serde_json::to_string(&flow).unwrap_or_default(),
            created_at: t,
            updated_at: t,
            expires_at: t + AUTH_SESSION_TTL_SECS,
        })
        .await?;
    Ok(with_auth_cookie(next, token))
}

/// A page or redirect of a new sign-in, with the cookie that names its authentication session.
fn with_auth_cookie(next: Next, token: String) -> Next {
    match next {
        Next::Page {
            page,
            csrf,
            step,
            ui_locales,
            form_target,
            ..
        } => Next::Page {
            page,
            csrf,
            step,
            auth_cookie: Some(token),
            ui_locales,
            form_target,
        },
        Next::Redirect { url, .. } => Next::Redirect {
            url,
            auth_cookie: Some(token),
        },
        other => other,
    }
}

/// An application-initiated action runs for the signed-in user after the flow. A sign-in
/// older than the realm's `account.max_auth_age` is made again first, so that whoever holds an
/// unattended browser cannot change the account's password or factors.
fn with_kc_action(
    rt: &RealmRuntime,
    mut request: AuthorizeRequest,
    flow: &mut FlowState,
    sso: Option<&sso_session::Model>,
) -> AuthorizeRequest {
    let Some(action) = request.kc_action.clone() else {
        return request;
    };
    let name = actions::action_name(&action);
    if let Some((_, credential)) = action.split_once(':') {
        flow.aia_credential = Some(credential.to_string());
    }
    flow.extra_actions.push(name.to_string());
    let max_age = rt.realm.account.max_auth_age.as_secs();
    if sso.is_some_and(|s| now() - s.auth_time > max_age) {
        request.prompt_login = true;
    }
    request
}

/// Continues a sign-in with the form a page posted (or shows the current page again, for a
/// GET or a stale form).
pub async fn resume(
    app: &AppState,
    rt: &RealmRuntime,
    auth_cookie: Option<&str>,
    form: &HashMap<String, String>,
    step: Option<&str>,
    who: &Browser,
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
    // A form for another step than the one showing (back button, double submit) only shows
    // the current page again.
    let current = step.is_some() && step == flow.challenge.as_deref();
    let input = match (csrf_ok, current) {
        (true, true) => Input::Form(form, &id),
        (false, true) if !form.is_empty() => Input::Stale(&id),
        _ => Input::None(Some(&id)),
    };
    let sso = current_sso_session(app, rt, who).await?;
    let next = advance(app, rt, &request, &mut flow, sso, who, input).await?;
    keep_or_end(app, &id, &flow, &next).await?;
    Ok(next)
}

/// Saves the sign-in's state while it goes on (a page, a trip upstream); ends it otherwise.
async fn keep_or_end(app: &AppState, id: &str, flow: &FlowState, next: &Next) -> Result<(), EngineError> {
    match next {
        Next::Page { .. } | Next::Redirect { .. } => {
            app.store
                .save_auth_session_state(id, serde_json::to_string(flow).unwrap_or_default())
                .await?
        }
        _ => app.store.delete_auth_session(id).await?,
    }
    Ok(())
}

/// A sign-in in progress, as its authentication session holds it.
pub struct InProgress {
    id: String,
    pub request: AuthorizeRequest,
    pub flow: FlowState,
}

/// The sign-in the browser's authentication cookie names, in this realm.
pub async fn in_progress(
    app: &AppState,
    rt: &RealmRuntime,
    auth_cookie: Option<&str>,
) -> Result<Option<InProgress>, EngineError> {
    let Some(token) = auth_cookie else { return Ok(None) };
    let id = sha256_hex(token.as_bytes());
    let Some(session) = app.store.auth_session(&id).await?.filter(|s| s.realm == rt.realm.name) else {
        return Ok(None);
    };
    let (Ok(request), Ok(flow)) = (
        serde_json::from_str::<AuthorizeRequest>(&session.request),
        serde_json::from_str::<FlowState>(&session.state),
    ) else {
        return Ok(None);
    };
    Ok(Some(InProgress { id, request, flow }))
}

/// Runs a sign-in on from where it is (after its state changed elsewhere: an upstream
/// provider's answer), and keeps or ends it as [`resume`] does.
pub async fn go_on(
    app: &AppState,
    rt: &RealmRuntime,
    mut signing_in: InProgress,
    who: &Browser,
) -> Result<Next, EngineError> {
    let sso = current_sso_session(app, rt, who).await?;
    let (request, id) = (&signing_in.request, signing_in.id.as_str());
    let next = advance(app, rt, request, &mut signing_in.flow, sso, who, Input::Upstream(id)).await?;
    keep_or_end(app, id, &signing_in.flow, &next).await?;
    Ok(next)
}

/// What a request brings to the flow, and the authentication session (its id) it belongs to
/// (`None` before there is one to keep, as for `prompt=none`).
#[derive(Clone, Copy)]
enum Input<'a> {
    None(Option<&'a str>),
    /// A form whose CSRF token did not match: show the page again with a warning.
    Stale(&'a str),
    /// The posted form.
    Form(&'a HashMap<String, String>, &'a str),
    /// Back from an upstream provider: no form, but the session may finish (and is claimed).
    Upstream(&'a str),
}

impl<'a> Input<'a> {
    fn auth_session(self) -> Option<&'a str> {
        match self {
            Input::None(id) => id,
            Input::Stale(id) | Input::Form(_, id) | Input::Upstream(id) => Some(id),
        }
    }
}

async fn current_sso_session(
    app: &AppState,
    rt: &RealmRuntime,
    who: &Browser,
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

/// `prompt=none`: succeed from the SSO session alone, or tell the client why not.
async fn silent(
    app: &AppState,
    rt: &RealmRuntime,
    request: AuthorizeRequest,
    flow: &mut FlowState,
    sso: Option<sso_session::Model>,
    who: &Browser,
) -> Result<Next, EngineError> {
    let refuse = |target: RedirectTarget, code: &'static str, why: &str| Next::Respond {
        target,
        result: Err(RedirectError::new(code, why)),
        sso_cookie: None,
        device_cookie: None,
    };
    let Some(session) = sso else {
        return Ok(refuse(request.target(), "login_required", "the user is not signed in"));
    };
    if let Some(hint) = &request.id_token_hint
        && crate::oidc::logout::hint_subject(app, rt, hint).as_deref() != Some(session.user_id.as_str())
    {
        return Ok(refuse(
            request.target(),
            "login_required",
            "the signed-in user is not the one in id_token_hint",
        ));
    }
    flow.silent = true;
    match advance(app, rt, &request, flow, Some(session), who, Input::None(None)).await? {
        Next::Page { .. } if flow.action.is_some() => Ok(refuse(
            request.target(),
            "interaction_required",
            "the user must complete a required action",
        )),
        Next::Page { .. } => Ok(refuse(
            request.target(),
            "login_required",
            "the user must sign in again",
        )),
        other => Ok(other),
    }
}

/// Runs the flow, then the required actions, as far as they go.
async fn advance(
    app: &AppState,
    rt: &RealmRuntime,
    request: &AuthorizeRequest,
    flow: &mut FlowState,
    sso: Option<sso_session::Model>,
    who: &Browser,
    input: Input<'_>,
) -> Result<Next, EngineError> {
    let definition = app
        .flows
        .get(&flow.flow)
        .ok_or_else(|| EngineError::UnknownFlow(flow.flow.clone()))?;
    let (form, auth_session_id) = match input {
        Input::Form(f, id) => (Some(f), Some(id)),
        Input::Upstream(id) => (None, Some(id)),
        _ => (None, None),
    };
    if flow.challenge.as_deref() == Some(super::enrolment::DECLINED) {
        return Ok(match input {
            Input::Form(..) => super::enrolment::refuse_declined(app, rt, request, flow, who).await,
            _ => super::enrolment::show_declined(rt, request, flow),
        });
    }
    if flow.challenge.as_deref() == Some(super::broker_ask::ASK) {
        match input {
            Input::Form(form, _) => super::broker_ask::answer_ask(app, rt, flow, form, who).await?,
            _ => return Ok(super::broker_ask::show_ask(rt, request, flow)),
        }
    }
    let in_action = flow.challenge.as_deref().is_some_and(|c| c.starts_with("action:"));
    let mut sign_in_request = request.sign_in_request();
    // An organization's longest session works as `max_age`: an older sign-in is asked again
    // (rather than refused at the end, which would leave the browser stuck with its session).
    if let Some(client) = rt.realm.clients.get(&request.client_id)
        && let Some(max) = crate::orgs::session_max(&app.store, &rt.realm.name, client).await?
    {
        sign_in_request.max_age = Some(sign_in_request.max_age.map_or(max, |asked| asked.min(max)));
    }
    let mut ctx = flow_context(app, rt, request, &sign_in_request, &mut *flow, who, input);
    ctx.sso_session = sso;
    let flow_form = if in_action { None } else { form };
    match crate::flow::run(&definition, &mut ctx, flow_form).await? {
        Outcome::Challenge(page) => return Ok(page_next(&ctx, request, page, input)),
        Outcome::Redirect(url) => return Ok(Next::Redirect { url, auth_cookie: None }),
        Outcome::Failure(message) => {
            let user_id = ctx.flow.user_id.clone();
            ctx.event(
                "login_error",
                user_id.as_deref(),
                json!({ "reason": message, "flow": definition.name, "flow_hash": definition.content_hash, "steps": ctx.flow.trace }),
            )
            .await;
            return Ok(Next::Error(message));
        }
        Outcome::Success => {}
    }
    if ctx.flow.password_reset {
        let trace = json!({ "flow": definition.name, "flow_hash": definition.content_hash, "steps": ctx.flow.trace });
        let (user_id, moved) = (ctx.flow.user_id.clone(), ctx.flow.moved);
        ctx.event("flow_completed", user_id.as_deref(), trace).await;
        drop(ctx);
        return after_reset(app, rt, request, flow, who, input, moved).await;
    }
    super::broker_ask::link_after_sign_in(app, rt, ctx.flow, who).await?;
    super::enrolment::demand_second_factor(app, rt, request, ctx.flow, who).await?;
    let action_form = if in_action { form } else { None };
    if let Some(next) = required_actions(&mut ctx, request, action_form, input).await? {
        return Ok(next);
    }
    if let Some(id) = auth_session_id
        && !app.store.claim_auth_session(id).await?
    {
        return Ok(Next::Error(ALREADY_DONE.into()));
    }
    let trace = json!({ "flow": definition.name, "flow_hash": definition.content_hash, "steps": ctx.flow.trace });
    // The browser's live session, which a new sign-in (prompt=login, max_age) replaces.
    let current = ctx.sso_session.clone();
    super::finish::finish(app, rt, request, ctx.flow, who, trace, current).await
}

/// What the engine sees of this sign-in.
fn flow_context<'a>(
    app: &'a AppState,
    rt: &'a RealmRuntime,
    request: &AuthorizeRequest,
    sign_in_request: &'a crate::flow::SignInRequest,
    flow: &'a mut FlowState,
    who: &Browser,
    input: Input<'a>,
) -> FlowContext<'a> {
    let lang = app.templates.negotiate(
        &rt.realm.theme,
        request.ui_locales.as_deref(),
        who.accept_language.as_deref(),
    );
    FlowContext {
        services: app.flow_services(),
        realm: &rt.realm,
        request: sign_in_request,
        flow,
        sso_session: None,
        ip: who.ip.clone(),
        user_agent: who.user_agent.clone(),
        step_config: serde_json::Value::Null,
        siblings: Vec::new(),
        credentials: None,
        auth_session_id: input.auth_session(),
        lang: Some(lang),
        device_cookie: who.device_cookie.clone(),
    }
}

/// A password reset finished. In the browser that opened the emailed link, the sign-in ends on a
/// page (the app's state is in the other browser). Otherwise the person now signs in with the
/// new password through the app's own flow (its rules and second factor apply): a reset alone
/// signs no one in.
async fn after_reset(
    app: &AppState,
    rt: &RealmRuntime,
    request: &AuthorizeRequest,
    flow: &mut FlowState,
    who: &Browser,
    input: Input<'_>,
    moved: bool,
) -> Result<Next, EngineError> {
    if moved {
        if let Some(id) = input.auth_session() {
            app.store.claim_auth_session(id).await?;
        }
        return Ok(Next::Info {
            heading: "passwordResetDoneTitle".into(),
            message: "passwordResetDone".into(),
        });
    }
    *flow = FlowState {
        flow: browser_flow(rt, &request.client_id),
        csrf: random_token(),
        notice: Some("passwordResetSignIn".into()),
        ..Default::default()
    };
    let again = Input::None(input.auth_session());
    Box::pin(advance(app, rt, request, flow, None, who, again)).await
}

/// Runs the user's pending required actions, the one whose page was posted first. `Some`
/// stops the sign-in there (an action's page, or a refusal); `None` means all are done.
async fn required_actions(
    ctx: &mut FlowContext<'_>,
    request: &AuthorizeRequest,
    mut form: Option<&HashMap<String, String>>,
    input: Input<'_>,
) -> Result<Option<Next>, EngineError> {
    while let Some(action) = actions::next(ctx).await? {
        let key = format!("action:{}", action.name());
        if action.satisfied(ctx).await? {
            complete_satisfied(ctx, action.name()).await?;
            continue;
        }
        let cancellable = is_cancellable(ctx, request, action.name()).await?;
        let result = match form.take() {
            Some(f) if ctx.flow.challenge.as_deref() == Some(key.as_str()) => {
                if cancellable && f.get("cancel-aia").is_some_and(|v| v == "true") {
                    cancel_aia(ctx, action.name());
                    continue;
                }
                action.submit(ctx, f).await?
            }
            _ => ActionResult::Page(action.page(ctx).await?),
        };
        match result {
            ActionResult::Page(mut page) => {
                ctx.flow.action = Some(action.name().to_string());
                ctx.flow.challenge = Some(key);
                if cancellable && let Some(obj) = page.context.as_object_mut() {
                    obj.insert("aia_cancel".into(), json!(true));
                }
                return Ok(Some(page_next(ctx, request, page, input)));
            }
            ActionResult::Done => {
                ctx.flow.action = None;
                ctx.flow.extra_actions.retain(|a| a != action.name());
                // An app's action may end without doing anything (e.g. nothing to delete).
                let outcome = ctx.flow.aia_status.clone().unwrap_or_else(|| "done".into());
                ctx.flow.trace.push(format!("action {}:{outcome}", action.name()));
                let user_id = ctx.flow.user_id.clone();
                ctx.event(
                    "required_action",
                    user_id.as_deref(),
                    json!({ "action": action.name(), "outcome": outcome }),
                )
                .await;
            }
            ActionResult::Refused(message) => return Ok(Some(Next::Error(message))),
            ActionResult::Declined => {
                ctx.flow.action = None;
                ctx.flow.extra_actions.retain(|a| a != action.name());
                ctx.flow.challenge = Some(super::enrolment::DECLINED.into());
                ctx.flow.trace.push(format!("action {}:declined", action.name()));
                let user_id = ctx.flow.user_id.clone();
                let details = json!({ "action": action.name(), "outcome": "declined" });
                ctx.event("required_action", user_id.as_deref(), details).await;
                let page = super::enrolment::declined_page(&ctx.realm.name, ctx.flow);
                return Ok(Some(page_next(ctx, request, page, input)));
            }
        }
    }
    Ok(None)
}

/// An action found done already (e.g. an address verified through its link): removed from the
/// user's pending actions and recorded, as if its page had been submitted.
async fn complete_satisfied(ctx: &mut FlowContext<'_>, action: &str) -> Result<(), EngineError> {
    let user_id = ctx.flow.user_id.clone().unwrap_or_default();
    ctx.services.store.complete_required_action(&user_id, action).await?;
    ctx.flow.action = None;
    ctx.flow.extra_actions.retain(|a| a != action);
    ctx.flow.trace.push(format!("action {action}:done"));
    ctx.event(
        "required_action",
        Some(&user_id),
        json!({ "action": action, "outcome": "done" }),
    )
    .await;
    Ok(())
}

/// Whether the person may cancel `action`: the app asked for it (`kc_action`) and nothing else
/// requires it (an admin, or the flow, as for a second factor the realm demands).
async fn is_cancellable(ctx: &FlowContext<'_>, request: &AuthorizeRequest, action: &str) -> Result<bool, EngineError> {
    if request.kc_action.as_deref().map(actions::action_name) != Some(action) {
        return Ok(false);
    }
    // The authenticator app is saved already: only its recovery codes are left to show.
    if ctx.flow.recovery_codes.is_some() {
        return Ok(false);
    }
    let Some(user_id) = ctx.flow.user_id.as_deref() else {
        return Ok(false);
    };
    let required = ctx.services.store.required_actions(user_id).await?;
    let flow_added = ctx.flow.extra_actions.iter().filter(|a| *a == action).count() > 1;
    Ok(!required.iter().any(|a| a == action) && !flow_added)
}

/// Drops the application-initiated action; the app hears `kc_action_status=cancelled`.
fn cancel_aia(ctx: &mut FlowContext<'_>, action: &str) {
    ctx.flow.action = None;
    ctx.flow.challenge = None;
    ctx.flow.extra_actions.retain(|a| a != action);
    ctx.flow.pending_otp = None;
    ctx.flow.aia_status = Some("cancelled".into());
    ctx.flow.trace.push(format!("action {action}:cancelled"));
}

fn page_next(ctx: &FlowContext<'_>, request: &AuthorizeRequest, mut page: Page, input: Input<'_>) -> Next {
    // Forgot password asks for the second factor too, but ends in no sign-in a device could
    // be remembered by: its pages offer no "Remember this device".
    if ctx.flow.flow == ctx.realm.flows.reset_credentials
        && let Some(obj) = page.context.as_object_mut()
    {
        obj.insert("no_remember".into(), json!(true));
    }
    if let Some(notice) = &ctx.flow.notice
        && let Some(obj) = page.context.as_object_mut()
    {
        obj.entry("notice").or_insert_with(|| json!(notice));
    }
    if matches!(input, Input::Stale(_))
        && let Some(obj) = page.context.as_object_mut()
        && obj.get("error").is_none_or(|e| e.is_null())
    {
        obj.insert("error".into(), json!("formExpired"));
    }
    Next::Page {
        page,
        csrf: ctx.flow.csrf.clone(),
        step: ctx.flow.challenge.clone(),
        auth_cookie: None,
        ui_locales: request.ui_locales.clone(),
        form_target: request.redirect_uri.clone(),
    }
}
