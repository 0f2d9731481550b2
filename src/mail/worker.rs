//! The node's outbox worker: claims due messages (mail, and texts through [`crate::sms`]) from
//! the outbox one at a time, sends them, and
//! marks them sent, or schedules the next attempt (the realm's `retry_after`, doubling, at
//! most an hour apart) until it gives up. A message is claimed under a lease, so two nodes never
//! send it at once; one whose node died mid-send is taken over when the lease ends.

use std::sync::Arc;
use std::time::Duration;

use crate::crypto::MasterKey;
use crate::store::entity::outbox;
use crate::store::{Store, now};

/// How long a claim holds: far beyond one SMTP conversation (its timeout is 20 s).
const LEASE_SECS: i64 = 120;

/// Attempts before a message is given up (with the default `retry_after` of 30 s, about a day).
pub const MAX_ATTEMPTS: i32 = 12;

/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 3600;

/// Sends what is due, then waits for a new message or the next poll; runs until aborted.
pub async fn run(store: Store, master_key: MasterKey, wakeup: Arc<tokio::sync::Notify>, poll: Duration) {
    loop {
        loop {
            match store.claim_due_message(LEASE_SECS).await {
                Ok(Some(message)) => send_one(&store, &master_key, message).await,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox; trying again later");
                    break;
                }
            }
        }
        tokio::select! {
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

async fn send_one(store: &Store, master_key: &MasterKey, message: outbox::Model) {
    let attempt = if message.channel == crate::sms::CHANNEL {
        send_text(master_key, &message).await
    } else {
        send_mail(master_key, &message).await
    };
    let recorded = match attempt {
        Attempt::Sent => {
            tracing::info!(realm = %message.realm, message = %message.id, channel = %message.channel, template = %message.template, "message sent");
            store.mark_message_sent(&message.id).await
        }
        Attempt::Hopeless(e) => return give_up(store, &message, &e).await,
        Attempt::Failed(e, _) if message.attempts >= MAX_ATTEMPTS => return give_up(store, &message, &e).await,
        Attempt::Failed(e, retry_after) => {
            let wait = backoff(retry_after, message.attempts);
            tracing::warn!(realm = %message.realm, message = %message.id, channel = %message.channel, attempt = message.attempts, retry_in_secs = wait, error = %e, "could not send a message; will try again");
            store.mark_message_failed(&message.id, &e, Some(now() + wait)).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(message = %message.id, error = %e, "cannot record the outcome of a send");
    }
}

/// How one attempt went.
enum Attempt {
    Sent,
    /// Worth another try, after the realm's `retry_after` (seconds), doubling.
    Failed(String, i64),
    /// No attempt can ever send it.
    Hopeless(String),
}

/// Sealed under another master key, or damaged.
const UNREADABLE: &str = "the message cannot be opened with this node's master key";

async fn send_mail(master_key: &MasterKey, message: &outbox::Model) -> Attempt {
    let payload = master_key
        .open(&super::seal_context(&message.realm), &message.payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<super::Payload>(&bytes).ok());
    let Some(payload) = payload else {
        return Attempt::Hopeless(UNREADABLE.into());
    };
    let mime = match super::deliver::message(&payload) {
        Ok(mime) => mime,
        Err(e) => return Attempt::Hopeless(e),
    };
    match super::deliver::deliver(&payload, mime, &message.id).await {
        Ok(()) => Attempt::Sent,
        Err(e) => Attempt::Failed(e, payload.settings.retry_after.as_secs()),
    }
}

async fn send_text(master_key: &MasterKey, message: &outbox::Model) -> Attempt {
    let payload = master_key
        .open(&crate::sms::seal_context(&message.realm), &message.payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<crate::sms::Payload>(&bytes).ok());
    let Some(payload) = payload else {
        return Attempt::Hopeless(UNREADABLE.into());
    };
    match crate::sms::deliver(&payload, &message.id).await {
        Ok(()) => Attempt::Sent,
        Err(e) => Attempt::Failed(e, payload.settings.retry_after.as_secs()),
    }
}

async fn give_up(store: &Store, message: &outbox::Model, error: &str) {
    tracing::error!(realm = %message.realm, message = %message.id, template = %message.template, attempts = message.attempts, %error, "giving up on a message");
    if let Err(e) = store.mark_message_failed(&message.id, error, None).await {
        tracing::error!(message = %message.id, error = %e, "cannot record a failed message");
    }
}

/// The wait after the `attempts`-th failure: `first`, doubling, capped.
fn backoff(first: i64, attempts: i32) -> i64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    first.max(1).saturating_mul(1i64 << doublings).min(MAX_BACKOFF_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(30, 1), 30);
        assert_eq!(backoff(30, 2), 60);
        assert_eq!(backoff(30, 5), 480);
        assert_eq!(backoff(30, 12), 3600);
        assert_eq!(backoff(1, 1), 1);
    }
}
