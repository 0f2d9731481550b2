//! The node's mail worker: claims due messages from the outbox one at a time, sends them, and
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
    let payload = master_key
        .open(&super::seal_context(&message.realm), &message.payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<super::Payload>(&bytes).ok());
    let Some(payload) = payload else {
        // Sealed under another master key, or damaged: no attempt can ever send it.
        give_up(
            store,
            &message,
            "the message cannot be opened with this node's master key",
        )
        .await;
        return;
    };
    let outcome = match super::deliver::message(&payload) {
        Ok(mime) => super::deliver::deliver(&payload, mime, &message.id).await,
        Err(e) => {
            give_up(store, &message, &e).await;
            return;
        }
    };
    let recorded = match outcome {
        Ok(()) => {
            tracing::info!(realm = %message.realm, message = %message.id, template = %message.template, "mail sent");
            store.mark_message_sent(&message.id).await
        }
        Err(e) if message.attempts >= MAX_ATTEMPTS => {
            give_up(store, &message, &e).await;
            return;
        }
        Err(e) => {
            let wait = backoff(payload.settings.retry_after.as_secs(), message.attempts);
            tracing::warn!(realm = %message.realm, message = %message.id, attempt = message.attempts, retry_in_secs = wait, error = %e, "could not send mail; will try again");
            store.mark_message_failed(&message.id, &e, Some(now() + wait)).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(message = %message.id, error = %e, "cannot record the outcome of a send");
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
