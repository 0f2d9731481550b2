//! `passkey`: sign in with a passkey and nothing else — a discoverable credential with user
//! verification, which counts as two factors (`amr` `hwk` and `user`, RFC 8176). Its page
//! offers the passkey by the browser's autofill (conditional UI) and a button, and "Use a
//! password instead" (the next alternative). The login forms offer passkeys the same way
//! through [`offer`] and [`sign_in`].

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::flow::{EngineError, FlowContext, Page, StepResult, message};
use crate::webauthn::{PASSKEY, PasskeyError, RelyingParty};

pub struct PasskeyForm;

/// Starts a passkey sign-in (its state kept in the flow) and returns what the page needs, or
/// `None` when the realm offers no passkeys.
pub(super) fn offer(ctx: &mut FlowContext<'_>) -> Option<Value> {
    ctx.realm.webauthn.as_ref()?;
    let rp = match RelyingParty::new(ctx.services.public_url, ctx.realm) {
        Ok(rp) => rp,
        Err(e) => {
            tracing::debug!(error = %e, "passkeys are configured but cannot be offered");
            return None;
        }
    };
    let (options, state) = rp.start_passkey_sign_in().ok()?;
    ctx.flow.keep_ceremony("passkey", state);
    Some(json!({ "options": options, "mode": "get" }))
}

/// Checks the browser's passkey answer against the ceremony this sign-in started; on success
/// the user it names is identified. Returns the message to show on failure (the same for
/// every cause, so that nothing tells whose passkey it was).
pub(super) async fn sign_in(ctx: &mut FlowContext<'_>, answer: &str) -> Result<Result<(), Value>, EngineError> {
    let failed = || Ok(Err(message("passkeyFailed")));
    let Some(state) = ctx.flow.take_ceremony("passkey") else {
        return failed();
    };
    let Ok(rp) = RelyingParty::new(ctx.services.public_url, ctx.realm) else {
        return failed();
    };
    let Ok(handle) = rp.identify(answer) else {
        return failed();
    };
    let mut user = None;
    for id in crate::webauthn::user_ids_of(handle) {
        if let Some(u) = ctx.services.store.find_user(&id).await?
            && u.realm == ctx.realm.name
        {
            user = Some(u);
        }
    }
    let Some(user) = user else { return failed() };
    // The account's lockout holds for passkeys too, and failures count towards it.
    let subject = crate::flow::brute_force::user_subject(Some(&user.id), &user.username);
    let attempt = match crate::flow::brute_force::begin(ctx, subject).await? {
        Ok(attempt) => attempt,
        Err(refusal) => return Ok(Err(super::refused(ctx, Some(&user.id), refusal).await)),
    };
    let (rows, keys) = super::webauthn_keys(ctx, &user.id, PASSKEY).await?;
    let checked = rp.finish_passkey_sign_in(answer, &state, keys);
    match super::record_key_use(ctx, &rows, checked).await? {
        Ok(()) if user.enabled => {
            if let Err(refusal) = attempt.succeeded().await? {
                return Ok(Err(super::refused(ctx, Some(&user.id), refusal).await));
            }
            ctx.flow.user_id = Some(user.id.clone());
            ctx.flow.username = Some(user.username.clone());
            ctx.flow.add_amr("hwk");
            ctx.flow.add_amr("user");
            Ok(Ok(()))
        }
        Ok(_) => {
            let _ = attempt.release().await?;
            ctx.event("login_error", Some(&user.id), json!({ "reason": "user_disabled" }))
                .await;
            Ok(Err(message("accountDisabled")))
        }
        Err(PasskeyError::PossibleClone) => {
            let _ = attempt.failed().await?;
            ctx.event(
                "webauthn_clone_detected",
                Some(&user.id),
                json!({ "reason": "counter_went_back" }),
            )
            .await;
            failed()
        }
        Err(e) => {
            let _ = attempt.failed().await?;
            ctx.event(
                "login_error",
                Some(&user.id),
                json!({ "reason": "passkey_refused", "detail": e.to_string() }),
            )
            .await;
            failed()
        }
    }
}

fn page(ctx: &mut FlowContext<'_>, error: Option<Value>) -> StepResult {
    let webauthn = offer(ctx);
    StepResult::Challenge(Page::new(
        "passkey.html",
        json!({ "webauthn": webauthn, "error": error }),
    ))
}

#[async_trait::async_trait]
impl Authenticator for PasskeyForm {
    fn name(&self) -> &'static str {
        "passkey"
    }

    fn amr(&self) -> Option<&'static str> {
        Some("hwk")
    }

    fn identifies_user(&self) -> bool {
        true
    }

    fn credential_kind(&self) -> Option<&'static str> {
        Some(PASSKEY)
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        if ctx.flow.use_password || ctx.realm.webauthn.is_none() || ctx.flow.silent {
            return Ok(StepResult::Attempted);
        }
        Ok(page(ctx, None))
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        if form.get("try_another").is_some_and(|v| v == "password") {
            ctx.flow.use_password = true;
            return Ok(StepResult::Attempted);
        }
        let answer = form.get("credential").map(String::as_str).unwrap_or_default();
        if answer.is_empty() {
            return Ok(page(ctx, Some(message("passkeyNeeded"))));
        }
        Ok(match sign_in(ctx, answer).await? {
            Ok(()) => StepResult::Success,
            Err(error) => page(ctx, Some(error)),
        })
    }
}
