//! Outgoing texts (codes by SMS). A text is rendered from the realm's theme in the recipient's
//! language, sealed, and queued in the same outbox as mail (channel `sms`), within limits per
//! number, per user and per client address; the node's outbox worker delivers it with
//! [`deliver`]: posted to the realm's webhook (signed, see [`signature`]) or written to a file
//! outbox.

mod deliver;
pub mod number;

pub use deliver::{deliver, signature};
pub use number::{NumberError, masked, normalize};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::MasterKey;
use crate::realm::{Realm, SmsSettings};
use crate::store::{NewMessage, Store, StoreError, now};
use crate::web::templates::Templates;

/// The outbox channel texts are queued on.
pub const CHANNEL: &str = "sms";

/// Why a text was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("no SMS is configured for this realm")]
    NotConfigured,
    #[error("too many texts to this number or for this user this hour")]
    TooManyForRecipient,
    #[error("too many texts requested from this client address this hour")]
    TooManyFromAddress,
    #[error("the realm does not text numbers in this country")]
    NumberNotAllowed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What sending a text needs of the node; cheap to copy.
#[derive(Clone, Copy)]
pub struct Texter<'a> {
    pub store: &'a Store,
    pub master_key: &'a MasterKey,
    pub templates: &'a Templates,
    /// Rung when a text is queued, so the outbox worker sends it at once.
    pub wakeup: &'a tokio::sync::Notify,
}

/// One text to send.
pub struct Text<'a> {
    pub realm: &'a Realm,
    /// An E.164 number (see [`normalize`]).
    pub to: &'a str,
    /// Whom it is for: the per-user limit counts these.
    pub user_id: &'a str,
    /// Which text: template `sms_{template}.txt` of the realm's theme.
    pub template: &'static str,
    pub lang: &'a str,
    pub context: Value,
    pub requested_by_ip: Option<&'a str>,
}

/// What the queue holds for one text.
#[derive(Debug, Serialize, Deserialize)]
pub struct Payload {
    pub settings: SmsSettings,
    pub realm: String,
    pub to: String,
    pub body: String,
}

/// The master-key context payloads are sealed under.
pub fn seal_context(realm: &str) -> String {
    format!("sms-outbox:{realm}")
}

/// Whether the realm texts `number` (an E.164 number): any, or one with an allowed prefix.
pub fn allowed(settings: &SmsSettings, number: &str) -> bool {
    settings.allowed_prefixes.is_empty() || settings.allowed_prefixes.iter().any(|p| number.starts_with(p.as_str()))
}

impl Texter<'_> {
    /// Renders and queues `text`, within the realm's limits per number, per user and per
    /// client address; the worker is woken to send it at once.
    pub async fn send(&self, text: Text<'_>) -> Result<(), SmsError> {
        let settings = text.realm.sms.as_ref().ok_or(SmsError::NotConfigured)?;
        if !allowed(settings, text.to) {
            return Err(SmsError::NumberNotAllowed);
        }
        let since = now() - 3600;
        if let Some(ip) = text.requested_by_ip {
            let (_, from_ip) = self.store.recent_messages("", "", Some(ip), since).await?;
            if from_ip >= u64::from(settings.per_ip_per_hour) {
                return Err(SmsError::TooManyFromAddress);
            }
        }
        // Each kind of text has its own budget per number, as mail has per address: someone
        // typing a victim's number to confirm it cannot use up the victim's sign-in codes.
        let (to_number, _) = self.store.recent_messages(text.to, text.template, None, since).await?;
        let for_user = self
            .store
            .recent_messages_for_user(text.user_id, CHANNEL, since)
            .await?;
        if to_number >= u64::from(settings.per_number_per_hour) || for_user >= u64::from(settings.per_user_per_hour) {
            return Err(SmsError::TooManyForRecipient);
        }
        let mut context = text.context.clone();
        if let Some(obj) = context.as_object_mut() {
            obj.entry("realm_name")
                .or_insert_with(|| Value::from(text.realm.display_name.clone()));
        }
        let body = self.templates.render_page(
            &text.realm.theme,
            &format!("sms_{}.txt", text.template),
            text.lang,
            &context,
        );
        let payload = Payload {
            settings: settings.clone(),
            realm: text.realm.name.clone(),
            to: text.to.to_string(),
            body: body.trim().to_string(),
        };
        let sealed = self.master_key.seal(
            &seal_context(&text.realm.name),
            &serde_json::to_vec(&payload).unwrap_or_default(),
        );
        let message = NewMessage {
            realm: text.realm.name.clone(),
            channel: CHANNEL.into(),
            recipient: text.to.to_string(),
            requested_by_ip: text.requested_by_ip.map(String::from),
            template: text.template.into(),
            payload: sealed,
            user_id: Some(text.user_id.to_string()),
        };
        self.store.enqueue_message(message, None).await?;
        self.wakeup.notify_one();
        Ok(())
    }
}
