//! The browser's trips to and from an upstream sign-in provider. A provider's button (a link
//! carrying the sign-in's CSRF token) chooses it; the flow's `identity-provider` step then sends
//! the browser upstream. Back at the callback, `state` must be this sign-in's (compared in
//! constant time), the provider's answer is checked (`broker::Broker::finish`), and the
//! upstream account is resolved to a user: the one it is linked to; else, on a first sign-in,
//! the realm's `first_login` decides — link to the user whose address both sides have verified,
//! or create one. An unverified upstream address never links to anyone.

use std::collections::HashMap;

use serde_json::json;

use super::browser::{Browser, Next};
use super::sign_in::{self, InProgress};
use crate::broker::Identity;
use crate::crypto::constant_time_eq;
use crate::flow::{BrokerFlow, EngineError};
use crate::realm::{FirstLogin, IdentityProvider};
use crate::state::{AppState, RealmRuntime};
use crate::store::{NewLink, NewUser};

/// Catalog key: the sign-in this browser held is over (or the link is not its own).
const SIGN_IN_OVER: &str = "signInOver";

/// The person chose provider `alias` on the login page (`csrf`: the page's token).
pub async fn choose(
    app: &AppState,
    rt: &RealmRuntime,
    auth_cookie: Option<&str>,
    alias: &str,
    csrf: &str,
    who: &Browser,
) -> Result<Next, EngineError> {
    let Some(mut signing_in) = sign_in::in_progress(app, rt, auth_cookie).await? else {
        return Ok(Next::Error(SIGN_IN_OVER.into()));
    };
    let known = rt.realm.identity_providers.iter().any(|p| p.alias == alias);
    if !known || !constant_time_eq(csrf.as_bytes(), signing_in.flow.csrf.as_bytes()) {
        return Ok(Next::Error(SIGN_IN_OVER.into()));
    }
    signing_in.flow.broker = Some(BrokerFlow {
        alias: alias.to_string(),
        ..BrokerFlow::default()
    });
    sign_in::go_on(app, rt, signing_in, who).await
}

/// The provider sent the browser back with `params` (`code` and `state`, or `error`).
pub async fn returned(
    app: &AppState,
    rt: &RealmRuntime,
    auth_cookie: Option<&str>,
    alias: &str,
    params: &HashMap<String, String>,
    who: &Browser,
) -> Result<Next, EngineError> {
    let Some(mut signing_in) = sign_in::in_progress(app, rt, auth_cookie).await? else {
        return Ok(Next::Error(SIGN_IN_OVER.into()));
    };
    let pending = signing_in.flow.broker.as_ref().and_then(|b| b.pending.clone());
    let state = params.get("state").map(String::as_str).unwrap_or_default();
    let Some(pending) = pending.filter(|p| p.alias == alias && constant_time_eq(p.state.as_bytes(), state.as_bytes()))
    else {
        return Ok(Next::Error(SIGN_IN_OVER.into()));
    };
    let Some(provider) = rt.realm.identity_providers.iter().find(|p| p.alias == alias) else {
        return Ok(Next::Error(SIGN_IN_OVER.into()));
    };
    let code = params.get("code").map(String::as_str).unwrap_or_default();
    let outcome = if let Some(error) = params.get("error") {
        Err(("brokerCancelled", format!("the provider answered {error}")))
    } else if code.is_empty() {
        Err(("brokerFailed", "no code came back".to_string()))
    } else {
        let back = crate::broker::callback_url(&app.settings.public_url, &rt.realm.name, alias);
        match app.broker.finish(provider, &pending, code, &back).await {
            Ok(identity) => resolve(app, rt, provider, identity, who).await?,
            Err(e) => Err(("brokerFailed", e.to_string())),
        }
    };
    match outcome {
        Ok(Resolved::User(user_id)) => {
            signing_in.flow.broker = Some(BrokerFlow {
                alias: alias.to_string(),
                user_id: Some(user_id),
                ..BrokerFlow::default()
            });
        }
        Ok(Resolved::Ask(identity)) => {
            signing_in.flow.broker = Some(BrokerFlow {
                alias: alias.to_string(),
                upstream: Some(identity),
                ..BrokerFlow::default()
            });
            signing_in.flow.challenge = Some(ASK.into());
        }
        Err((key, why)) => {
            record(
                app,
                rt,
                "identity_provider_error",
                None,
                who,
                json!({ "provider": alias, "reason": why }),
            )
            .await;
            back_to_the_login_page(&mut signing_in, key);
        }
    }
    sign_in::go_on(app, rt, signing_in, who).await
}

/// The upstream sign-in did not give a user: the login page shows again, saying why.
fn back_to_the_login_page(signing_in: &mut InProgress, key: &str) {
    let flow = &mut signing_in.flow;
    flow.broker = None;
    flow.challenge = None;
    flow.notice = Some(key.to_string());
}

/// What an upstream account stands for.
enum Resolved {
    User(String),
    /// No one yet, and the realm asks the person (`first_login: ask`).
    Ask(Identity),
}

type Refused = (&'static str, String);

/// The user the upstream account stands for (linked, or linked or created now), or why none.
async fn resolve(
    app: &AppState,
    rt: &RealmRuntime,
    provider: &IdentityProvider,
    identity: Identity,
    who: &Browser,
) -> Result<Result<Resolved, Refused>, EngineError> {
    let realm = &rt.realm.name;
    if let Some(user) = app
        .store
        .federated_user(realm, &provider.alias, &identity.subject)
        .await?
    {
        return Ok(Ok(Resolved::User(user.id)));
    }
    if provider.first_login == FirstLogin::Ask {
        return Ok(Ok(Resolved::Ask(identity)));
    }
    let same_address = match &identity.email {
        Some(email) => app.store.find_user_by_email(realm, email).await?,
        None => None,
    };
    if let Some(existing) = same_address {
        // Both sides must vouch for the address: the provider, and this realm (a user who
        // never proved it could have been made to capture someone else's upstream account).
        let verified_both = identity.email_verified && existing.email_verified;
        if provider.first_login == FirstLogin::LinkByVerifiedEmail
            && verified_both
            && app
                .store
                .link_identity(&existing.id, new_link(rt, provider, &identity))
                .await?
        {
            let details = linked_details(provider, &identity, "verified-email");
            record(app, rt, "identity_provider_linked", Some(&existing.id), who, details).await;
            return Ok(Ok(Resolved::User(existing.id)));
        }
        return Ok(Err(("brokerEmailTaken", "an account has the same address".into())));
    }
    Ok(Ok(Resolved::User(
        create_user(app, rt, provider, &identity, who).await?,
    )))
}

fn new_link(rt: &RealmRuntime, provider: &IdentityProvider, identity: &Identity) -> NewLink {
    NewLink {
        realm: rt.realm.name.clone(),
        provider: provider.alias.clone(),
        subject: identity.subject.clone(),
        upstream_username: identity.username.clone(),
        email: identity.email.clone(),
    }
}

fn linked_details(provider: &IdentityProvider, identity: &Identity, how: &str) -> serde_json::Value {
    json!({ "provider": provider.alias, "upstream_username": identity.username, "how": how })
}

/// A new user made from the upstream account, linked to it.
async fn create_user(
    app: &AppState,
    rt: &RealmRuntime,
    provider: &IdentityProvider,
    identity: &Identity,
    who: &Browser,
) -> Result<String, EngineError> {
    let username = free_username(app, rt, provider, identity).await?;
    let new = NewUser {
        realm: rt.realm.name.clone(),
        username,
        // An address the provider does not vouch for is not the new user's (it would keep its
        // owner from registering, and lead a password reset into this account).
        email: identity.email.clone().filter(|_| identity.email_verified),
        first_name: identity.first_name.clone(),
        last_name: identity.last_name.clone(),
        required_actions: rt.realm.default_required_actions(),
        unique_email: !rt.realm.users.duplicate_emails,
        email_verified: identity.email_verified,
        ..NewUser::default()
    };
    let created = app
        .store
        .create_federated_user(new, new_link(rt, provider, identity))
        .await?;
    let details = linked_details(provider, identity, "created");
    record(app, rt, "identity_provider_linked", Some(&created.id), who, details).await;
    Ok(created.id)
}

/// The step of the page that asks, under `first_login: ask`.
pub(super) const ASK: &str = "broker-ask";

/// The page asking what to do with an upstream account no one is linked to.
pub(super) fn show_ask(
    rt: &RealmRuntime,
    request: &crate::oidc::authorize::AuthorizeRequest,
    flow: &crate::flow::FlowState,
) -> Next {
    let broker = flow.broker.as_ref();
    let provider = broker
        .and_then(|b| rt.realm.identity_providers.iter().find(|p| p.alias == b.alias))
        .map(|p| p.label().to_string())
        .unwrap_or_default();
    let account = broker
        .and_then(|b| b.upstream.as_ref())
        .and_then(|u| u.username.clone().or(u.email.clone()));
    Next::Page {
        page: crate::flow::Page::new("broker_ask.html", json!({ "provider": provider, "account": account })),
        csrf: flow.csrf.clone(),
        step: flow.challenge.clone(),
        auth_cookie: None,
        ui_locales: request.ui_locales.clone(),
        form_target: request.redirect_uri.clone(),
    }
}

/// The person's answer on the asking page: a new user now (`choice=create`), or the login
/// page to prove an existing account, which the upstream account is then linked to
/// (`choice=link`). `Some` ends the request with that answer; `None` runs the flow on.
pub(super) async fn answer_ask(
    app: &AppState,
    rt: &RealmRuntime,
    flow: &mut crate::flow::FlowState,
    form: &HashMap<String, String>,
    who: &Browser,
) -> Result<(), EngineError> {
    let Some(broker) = flow.broker.as_mut() else {
        return Ok(());
    };
    let Some(identity) = broker.upstream.clone() else {
        return Ok(());
    };
    flow.challenge = None;
    match form.get("choice").map(String::as_str) {
        Some("create") => {
            let Some(provider) = rt.realm.identity_providers.iter().find(|p| p.alias == broker.alias) else {
                flow.broker = None;
                return Ok(());
            };
            let taken = match &identity.email {
                Some(email) => app.store.find_user_by_email(&rt.realm.name, email).await?.is_some(),
                None => false,
            };
            if taken {
                flow.broker = None;
                flow.notice = Some("brokerEmailTaken".into());
                return Ok(());
            }
            let user_id = create_user(app, rt, provider, &identity, who).await?;
            broker.user_id = Some(user_id);
            broker.upstream = None;
        }
        Some("link") => {
            broker.link_after_sign_in = true;
            flow.notice = Some("brokerSignInToLink".into());
        }
        _ => {
            flow.broker = None;
        }
    }
    Ok(())
}

/// After a sign-in the person made to link an upstream account (`first_login: ask`): the
/// account is linked to the user now proven. Refused quietly (logged) if it stands for someone
/// else meanwhile.
pub(super) async fn link_after_sign_in(
    app: &AppState,
    rt: &RealmRuntime,
    flow: &mut crate::flow::FlowState,
    who: &Browser,
) -> Result<(), EngineError> {
    let (Some(broker), Some(user_id)) = (flow.broker.clone(), flow.user_id.clone()) else {
        return Ok(());
    };
    let (true, Some(identity)) = (broker.link_after_sign_in, broker.upstream) else {
        return Ok(());
    };
    flow.broker = None;
    let Some(provider) = rt.realm.identity_providers.iter().find(|p| p.alias == broker.alias) else {
        return Ok(());
    };
    if app
        .store
        .link_identity(&user_id, new_link(rt, provider, &identity))
        .await?
    {
        let details = linked_details(provider, &identity, "password");
        record(app, rt, "identity_provider_linked", Some(&user_id), who, details).await;
    } else {
        let details = json!({ "provider": provider.alias, "reason": "the account is linked to someone already" });
        record(app, rt, "identity_provider_error", Some(&user_id), who, details).await;
    }
    Ok(())
}

/// A username for a user made from an upstream account: the provider's name for it, else the
/// address's local part, else the provider's alias; a number is added while it is taken.
async fn free_username(
    app: &AppState,
    rt: &RealmRuntime,
    provider: &IdentityProvider,
    identity: &Identity,
) -> Result<String, EngineError> {
    let local = identity
        .email
        .as_deref()
        .and_then(|e| e.split('@').next())
        .map(str::to_string);
    let base = [identity.username.clone(), local]
        .into_iter()
        .flatten()
        .map(|name| name.to_lowercase())
        .find(|name| crate::realm::usernames::username_problem(name).is_none())
        .unwrap_or_else(|| provider.alias.clone());
    for n in 0..50 {
        let candidate = if n == 0 { base.clone() } else { format!("{base}-{n}") };
        if app
            .store
            .find_user_by_username(&rt.realm.name, &candidate)
            .await?
            .is_none()
        {
            return Ok(candidate);
        }
    }
    Ok(format!("{base}-{}", &crate::crypto::new_id()[..8].to_lowercase()))
}

async fn record(
    app: &AppState,
    rt: &RealmRuntime,
    kind: &str,
    user_id: Option<&str>,
    who: &Browser,
    details: serde_json::Value,
) {
    let event = crate::store::NewEvent {
        realm: rt.realm.name.clone(),
        kind: kind.into(),
        user_id: user_id.map(String::from),
        client_id: None,
        ip: who.ip.clone(),
        user_agent: who.user_agent.clone(),
        details,
    };
    crate::events::record(&app.store, event).await;
}

/// The cookie holding a link to make from the account console (sealed), until the provider
/// sends the browser back.
pub const LINK_COOKIE: &str = "GATEHOUSE_LINK";
/// How long the trip upstream to link an account may take.
pub const LINK_TTL_SECS: i64 = 600;
const LINK_CONTEXT: &str = "broker-link";

/// A link being made: who asked, for which upstream request, until when.
#[derive(serde::Serialize, serde::Deserialize)]
struct LinkTrip {
    user_id: String,
    session_id: String,
    pending: crate::broker::Pending,
    expires_at: i64,
}

/// Why linking did not happen (catalog keys the console shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// The upstream account stands for another user, or this user has one of the provider.
    Taken,
    /// The provider refused or could not be reached, or the trip is not this browser's.
    Failed,
}

impl LinkRefusal {
    pub fn key(self) -> &'static str {
        match self {
            LinkRefusal::Taken => "accountLinkTaken",
            LinkRefusal::Failed => "accountLinkFailed",
        }
    }
}

/// Starts linking provider `alias` to the signed-in user (SSO session `session_id`): where to
/// send the browser, and the sealed cookie to keep meanwhile.
pub async fn start_link(
    app: &AppState,
    rt: &RealmRuntime,
    user_id: &str,
    session_id: &str,
    alias: &str,
) -> Result<Option<(String, String)>, crate::broker::BrokerError> {
    let Some(provider) = rt.realm.identity_providers.iter().find(|p| p.alias == alias) else {
        return Ok(None);
    };
    let back = crate::broker::callback_url(&app.settings.public_url, &rt.realm.name, alias);
    let (url, pending) = app.broker.start(provider, &back).await?;
    let trip = LinkTrip {
        user_id: user_id.to_string(),
        session_id: session_id.to_string(),
        pending,
        expires_at: crate::store::now() + LINK_TTL_SECS,
    };
    let sealed = app
        .master_key
        .seal(LINK_CONTEXT, &serde_json::to_vec(&trip).unwrap_or_default());
    Ok(Some((url, sealed)))
}

/// The provider sent the browser back from a link the console started (`sealed`, its cookie).
/// The user must still be signed in with the same session, and `state` must be the trip's.
pub async fn finish_link(
    app: &AppState,
    rt: &RealmRuntime,
    sealed: &str,
    sso_session_id: Option<&str>,
    alias: &str,
    params: &HashMap<String, String>,
    who: &Browser,
) -> Result<Result<(), LinkRefusal>, EngineError> {
    let trip = app
        .master_key
        .open(LINK_CONTEXT, sealed)
        .ok()
        .and_then(|plain| serde_json::from_slice::<LinkTrip>(&plain).ok());
    let state = params.get("state").map(String::as_str).unwrap_or_default();
    let Some(trip) = trip.filter(|t| {
        t.expires_at > crate::store::now()
            && t.pending.alias == alias
            && sso_session_id == Some(t.session_id.as_str())
            && constant_time_eq(t.pending.state.as_bytes(), state.as_bytes())
    }) else {
        return Ok(Err(LinkRefusal::Failed));
    };
    let Some(provider) = rt.realm.identity_providers.iter().find(|p| p.alias == alias) else {
        return Ok(Err(LinkRefusal::Failed));
    };
    let code = params.get("code").map(String::as_str).unwrap_or_default();
    if params.contains_key("error") || code.is_empty() {
        return Ok(Err(LinkRefusal::Failed));
    }
    let back = crate::broker::callback_url(&app.settings.public_url, &rt.realm.name, alias);
    let identity = match app.broker.finish(provider, &trip.pending, code, &back).await {
        Ok(identity) => identity,
        Err(e) => {
            let details = json!({ "provider": alias, "reason": e.to_string() });
            record(app, rt, "identity_provider_error", Some(&trip.user_id), who, details).await;
            return Ok(Err(LinkRefusal::Failed));
        }
    };
    let link = NewLink {
        realm: rt.realm.name.clone(),
        provider: alias.to_string(),
        subject: identity.subject.clone(),
        upstream_username: identity.username.clone(),
        email: identity.email.clone(),
    };
    if !app.store.link_identity(&trip.user_id, link).await? {
        return Ok(Err(LinkRefusal::Taken));
    }
    let details = json!({ "provider": alias, "upstream_username": identity.username, "how": "account-console" });
    record(app, rt, "identity_provider_linked", Some(&trip.user_id), who, details).await;
    Ok(Ok(()))
}
