//! `verify-email` (Keycloak's `VERIFY_EMAIL`): mails a single-use link to the user's address and
//! waits until it is opened (in any browser). The `email_verified` claim follows the stored
//! flag; an address changed since the link was sent is not verified by it.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{ActionResult, RequiredAction};
use crate::crypto::{random_token, sha256_hex};
use crate::flow::{EngineError, FlowContext, Page, message};
use crate::mail::{Letter, MailError};
use crate::store::NewActionToken;

/// The kind of link the verification mail carries.
pub const VERIFY_LINK: &str = "verify-email";

pub struct VerifyEmail;

/// Mails `user` a link that verifies their current address (bound to the sign-in
/// `auth_session_id`, if one asked); `Some` is a message for the page.
pub async fn send_link(
    mail: crate::mail::Sender<'_>,
    realm: &crate::realm::Realm,
    user: &crate::store::entity::user::Model,
    lang: &str,
    ip: Option<&str>,
    auth_session_id: Option<&str>,
) -> Result<Option<Value>, EngineError> {
    let Some(settings) = mail.mailer.settings(realm) else {
        return Ok(Some(message("mailNotConfigured")));
    };
    let ttl = settings.link_ttl.as_secs();
    let Some(email) = user.email.clone() else {
        return Ok(None);
    };
    let key = random_token();
    let path = crate::flow::authenticators::reset_credentials::link_path(&realm.name);
    let link = format!("{}?key={key}", mail.mailer.url(&path));
    let letter = Letter {
        realm,
        to: &email,
        to_name: None,
        template: "verify_email",
        lang,
        context: json!({ "link": link, "username": user.username, "minutes": ttl / 60 }),
        requested_by_ip: ip,
        limited: true,
        link: Some(NewActionToken {
            token_hash: sha256_hex(key.as_bytes()),
            realm: realm.name.clone(),
            kind: VERIFY_LINK.into(),
            user_id: user.id.clone(),
            auth_session_id: auth_session_id.map(String::from),
            data: Some(email.clone()),
            ttl_secs: ttl,
        }),
    };
    match mail.send(letter).await {
        Ok(()) => Ok(None),
        Err(MailError::TooManyFromAddress | MailError::TooManyForRecipient) => Ok(Some(message("tooManyMessages"))),
        Err(MailError::NotConfigured) => Ok(Some(message("mailNotConfigured"))),
        Err(MailError::BadAddress) => Ok(Some(message("invalidEmail"))),
        Err(MailError::Store(e)) => Err(e.into()),
    }
}

impl VerifyEmail {
    /// Mails a new link; `Some` is a message for the page.
    async fn send(&self, ctx: &mut FlowContext<'_>) -> Result<Option<Value>, EngineError> {
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let Some(user) = ctx.services.store.find_user(&user_id).await? else {
            return Err(EngineError::NoUser);
        };
        let lang = ctx.lang.clone().unwrap_or_else(|| "en".into());
        let problem = send_link(
            ctx.services.mail,
            ctx.realm,
            &user,
            &lang,
            ctx.ip.as_deref(),
            ctx.auth_session_id,
        )
        .await?;
        if problem.is_none() {
            ctx.flow.verify_link_sent = true;
        }
        Ok(problem)
    }

    async fn show(
        &self,
        ctx: &FlowContext<'_>,
        notice: Option<Value>,
        error: Option<Value>,
    ) -> Result<Page, EngineError> {
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        let email = ctx.services.store.find_user(&user_id).await?.and_then(|u| u.email);
        let minutes = ctx
            .services
            .mail
            .mailer
            .settings(ctx.realm)
            .map_or(15, |s| s.link_ttl.as_secs() / 60);
        let delayed = ctx.services.store.delivery_failing(&ctx.realm.name, "mail").await?;
        Ok(Page::new(
            "verify_email.html",
            json!({ "email": email, "minutes": minutes, "delayed": delayed, "notice": notice, "error": error }),
        ))
    }
}

#[async_trait::async_trait]
impl RequiredAction for VerifyEmail {
    fn name(&self) -> &'static str {
        "verify-email"
    }

    /// Done once the address is verified; nothing to do for a user without one.
    async fn satisfied(&self, ctx: &FlowContext<'_>) -> Result<bool, EngineError> {
        let user_id = ctx.flow.user_id.clone().unwrap_or_default();
        Ok(ctx
            .services
            .store
            .find_user(&user_id)
            .await?
            .is_none_or(|u| u.email_verified || u.email.is_none()))
    }

    async fn page(&self, ctx: &mut FlowContext<'_>) -> Result<Page, EngineError> {
        let error = if ctx.flow.verify_link_sent {
            None
        } else {
            self.send(ctx).await?
        };
        self.show(ctx, None, error).await
    }

    async fn submit(
        &self,
        ctx: &mut FlowContext<'_>,
        form: &HashMap<String, String>,
    ) -> Result<ActionResult, EngineError> {
        if self.satisfied(ctx).await? {
            return Ok(ActionResult::Done);
        }
        if form.get("resend").is_some_and(|v| v == "true") {
            let error = self.send(ctx).await?;
            let notice = error.is_none().then(|| message("linkResent"));
            return Ok(ActionResult::Page(self.show(ctx, notice, error).await?));
        }
        let not_yet = Some(message("emailNotVerifiedYet"));
        Ok(ActionResult::Page(self.show(ctx, None, not_yet).await?))
    }
}
