//! Outgoing mail. A message is rendered from the realm's theme (text and HTML, in the
//! recipient's language), sealed, and queued in the database's outbox in the request; each
//! node's [`worker`] sends what is due, by SMTP or into a file outbox, and retries with backoff.
//! A request therefore never waits on a mail server, and a queued message survives a restart.

mod deliver;
pub mod worker;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::MasterKey;
use crate::ops::budget::AddressBudget;
use crate::realm::{MailSettings, Realm};
use crate::store::{NewActionToken, NewMessage, Store, StoreError, now};
use crate::web::templates::Templates;

/// Why a message was not queued.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("no mail is configured for this realm or server")]
    NotConfigured,
    #[error("too many messages to this address this hour")]
    TooManyForRecipient,
    #[error("too many messages requested from this client address this hour")]
    TooManyFromAddress,
    #[error("not a usable email address")]
    BadAddress,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The node's mail settings and the bell that wakes its worker.
pub struct Mailer {
    /// The server's `mail` setting, for realms without their own.
    server_default: Option<MailSettings>,
    /// `http://host[:port]`, the start of every link in a message.
    public_url: String,
    wakeup: Arc<tokio::sync::Notify>,
    /// Requests for a message (e.g. "Forgot password?") each client address may make per
    /// minute on this node, whether or not anything is sent.
    request_budget: AddressBudget,
}

/// Requests for a message one client address may make per minute on one node.
pub const REQUESTS_PER_ADDRESS_PER_MINUTE: u32 = 5;

impl Mailer {
    pub fn new(server_default: Option<MailSettings>, public_url: String) -> Mailer {
        Mailer {
            server_default,
            public_url,
            wakeup: Arc::new(tokio::sync::Notify::new()),
            request_budget: AddressBudget::new(REQUESTS_PER_ADDRESS_PER_MINUTE),
        }
    }

    /// How `realm`'s mail goes out, if it can.
    pub fn settings<'a>(&'a self, realm: &'a Realm) -> Option<&'a MailSettings> {
        realm.mail.as_ref().or(self.server_default.as_ref())
    }

    /// The absolute URL of a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// Whether `ip` may ask for another message now (per node and minute).
    fn spend_request(&self, ip: Option<&str>) -> bool {
        ip.is_none_or(|ip| self.request_budget.spend(ip, now()))
    }

    /// What the worker waits on between polls.
    pub fn wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.wakeup.clone()
    }

    /// The worker's bell, for other messages queued in the same outbox (texts).
    pub fn bell(&self) -> &tokio::sync::Notify {
        &self.wakeup
    }
}

/// What sending needs of the node; cheap to copy.
#[derive(Clone, Copy)]
pub struct Sender<'a> {
    pub mailer: &'a Mailer,
    pub store: &'a Store,
    pub master_key: &'a MasterKey,
    pub templates: &'a Templates,
}

/// One message to send.
pub struct Letter<'a> {
    pub realm: &'a Realm,
    pub to: &'a str,
    /// The person's name, shown beside the address.
    pub to_name: Option<String>,
    /// Which message: templates `mail_{template}.txt` and `.html` of the realm's theme, subject
    /// `mailSubject_{template}` of its catalog.
    pub template: &'static str,
    pub lang: &'a str,
    pub context: Value,
    pub requested_by_ip: Option<&'a str>,
    /// Whether the realm's hourly limit per address applies (not to alerts about the account).
    pub limited: bool,
    /// The single-use link it carries, recorded (hashed) with the message.
    pub link: Option<NewActionToken>,
}

/// What the queue holds for one message: everything needed to send it later, on any node.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Payload {
    pub settings: MailSettings,
    pub from: String,
    pub to: String,
    pub to_name: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The master-key context payloads are sealed under.
fn seal_context(realm: &str) -> String {
    format!("outbox:{realm}")
}

impl Sender<'_> {
    /// Renders and queues `letter` (and its link), within the realm's limits per recipient and
    /// per client address. The worker is woken to send it at once.
    pub async fn send(&self, letter: Letter<'_>) -> Result<(), MailError> {
        let settings = self.mailer.settings(letter.realm).ok_or(MailError::NotConfigured)?;
        let to = letter.to.trim().to_lowercase();
        if to.parse::<lettre::Address>().is_err() {
            return Err(MailError::BadAddress);
        }
        // Each kind of message has its own hourly budget per address, so that asking for one
        // kind (password resets) cannot use up another (sign-in codes); alerts have none.
        let (to_recipient, from_ip) = self
            .store
            .recent_messages(&to, letter.template, letter.requested_by_ip, now() - 3600)
            .await?;
        if from_ip >= u64::from(settings.per_ip_per_hour) {
            return Err(MailError::TooManyFromAddress);
        }
        if letter.limited && to_recipient >= u64::from(settings.per_address_per_hour) {
            return Err(MailError::TooManyForRecipient);
        }
        let payload = self.render(settings, &letter, &to);
        let sealed = self.master_key.seal(
            &seal_context(&letter.realm.name),
            &serde_json::to_vec(&payload).unwrap_or_default(),
        );
        let message = NewMessage {
            realm: letter.realm.name.clone(),
            channel: "mail".into(),
            recipient: to,
            requested_by_ip: letter.requested_by_ip.map(String::from),
            template: letter.template.into(),
            payload: sealed,
            user_id: None,
        };
        self.store.enqueue_message(message, letter.link).await?;
        self.mailer.wakeup.notify_one();
        Ok(())
    }

    /// Whether a person at `ip` may ask `realm` for a message now: within this node's
    /// per-minute budget and the realm's hourly limit for the address. Checked before knowing
    /// whether anything will be sent, so it answers the same either way.
    pub async fn allow_request(&self, realm: &Realm, ip: Option<&str>) -> Result<(), MailError> {
        let settings = self.mailer.settings(realm).ok_or(MailError::NotConfigured)?;
        if !self.mailer.spend_request(ip) {
            return Err(MailError::TooManyFromAddress);
        }
        if let Some(ip) = ip {
            let (_, from_ip) = self.store.recent_messages("", "", Some(ip), now() - 3600).await?;
            if from_ip >= u64::from(settings.per_ip_per_hour) {
                return Err(MailError::TooManyFromAddress);
            }
        }
        Ok(())
    }

    /// Renders and seals a message of `template` without queuing it: the work of a send, for
    /// answers that must take as long whether or not a message goes out.
    pub fn rehearse(&self, realm: &Realm, template: &'static str, lang: &str) {
        let Some(settings) = self.mailer.settings(realm) else {
            return;
        };
        let letter = Letter {
            realm,
            to: "nobody@invalid.example",
            to_name: None,
            template,
            lang,
            context: serde_json::json!({ "link": "", "username": "", "minutes": 0 }),
            requested_by_ip: None,
            limited: true,
            link: None,
        };
        let payload = self.render(settings, &letter, letter.to);
        let _ = self.master_key.seal(
            &seal_context(&realm.name),
            &serde_json::to_vec(&payload).unwrap_or_default(),
        );
    }

    fn render(&self, settings: &MailSettings, letter: &Letter<'_>, to: &str) -> Payload {
        let theme = letter.realm.theme.as_str();
        let mut context = letter.context.clone();
        if let Some(obj) = context.as_object_mut() {
            obj.entry("realm_name")
                .or_insert_with(|| Value::from(letter.realm.display_name.clone()));
        }
        let page = |ext: &str| {
            self.templates
                .render_page(theme, &format!("mail_{}.{ext}", letter.template), letter.lang, &context)
        };
        let subject_key = format!("mailSubject_{}", letter.template);
        let subject = self.templates.message_text(
            theme,
            letter.lang,
            &serde_json::json!({ "key": subject_key, "args": context }),
        );
        Payload {
            settings: settings.clone(),
            from: settings.from.clone(),
            to: to.to_string(),
            to_name: letter.to_name.as_deref().map(single_line),
            subject: single_line(&subject),
            text: page("txt"),
            html: page("html"),
        }
    }
}

/// Tells the user their password was just changed (when, from what, from where), so that a
/// change they did not make does not go unnoticed. Best effort: a failure is logged.
pub async fn notify_password_changed(
    mail: Sender<'_>,
    realm: &Realm,
    user: &crate::store::entity::user::Model,
    lang: &str,
    ip: Option<&str>,
    user_agent: Option<&str>,
) {
    let Some(email) = user.email.as_deref() else { return };
    if mail.mailer.settings(realm).is_none() {
        return;
    }
    let agent = crate::web::agent::describe(user_agent);
    let letter = Letter {
        realm,
        to: email,
        to_name: None,
        template: "password_changed",
        lang,
        context: serde_json::json!({
            "username": user.username,
            "time": crate::events::time::format_rfc3339(now()).replace('T', " ").replace('Z', " UTC"),
            "browser": agent.browser,
            "os": agent.os,
            "ip": ip.unwrap_or_default(),
        }),
        requested_by_ip: None,
        limited: false,
        link: None,
    };
    if let Err(e) = mail.send(letter).await {
        tracing::warn!(user = %user.id, error = %e, "could not send the password-changed notice");
    }
}

/// A header value on one line: control characters (CR and LF above all, which would start a
/// header of the writer's choosing) become spaces.
pub(crate) fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_stay_on_one_line() {
        assert_eq!(
            single_line("Hello\r\nBcc: victim@example.com"),
            "Hello  Bcc: victim@example.com"
        );
        assert_eq!(single_line(" Reset\u{0}your password\t"), "Reset your password");
    }
}
