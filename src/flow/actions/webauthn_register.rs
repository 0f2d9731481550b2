//! `webauthn-register-passwordless` (a passkey) and `webauthn-register` (a security key as a
//! second factor), Keycloak's names: the page asks the browser to create the credential and
//! posts its answer (field `credential`) with an optional name (`label`); the ceremony's state
//! stays in the sign-in, server-side. Without JavaScript the page says what is needed.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{ActionResult, RequiredAction};
use crate::flow::{EngineError, FlowContext, Page, message};
use crate::webauthn::{PASSKEY, PasskeyError, RelyingParty, SECURITY_KEY, User};

/// Which credential the action registers.
pub enum WebauthnRegister {
    Passkey,
    SecurityKey,
}

impl WebauthnRegister {
    fn kind(&self) -> &'static str {
        match self {
            WebauthnRegister::Passkey => PASSKEY,
            WebauthnRegister::SecurityKey => SECURITY_KEY,
        }
    }

    /// Starts the ceremony and renders the page (with `error`, after a failed attempt).
    async fn ask(&self, ctx: &mut FlowContext<'_>, error: Option<Value>) -> Result<Page, EngineError> {
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let user = ctx
            .services
            .store
            .find_user(&user_id)
            .await?
            .ok_or(EngineError::NoUser)?;
        let existing: Vec<_> = ctx
            .services
            .store
            .credentials(&user_id, self.kind())
            .await?
            .iter()
            .filter_map(|c| crate::webauthn::stored(&c.secret))
            .collect();
        let display = [user.first_name.as_deref(), user.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let display = if display.is_empty() {
            user.username.clone()
        } else {
            display
        };
        let started = match (
            RelyingParty::new(ctx.services.public_url, ctx.realm),
            crate::webauthn::user_handle(&user.id),
        ) {
            (Ok(rp), Some(handle)) => {
                let who = User {
                    handle,
                    name: &user.username,
                    display_name: &display,
                };
                rp.start_registration(self.kind(), &who, &existing).ok()
            }
            _ => None,
        };
        let webauthn = started.map(|(options, state)| {
            ctx.flow.keep_ceremony(self.name(), state);
            json!({ "options": options, "mode": "create" })
        });
        let error = error.or_else(|| webauthn.is_none().then(|| message("passkeyUnavailable")));
        Ok(Page::new(
            "webauthn_register.html",
            json!({ "webauthn": webauthn, "error": error, "passkey": self.kind() == PASSKEY }),
        ))
    }
}

#[async_trait::async_trait]
impl RequiredAction for WebauthnRegister {
    fn name(&self) -> &'static str {
        match self {
            WebauthnRegister::Passkey => "webauthn-register-passwordless",
            WebauthnRegister::SecurityKey => "webauthn-register",
        }
    }

    async fn page(&self, ctx: &mut FlowContext<'_>) -> Result<Page, EngineError> {
        self.ask(ctx, None).await
    }

    async fn submit(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<ActionResult, EngineError> {
        let answer = form.get("credential").map(String::as_str).unwrap_or_default();
        let Some(state) = ctx.flow.take_ceremony(self.name()).filter(|_| !answer.is_empty()) else {
            return Ok(ActionResult::Page(self.ask(ctx, Some(message("passkeyNeeded"))).await?));
        };
        let label = form
            .get("label")
            .map(|l| l.trim().chars().take(64).collect::<String>())
            .filter(|l| !l.is_empty() && !crate::realm::usernames::has_hidden_characters(l));
        let allowed = ctx
            .realm
            .webauthn
            .as_ref()
            .map(|w| w.allowed_aaguids.clone())
            .unwrap_or_default();
        let registered = RelyingParty::new(ctx.services.public_url, ctx.realm)
            .and_then(|rp| rp.finish_registration(self.kind(), answer, &state, &allowed));
        let registered = match registered {
            Ok(key) if already_registered(ctx, &key.cred_id).await? => {
                Err(PasskeyError::Refused("the credential is already registered".into()))
            }
            other => other,
        };
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        match registered {
            Ok(key) => {
                let id = ctx
                    .services
                    .store
                    .add_webauthn_key(&user_id, self.kind(), label, key.data, self.name())
                    .await?;
                ctx.event(
                    "credential_added",
                    Some(&user_id),
                    json!({ "type": self.kind(), "credential": id, "aaguid": key.aaguid }),
                )
                .await;
                Ok(ActionResult::Done)
            }
            Err(e) => {
                let key = match e {
                    PasskeyError::AuthenticatorNotAllowed => "passkeyModelNotAllowed",
                    _ => "passkeyNotRegistered",
                };
                ctx.event(
                    "credential_refused",
                    Some(&user_id),
                    json!({ "type": self.kind(), "reason": e.to_string() }),
                )
                .await;
                Ok(ActionResult::Page(self.ask(ctx, Some(message(key))).await?))
            }
        }
    }
}

/// Whether any account (this one included) already has the credential `cred_id` (WebAuthn
/// §7.1: a credential id is registered once).
async fn already_registered(ctx: &FlowContext<'_>, cred_id: &str) -> Result<bool, EngineError> {
    let candidates = ctx.services.store.webauthn_keys_mentioning(cred_id).await?;
    Ok(candidates
        .iter()
        .any(|c| crate::webauthn::stored_cred_id(&c.secret).as_deref() == Some(cred_id)))
}
