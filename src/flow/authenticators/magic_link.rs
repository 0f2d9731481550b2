//! `email-link`: sign in with a link mailed to the account's verified address (a "magic
//! link"). The person gives a username or email address; the answer is the same whether or not
//! an account matches. The link is single-use, valid 10 minutes, bound to this sign-in, and
//! works only in the browser that asked for it: opened anywhere else it signs nobody in (or
//! whoever started a sign-in under someone's name could have them click it into their own
//! browser).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Authenticator;
use crate::crypto::{random_token, sha256_hex};
use crate::flow::{EngineError, FlowContext, Page, StepResult, message};
use crate::mail::{Letter, MailError};
use crate::store::NewActionToken;

/// The kind of link the sign-in mail carries.
pub const MAGIC_LINK: &str = "email-link";

/// How long a sign-in link is valid.
const LINK_TTL_SECS: i64 = 600;

pub struct MagicLink;

fn ask_page(username: &str, error: Option<Value>) -> StepResult {
    StepResult::Challenge(Page::new(
        "magic_link.html",
        json!({ "username": username, "error": error }),
    ))
}

async fn sent_page(ctx: &FlowContext<'_>) -> Result<StepResult, EngineError> {
    let delayed = ctx.services.store.delivery_failing(&ctx.realm.name, "mail").await?;
    Ok(StepResult::Challenge(Page::new(
        "magic_link_sent.html",
        json!({ "minutes": LINK_TTL_SECS / 60, "delayed": delayed, "error": null }),
    )))
}

impl MagicLink {
    /// Mails the link to the named account, if it has a verified address; the same work and
    /// answer otherwise. `Some` is a message the person must see (too many requests).
    async fn send(&self, ctx: &mut FlowContext<'_>, given: &str) -> Result<Option<Value>, EngineError> {
        match ctx.services.mail.allow_request(ctx.realm, ctx.ip.as_deref()).await {
            Ok(()) => {}
            Err(MailError::Store(e)) => return Err(e.into()),
            Err(MailError::NotConfigured) => return Ok(Some(message("mailNotConfigured"))),
            Err(_) => return Ok(Some(message("tooManyMessages"))),
        }
        let store = ctx.services.store;
        let realm = &ctx.realm.name;
        let mut user = store.find_user_by_username(realm, given).await?;
        if user.is_none() && given.contains('@') {
            user = store.find_user_by_email(realm, given).await?;
        }
        ctx.flow.link_sent = true;
        let lang = ctx.lang.clone().unwrap_or_else(|| "en".into());
        let target = user
            .filter(|u| u.enabled && u.email_verified)
            .and_then(|u| u.email.clone().map(|e| (u, e)));
        let (Some((user, email)), Some(session)) = (target, ctx.auth_session_id) else {
            ctx.services.mail.rehearse(ctx.realm, "magic_link", &lang);
            return Ok(None);
        };
        ctx.flow.named_user = Some(user.id.clone());
        let key = random_token();
        let path = super::reset_credentials::link_path(realm);
        let link = format!("{}?key={key}", ctx.services.mail.mailer.url(&path));
        let letter = Letter {
            realm: ctx.realm,
            to: &email,
            to_name: None,
            template: "magic_link",
            lang: &lang,
            context: json!({ "link": link, "username": user.username, "minutes": LINK_TTL_SECS / 60 }),
            requested_by_ip: ctx.ip.as_deref(),
            limited: true,
            link: Some(NewActionToken {
                token_hash: sha256_hex(key.as_bytes()),
                realm: realm.clone(),
                kind: MAGIC_LINK.into(),
                user_id: user.id.clone(),
                auth_session_id: Some(session.to_string()),
                data: Some(email.clone()),
                ttl_secs: LINK_TTL_SECS,
            }),
        };
        match ctx.services.mail.send(letter).await {
            Ok(()) | Err(MailError::TooManyForRecipient | MailError::BadAddress) => Ok(None),
            Err(MailError::TooManyFromAddress) => Ok(Some(message("tooManyMessages"))),
            Err(MailError::NotConfigured) => Ok(Some(message("mailNotConfigured"))),
            Err(MailError::Store(e)) => Err(e.into()),
        }
    }
}

#[async_trait::async_trait]
impl Authenticator for MagicLink {
    fn name(&self) -> &'static str {
        "email-link"
    }

    fn identifies_user(&self) -> bool {
        true
    }

    async fn authenticate(&self, ctx: &mut FlowContext<'_>) -> Result<StepResult, EngineError> {
        let proven = ctx.flow.link_opened && ctx.flow.named_user.is_some() && ctx.flow.named_user == ctx.flow.user_id;
        if proven {
            return Ok(StepResult::Success);
        }
        if ctx.flow.link_sent {
            return sent_page(ctx).await;
        }
        let hint = ctx.request.login_hint.clone().unwrap_or_default();
        Ok(ask_page(&hint, None))
    }

    async fn action(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<StepResult, EngineError> {
        if ctx.flow.link_sent {
            return self.authenticate(ctx).await;
        }
        let given = form.get("username").map(|s| s.trim()).unwrap_or_default();
        if given.is_empty() {
            return Ok(ask_page("", Some(message("missingUsername"))));
        }
        if let Some(problem) = super::input_too_long(given, "") {
            return Ok(ask_page("", Some(message(problem))));
        }
        ctx.flow.username = Some(given.to_string());
        match self.send(ctx, given).await? {
            None => sent_page(ctx).await,
            // Nothing went out (too many requests, no mail): the person may try again later.
            Some(problem) => {
                ctx.flow.link_sent = false;
                Ok(ask_page(given, Some(problem)))
            }
        }
    }
}
