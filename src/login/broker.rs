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
use super::federated::{create_user, linked_details, new_link, record};
use super::sign_in::{self, InProgress};
use crate::broker::Identity;
use crate::crypto::constant_time_eq;
use crate::flow::{BrokerFlow, EngineError};
use crate::realm::{FirstLogin, IdentityProvider};
use crate::state::{AppState, RealmRuntime};
use crate::store::NewLink;

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
            signing_in.flow.challenge = Some(super::broker_ask::ASK.into());
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
