//! `first_login: ask`: an upstream account no one is linked to yet. A page asks the person to
//! sign in with the account they have here (it is linked once that succeeds) or to create one.

use std::collections::HashMap;

use serde_json::json;

use super::browser::{Browser, Next};
use super::federated::{create_user, linked_details, new_link, record};
use crate::flow::EngineError;
use crate::state::{AppState, RealmRuntime};

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
