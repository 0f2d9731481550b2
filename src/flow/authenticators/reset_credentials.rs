//! Forgot password, as Keycloak's reset-credentials flow (`flows/reset-credentials.yaml`):
//! - `reset-credentials-choose-user` asks for a username or email address. It only *names* the
//!   account and answers the same whether or not one exists.
//! - `reset-credential-email` mails a single-use link bound to this sign-in, and waits. Opening
//!   the link proves the mailbox: only then is the user identified.
//! - then the user's second factor, if any (a conditional subflow of the flow file);
//! - `reset-password` takes the new password under the realm's policy, and signs the account
//!   out everywhere else unless the person unticks that.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::crypto::{random_token, sha256_hex};
use crate::flow::password;
use crate::flow::{EngineError, FlowContext, Page, StepResult, message};
use crate::mail::{Letter, MailError};
use crate::store::NewActionToken;

/// The kind of link the reset mail carries.
pub const RESET_LINK: &str = "reset-credentials";

/// The path a reset link opens (with `?key=`).
pub fn link_path(realm: &str) -> String {
    format!("/realms/{realm}/login-actions/action-token")
}

pub struct ChooseUser;

fn choose_page(username: &str, error: Option<Value>) -> StepResult {
    StepResult::Challenge(Page::new(
        "reset_choose_user.html",
        json!({ "username": username, "error": error }),
    ))
}

#[async_trait::async_trait]
impl Authenticator for ChooseUser {
    fn name(&self) -> &'static str {
        "reset-credentials-choose-user"
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        let hint = ctx.request.login_hint.clone().unwrap_or_default();
        Ok(choose_page(&hint, None))
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        let given = form.get("username").map(|s| s.trim()).unwrap_or_default();
        if given.is_empty() {
            return Ok(choose_page("", Some(message("missingUsername"))));
        }
        if let Some(problem) = super::input_too_long(given, "") {
            return Ok(choose_page("", Some(message(problem))));
        }
        // Limited per client address before anything is looked up, the same for every name, so
        // that the limit tells nothing about which names exist.
        match ctx.services.mail.allow_request(ctx.realm, ctx.ip.as_deref()).await {
            Ok(()) => {}
            Err(MailError::Store(e)) => return Err(e.into()),
            Err(_) => return Ok(choose_page(given, Some(message("tooManyMessages")))),
        }
        let store = ctx.services.store;
        let realm = &ctx.realm.name;
        let mut user = store.find_user_by_username(realm, given).await?;
        if user.is_none() && given.contains('@') {
            user = store.find_user_by_email(realm, given).await?;
        }
        ctx.flow.username = Some(given.to_string());
        ctx.flow.named_user = user.filter(|u| u.enabled).map(|u| u.id);
        Ok(StepResult::Success)
    }
}

pub struct EmailLink;

impl EmailLink {
    /// Mails the link to the named account's address, once per sign-in; `Some` is a message
    /// for the page when the person must know (too many requests from their address, or no
    /// mail at all). Nothing tells whether an account was found.
    async fn send_once(&self, ctx: &mut FlowContext<'_>) -> Result<Option<Value>, EngineError> {
        if ctx.flow.link_sent {
            return Ok(None);
        }
        let Some(settings) = ctx.services.mail.mailer.settings(ctx.realm) else {
            return Ok(Some(message("mailNotConfigured")));
        };
        let ttl = settings.link_ttl.as_secs();
        let store = ctx.services.store;
        let user = match ctx.flow.named_user.as_deref() {
            Some(id) => store.find_user(id).await?,
            None => None,
        };
        let (Some(user), Some(session)) = (user, ctx.auth_session_id) else {
            return self.nothing_to_send(ctx).await;
        };
        let Some(email) = user.email.clone() else {
            return self.nothing_to_send(ctx).await;
        };
        let key = random_token();
        let link = format!(
            "{}?key={key}",
            ctx.services.mail.mailer.url(&link_path(&ctx.realm.name))
        );
        let letter = Letter {
            realm: ctx.realm,
            to: &email,
            to_name: full_name(&user),
            template: "password_reset",
            lang: ctx.lang.as_deref().unwrap_or("en"),
            context: json!({ "link": link, "username": user.username, "minutes": ttl / 60 }),
            requested_by_ip: ctx.ip.as_deref(),
            limited: true,
            link: Some(NewActionToken {
                token_hash: sha256_hex(key.as_bytes()),
                realm: ctx.realm.name.clone(),
                kind: RESET_LINK.into(),
                user_id: user.id.clone(),
                auth_session_id: Some(session.to_string()),
                // The address it went to: a changed address makes the link void.
                data: Some(email.clone()),
                ttl_secs: ttl,
            }),
        };
        let outcome = ctx.services.mail.send(letter).await;
        let problem = match outcome {
            Ok(()) => None,
            // Said as "sent" (the page cannot tell the person more without telling anyone
            // whether the account exists). The client address's limit was checked before.
            Err(MailError::TooManyForRecipient | MailError::BadAddress | MailError::TooManyFromAddress) => {
                Some("not_sent")
            }
            Err(MailError::NotConfigured) => return Ok(Some(message("mailNotConfigured"))),
            Err(MailError::Store(e)) => return Err(e.into()),
        };
        ctx.flow.link_sent = true;
        ctx.event(
            "reset_password_requested",
            Some(&user.id),
            json!({ "sent": problem.is_none(), "reason": problem }),
        )
        .await;
        Ok(None)
    }
}

impl EmailLink {
    /// No account (or no address) to send to: the same answer, and about the same work (the
    /// message is rendered and sealed, not queued), as when a link goes out.
    async fn nothing_to_send(&self, ctx: &mut FlowContext<'_>) -> Result<Option<Value>, EngineError> {
        ctx.flow.link_sent = true;
        let lang = ctx.lang.clone().unwrap_or_else(|| "en".into());
        ctx.services.mail.rehearse(ctx.realm, "password_reset", &lang);
        ctx.event(
            "reset_password_requested",
            None,
            json!({ "sent": false, "reason": "no_account" }),
        )
        .await;
        Ok(None)
    }
}

fn full_name(user: &crate::store::entity::user::Model) -> Option<String> {
    let name = [user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!name.trim().is_empty()).then_some(name)
}

#[async_trait::async_trait]
impl Authenticator for EmailLink {
    fn name(&self) -> &'static str {
        "reset-credential-email"
    }

    fn identifies_user(&self) -> bool {
        true
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        if ctx.flow.link_opened && ctx.flow.user_id.is_some() {
            return Ok(StepResult::Success);
        }
        let error = self.send_once(ctx).await?;
        let minutes = ctx
            .services
            .mail
            .mailer
            .settings(ctx.realm)
            .map_or(15, |s| s.link_ttl.as_secs() / 60);
        let delayed = ctx.services.store.delivery_failing(&ctx.realm.name, "mail").await?;
        Ok(StepResult::Challenge(Page::new(
            "reset_email_sent.html",
            json!({ "minutes": minutes, "delayed": delayed, "error": error }),
        )))
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        _form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        self.authenticate(ctx).await
    }
}

pub struct ResetPassword;

fn password_page(ctx: &FlowContext<'_>, error: Option<Value>) -> StepResult {
    StepResult::Challenge(Page::new(
        "reset_password.html",
        json!({
            "error": error,
            "requirements": password::requirements(&ctx.realm.password_policy),
            "username": ctx.flow.username,
        }),
    ))
}

#[async_trait::async_trait]
impl Authenticator for ResetPassword {
    fn name(&self) -> &'static str {
        "reset-password"
    }

    fn needs_user(&self) -> bool {
        true
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        Ok(password_page(ctx, None))
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        // Only after the emailed link proved the mailbox of the account the person named,
        // whatever steps a custom flow puts before this one.
        let proven = ctx.flow.link_opened && ctx.flow.named_user.is_some() && ctx.flow.named_user == ctx.flow.user_id;
        let Some(user_id) = ctx.flow.user_id.clone().filter(|_| proven) else {
            return Ok(StepResult::Failure("signInOver".into()));
        };
        if !ctx.services.store.find_user(&user_id).await?.is_some_and(|u| u.enabled) {
            return Ok(StepResult::Failure("accountDisabled".into()));
        }
        let new = form.get("password-new").map(String::as_str).unwrap_or_default();
        let confirm = form.get("password-confirm").map(String::as_str).unwrap_or_default();
        if new != confirm {
            return Ok(password_page(ctx, Some(message("passwordMismatch"))));
        }
        let policy = &ctx.realm.password_policy;
        let username = ctx.flow.username.clone().unwrap_or_default();
        if let Some(problem) = password::violation(policy, &username, new) {
            return Ok(password_page(ctx, Some(problem)));
        }
        let services = ctx.services;
        if password::recently_used(services.store, services.hasher, &user_id, new, policy.history).await? {
            let recent = json!({ "key": "passwordRecentlyUsed", "args": { "count": policy.history } });
            return Ok(password_page(ctx, Some(recent)));
        }
        let sign_out_others = form.get("logout-sessions").is_some_and(|v| v == "on");
        let hash = services.hasher.hash(new).await?;
        services
            .store
            .change_password(&user_id, hash, policy.history, None, sign_out_others)
            .await?;
        ctx.flow.password_reset = true;
        ctx.event(
            "password_changed",
            Some(&user_id),
            json!({ "by": "user", "via": "reset-credentials", "signed_out_others": sign_out_others }),
        )
        .await;
        password::notify_changed(ctx, &user_id).await?;
        Ok(StepResult::Success)
    }
}
