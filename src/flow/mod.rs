//! The flow engine: sign-ins run as declarative flows (see `flows/` and DESIGN.md), with
//! Keycloak's requirement semantics. Execution state lives in the authentication session in
//! the database, so a sign-in survives a restart or a move to another node.

pub mod actions;
pub mod authenticators;
pub(crate) mod brute_force;
pub mod conditions;
mod engine;
pub mod level;
pub mod model;
pub mod password;
mod registry;
mod step;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use engine::{Outcome, run};
pub use model::{Flow, FlowError, Requirement, Step, StepKind};
pub use registry::FlowRegistry;

use crate::crypto::{MasterKey, PasswordHasher};
use crate::ops::budget::AddressBudget;
use crate::ops::metrics::Metrics;
use crate::realm::Realm;
use crate::store::Store;
use crate::store::entity::sso_session;

/// Errors that stop a sign-in (as opposed to a wrong password, which is a page).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Password(#[from] crate::crypto::PasswordError),
    #[error("flow '{0}' does not exist")]
    UnknownFlow(String),
    #[error("the flow finished without identifying a user")]
    NoUser,
    #[error("{0}")]
    Internal(String),
}

/// A message for a page, as a key of the theme's message catalog: the page shows it in the
/// user's language (see `themes/default/messages/`).
pub fn message(key: &str) -> serde_json::Value {
    serde_json::Value::String(key.to_string())
}

/// A page an authenticator asks the browser to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub template: &'static str,
    pub context: serde_json::Value,
}

impl Page {
    pub fn new(template: &'static str, context: serde_json::Value) -> Page {
        Page { template, context }
    }
}

/// An upstream sign-in within a flow.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BrokerFlow {
    /// The realm's alias of the provider the person chose.
    pub alias: String,
    /// Sent upstream, not back yet.
    pub pending: Option<crate::broker::Pending>,
    /// Back: the user the upstream account stands for.
    pub user_id: Option<String>,
    /// Back with an account no one is linked to, under `first_login: ask`: held until the
    /// person chooses to create a user or to sign in (then it is linked to them).
    #[serde(default)]
    pub upstream: Option<crate::broker::Identity>,
    /// The person chose to sign in with their password and link the upstream account.
    #[serde(default)]
    pub link_after_sign_in: bool,
}

/// What one step decided.
#[derive(Debug, Clone, PartialEq)]
pub enum StepResult {
    Success,
    /// Not applicable (e.g. no SSO cookie): try the next alternative.
    Attempted,
    Challenge(Page),
    /// Send the browser elsewhere (an upstream sign-in provider); the step resumes when the
    /// browser comes back.
    Redirect(String),
    /// The sign-in cannot go on (e.g. access denied).
    Failure(String),
}

/// The persisted state of one sign-in in progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FlowState {
    pub flow: String,
    pub csrf: String,
    pub user_id: Option<String>,
    /// Paths (e.g. `1.0`) of steps that succeeded.
    pub completed: Vec<String>,
    /// The step whose page is showing.
    pub challenge: Option<String>,
    pub amr: Vec<String>,
    pub auth_time: Option<i64>,
    /// Set when an existing SSO session signed the user in.
    pub sso_session_id: Option<String>,
    /// The steps taken, for the sign-in event.
    pub trace: Vec<String>,
    /// The username given (and, once `user_id` is set, proven).
    pub username: Option<String>,
    /// The user chose "use a recovery code instead" on the OTP page.
    #[serde(default)]
    pub use_recovery_code: bool,
    /// Required actions the flow itself added (e.g. OTP required but not configured).
    #[serde(default)]
    pub extra_actions: Vec<String>,
    /// Upstream sign-in (`identity-provider`): the provider chosen, the request sent to it,
    /// and the user its account stands for once the browser is back.
    #[serde(default)]
    pub broker: Option<BrokerFlow>,
    /// The organization whose app requires a second factor this member has not set up: the
    /// authenticator-app setup then offers to decline, which ends in `access_denied` to the app.
    #[serde(default)]
    pub org_enrolment: Option<String>,
    /// The required action whose page is showing, kept until it is done.
    #[serde(default)]
    pub action: Option<String>,
    /// configure-otp: the new secret (sealed) until the first code confirms it.
    #[serde(default)]
    pub pending_otp: Option<String>,
    /// configure-otp: the new recovery codes (sealed), shown once.
    #[serde(default)]
    pub recovery_codes: Option<String>,
    /// `prompt=none`: no page may be shown.
    #[serde(default)]
    pub silent: bool,
    /// How the application-initiated action (`kc_action`) ended when it did not succeed:
    /// `cancelled`, or `error`.
    #[serde(default)]
    pub aia_status: Option<String>,
    /// `delete_credential:{id}`: the credential the app asked to remove.
    #[serde(default)]
    pub aia_credential: Option<String>,
    /// Forgot password: the account the person named, not yet proven (`user_id` is set only
    /// once the emailed link is opened).
    #[serde(default)]
    pub named_user: Option<String>,
    /// An emailed link was sent for this sign-in (it is not sent again on reload).
    #[serde(default)]
    pub link_sent: bool,
    /// The emailed link was opened.
    #[serde(default)]
    pub link_opened: bool,
    /// The link was opened in another browser, where the sign-in went on: it ends on a page
    /// there instead of returning to the app (whose state is in the first browser).
    #[serde(default)]
    pub moved: bool,
    /// Forgot password: the new password is set (the person then signs in with it).
    #[serde(default)]
    pub password_reset: bool,
    /// verify-email: a link was sent in this sign-in (not sent again on reload).
    #[serde(default)]
    pub verify_link_sent: bool,
    /// A message for the next page (a catalog key), e.g. after a reset.
    #[serde(default)]
    pub notice: Option<String>,
    /// `email-otp-form`: the code mailed in this sign-in (its keyed hash).
    #[serde(default)]
    pub email_code: Option<EmailCode>,
    /// `sms-otp-form`: the code texted in this sign-in (its keyed hash).
    #[serde(default)]
    pub sms_code: Option<EmailCode>,
    /// The person chose "send a code by email instead" on the authenticator-app page.
    #[serde(default)]
    pub use_email_code: bool,
    /// The person chose "send a code by text instead" on the authenticator-app page.
    #[serde(default)]
    pub use_sms_code: bool,
    /// A second factor was entered with "Remember this device" ticked.
    #[serde(default)]
    pub remember_device: bool,
    /// Step-up: the methods of the SSO session this sign-in raises to a higher level, which
    /// its authenticators of the same method need not ask for again.
    #[serde(default)]
    pub carried_amr: Vec<String>,
    /// Step-up: the user, session and `auth_time` the carried methods belong to. A step-up that
    /// adds no factor keeps that session and its `auth_time` (nothing new was proven).
    #[serde(default)]
    pub carried_from: Option<CarriedSession>,
    /// A WebAuthn ceremony under way (its `webauthn-rs` state): kept here, server-side only,
    /// and used once.
    #[serde(default)]
    pub webauthn_state: Option<String>,
    /// The person chose to sign in with a password instead of a passkey.
    #[serde(default)]
    pub use_password: bool,
    /// The person chose their authenticator app over their security key.
    #[serde(default)]
    pub use_otp_instead: bool,
    /// Set by a step handing back to an earlier alternative ("use your security key
    /// instead"): the level runs its alternatives again from the first. Never stored.
    #[serde(skip)]
    pub back_to_first_alternative: bool,
}

/// The SSO session a step-up raises.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CarriedSession {
    pub user_id: String,
    pub session_id: String,
    pub auth_time: i64,
}

/// A one-time code mailed or texted during a sign-in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EmailCode {
    /// HMAC-SHA256 of the code under the master key; emptied once used.
    pub mac: String,
    pub expires_at: i64,
    /// Codes sent so far in this sign-in.
    pub sends: u8,
}

impl FlowState {
    /// Keeps a WebAuthn ceremony's state for the answer to `purpose` (e.g. `passkey`), so that
    /// a state started for one ceremony can never finish another.
    pub fn keep_ceremony(&mut self, purpose: &str, state: String) {
        self.webauthn_state = Some(format!("{purpose}\n{state}"));
    }

    /// Takes the ceremony state kept for `purpose`; any state is used up, whatever it was for.
    pub fn take_ceremony(&mut self, purpose: &str) -> Option<String> {
        let kept = self.webauthn_state.take()?;
        let (kept_for, state) = kept.split_once('\n')?;
        (kept_for == purpose).then(|| state.to_string())
    }

    /// Records an RFC 8176 method the user completed in this sign-in.
    pub fn add_amr(&mut self, method: &str) {
        if !self.amr.iter().any(|m| m == method) {
            self.amr.push(method.to_string());
        }
    }
}

/// The RFC 8176 methods of a finished sign-in (with `mfa` once there are two) and its `acr`.
pub fn methods_and_level(methods: &[String]) -> (Vec<String>, &'static str) {
    let mut amr = methods.to_vec();
    if amr.len() > 1 && !amr.iter().any(|m| m == "mfa") {
        amr.push("mfa".into());
    }
    let acr = if amr.iter().any(|m| m == "mfa") { "2" } else { "1" };
    (amr, acr)
}

/// What of the node's shared state the engine uses: the flow runs on these and nothing else.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    pub store: &'a Store,
    pub hasher: &'a PasswordHasher,
    pub master_key: &'a MasterKey,
    pub metrics: &'a Metrics,
    /// Failed-sign-in events each client address may still have recorded this minute.
    pub failure_event_budget: &'a AddressBudget,
    /// Outgoing mail (links to reset a password, to verify an address).
    pub mail: crate::mail::Sender<'a>,
    /// Outgoing texts (codes by SMS).
    pub sms: crate::sms::Texter<'a>,
    /// The node's public URL: its host is the passkeys' relying party.
    pub public_url: &'a str,
    /// The flows, for what the realm's sign-ins ask for.
    pub flows: &'a registry::FlowRegistry,
    /// Upstream sign-in providers.
    pub broker: &'a crate::broker::Broker,
}

/// What the flow sees of the request that started the sign-in (an OIDC authorization
/// request, or a simulated one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInRequest {
    pub client_id: String,
    pub login_hint: Option<String>,
    /// `prompt=login`: an existing session does not count.
    pub prompt_login: bool,
    /// `prompt=none`: no page may be shown.
    pub prompt_none: bool,
    pub max_age: Option<i64>,
    /// The application-initiated action the app asked for, by Gatehouse's name.
    pub kc_action: Option<String>,
    /// The level of authentication the app asked for (`acr_values`, an `acr` claim).
    pub acr: Option<level::AcrRequest>,
}

/// What authenticators see and change.
pub struct FlowContext<'a> {
    pub services: Services<'a>,
    pub realm: &'a Realm,
    pub request: &'a SignInRequest,
    pub flow: &'a mut FlowState,
    pub sso_session: Option<sso_session::Model>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The running step's `config`.
    pub step_config: serde_json::Value,
    /// The authenticators at the running step's level (e.g. for "try another way").
    pub siblings: Vec<String>,
    /// A direct grant's token request parameters (`username`, `password`, `totp`); `None` in
    /// a browser sign-in.
    pub credentials: Option<&'a HashMap<String, String>>,
    /// The authentication session (its id) the browser sign-in runs in, for links that lead
    /// back to it; `None` in a direct grant or a simulation.
    pub auth_session_id: Option<&'a str>,
    /// The language of the person's pages (for the mail a step sends them).
    pub lang: Option<String>,
    /// The browser's trusted-device cookie (`id.secret`), for the `trusted-device` condition.
    pub device_cookie: Option<String>,
}

impl FlowContext<'_> {
    /// Records a security event; a failure to record is logged, not fatal to the sign-in.
    pub async fn event(&self, kind: &str, user_id: Option<&str>, mut details: serde_json::Value) {
        // Failures are written for requests nobody authenticated: bounded per address.
        if kind == "login_error"
            && let Some(ip) = &self.ip
            && !self.services.failure_event_budget.spend(ip, crate::store::now())
        {
            self.services.metrics.event_dropped();
            return;
        }
        if let Some(obj) = details.as_object_mut() {
            obj.entry("flow").or_insert_with(|| self.flow.flow.clone().into());
            obj.entry("steps").or_insert_with(|| serde_json::json!(self.flow.trace));
        }
        crate::events::record(
            self.services.store,
            crate::store::NewEvent {
                realm: self.realm.name.clone(),
                kind: kind.to_string(),
                user_id: user_id.map(String::from),
                client_id: Some(self.request.client_id.clone()),
                ip: self.ip.clone(),
                user_agent: self.user_agent.clone(),
                details,
            },
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::FlowState;

    #[test]
    fn a_ceremony_state_finishes_only_the_ceremony_it_was_kept_for_and_only_once() {
        let mut flow = FlowState::default();
        flow.keep_ceremony("webauthn-form", r#"{"ast":{"challenge":"x"}}"#.into());
        assert_eq!(flow.take_ceremony("passkey"), None, "another ceremony's state");
        assert_eq!(flow.take_ceremony("webauthn-form"), None, "used up by the wrong taker");
        flow.keep_ceremony("passkey", r#"{"ast":{}}"#.into());
        assert_eq!(flow.take_ceremony("passkey").as_deref(), Some(r#"{"ast":{}}"#));
        assert_eq!(flow.take_ceremony("passkey"), None, "used once");
    }
}
