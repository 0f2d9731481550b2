//! Brute-force protection from the realm's `brute_force` settings. Failures are counted per
//! username (whether or not the user exists, so a lockout reveals nothing) and per client
//! IP, in the database, so they hold across nodes. A success clears the username's count.

use crate::store::LockoutRule;

use super::{EngineError, FlowContext};

/// An address may fail this many times more often than one username before it is slowed
/// down: many people can sit behind one address.
const IP_FACTOR: i32 = 10;

fn rule(ctx: &FlowContext<'_>, factor: i32) -> LockoutRule {
    let bf = &ctx.realm.brute_force;
    LockoutRule {
        max_failures: (bf.max_failures as i32).max(1).saturating_mul(factor),
        wait_increment_secs: bf.wait_increment.as_secs(),
        max_wait_secs: bf.max_wait.as_secs(),
        reset_after_secs: 12 * 3600,
    }
}

fn user_subject(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

fn ip_subject(ctx: &FlowContext<'_>) -> Option<String> {
    ctx.ip.as_ref().map(|ip| format!("ip:{ip}"))
}

/// Seconds until `username` (or the client's address) may try again; 0 if not locked.
pub async fn wait_secs(ctx: &FlowContext<'_>, username: &str) -> Result<i64, EngineError> {
    let store = &ctx.app.store;
    let now = crate::store::now();
    let mut until = store.locked_until(&ctx.realm.name, &user_subject(username)).await?;
    if let Some(ip) = ip_subject(ctx) {
        until = until.max(store.locked_until(&ctx.realm.name, &ip).await?);
    }
    Ok((until - now).max(0))
}

/// Counts a failed attempt; returns the seconds of lockout it caused (0 if none).
pub async fn fail(ctx: &FlowContext<'_>, username: &str) -> Result<i64, EngineError> {
    let store = &ctx.app.store;
    let now = crate::store::now();
    let mut until = store
        .record_login_failure(&ctx.realm.name, &user_subject(username), rule(ctx, 1))
        .await?;
    if let Some(ip) = ip_subject(ctx) {
        until = until.max(
            store
                .record_login_failure(&ctx.realm.name, &ip, rule(ctx, IP_FACTOR))
                .await?,
        );
    }
    Ok((until - now).max(0))
}

pub async fn succeed(ctx: &FlowContext<'_>, username: &str) -> Result<(), EngineError> {
    ctx.app
        .store
        .clear_login_failures(&ctx.realm.name, &user_subject(username))
        .await?;
    Ok(())
}

/// The message shown while locked out (a message-catalog key with its arguments); the same
/// whether the account exists or not.
pub fn locked_message(wait_secs: i64) -> serde_json::Value {
    let minutes = (wait_secs + 59) / 60;
    if minutes <= 1 {
        super::message("accountLockedMinute")
    } else {
        serde_json::json!({ "key": "accountLockedFor", "args": { "minutes": minutes } })
    }
}
