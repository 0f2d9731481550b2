//! An organization that requires two factors, and a member signing in to its app who has none:
//! the sign-in leads them to set up an authenticator app (`configure-otp`, required, not
//! cancellable). If they decline, a page says why the app refuses them and that their account
//! stays theirs; its button returns `access_denied` to the app.

use serde_json::json;

use super::browser::{Browser, Next};
use crate::flow::{EngineError, FlowState, Page};
use crate::oidc::authorize::AuthorizeRequest;
use crate::oidc::error::RedirectError;
use crate::state::{AppState, RealmRuntime};
use crate::store::{OTP, SECURITY_KEY};
use crate::webauthn::PASSKEY;

/// The step name of the page shown after declining.
pub(super) const DECLINED: &str = "enrolment-declined";

const CONFIGURE_OTP: &str = "configure-otp";

/// Adds the authenticator-app setup to this sign-in when the app's organization requires a
/// second factor the member has not set up (and the realm lets users set one up). A member who
/// has one but did not use it is refused at the end instead ([`crate::orgs::admit`]).
pub(super) async fn demand_second_factor(
    app: &AppState,
    rt: &RealmRuntime,
    request: &AuthorizeRequest,
    flow: &mut FlowState,
    who: &Browser,
) -> Result<(), EngineError> {
    let Some(user_id) = flow.user_id.as_deref() else {
        return Ok(());
    };
    let (amr, _) = crate::flow::methods_and_level(&flow.amr);
    if flow.org_enrolment.is_some()
        || crate::flow::level::reached(&amr) >= 2
        || !rt.realm.is_required_action_enabled(CONFIGURE_OTP)
    {
        return Ok(());
    }
    let Some(client) = rt.realm.clients.get(&request.client_id) else {
        return Ok(());
    };
    let store = &app.store;
    let Some(organization) =
        crate::orgs::requiring_second_factor(store, &rt.realm.name, client, user_id, who.ip.as_deref()).await?
    else {
        return Ok(());
    };
    for kind in [OTP, PASSKEY, SECURITY_KEY] {
        if store.has_credential(user_id, kind).await? {
            return Ok(());
        }
    }
    flow.org_enrolment = Some(organization);
    // Two entries mark it as the flow's own requirement, which an app's `kc_action` asking for
    // the same setup cannot make cancellable.
    let present = flow.extra_actions.iter().filter(|a| *a == CONFIGURE_OTP).count();
    for _ in present..2 {
        flow.extra_actions.push(CONFIGURE_OTP.into());
    }
    Ok(())
}

/// The page after declining: why the app refuses, where the account's security page is.
pub(super) fn declined_page(realm: &str, flow: &FlowState) -> Page {
    Page::new(
        "enrolment_declined.html",
        json!({
            "organization": flow.org_enrolment,
            "security_url": format!("/realms/{realm}/account/security"),
        }),
    )
}

/// The declined page again (a reload, a stale form), as the step it is.
pub(super) fn show_declined(rt: &RealmRuntime, request: &AuthorizeRequest, flow: &FlowState) -> Next {
    Next::Page {
        page: declined_page(&rt.realm.name, flow),
        csrf: flow.csrf.clone(),
        step: flow.challenge.clone(),
        auth_cookie: None,
        ui_locales: request.ui_locales.clone(),
        form_target: request.redirect_uri.clone(),
    }
}

/// The person confirmed on the declined page: the app hears `access_denied`, and the refusal
/// is in the security log as the organization's.
pub(super) async fn refuse_declined(
    app: &AppState,
    rt: &RealmRuntime,
    request: &AuthorizeRequest,
    flow: &FlowState,
    who: &Browser,
) -> Next {
    let organization = flow.org_enrolment.clone().unwrap_or_default();
    let message = format!("{organization} requires two-factor sign-in, which the person declined to set up.");
    let alias = rt
        .realm
        .clients
        .get(&request.client_id)
        .and_then(|c| c.organization.clone());
    let refusal = crate::orgs::Refusal {
        organization: alias,
        reason: "second_factor_declined",
        message: message.clone(),
    };
    let (realm, client, user) = (
        &rt.realm.name,
        Some(request.client_id.as_str()),
        flow.user_id.as_deref(),
    );
    crate::orgs::record_refusal(&app.store, realm, client, user, who.ip.as_deref(), &refusal).await;
    Next::Respond {
        target: request.target(),
        result: Err(RedirectError::new("access_denied", message)),
        sso_cookie: None,
        device_cookie: None,
    }
}
