//! Brute-force protection from the realm's `brute_force` settings. Attempts are counted per
//! user (by id once the name is known to exist; by a hash of the normalized name otherwise, so
//! a lockout reveals nothing) and per client address, in the database, so they hold across
//! nodes. Each attempt is reserved before its credential is checked and settled after (see
//! `store::brute_force`): parallel guesses get no more evaluations than sequential ones.

use serde_json::Value;

use crate::crypto::sha256_hex;
use crate::store::{AttemptGate, LockoutRule, Store};

use super::{EngineError, FlowContext};

/// An address may fail this many times more often than one user before it is slowed down:
/// many people can sit behind one address.
const IP_FACTOR: i32 = 10;

fn rule(ctx: &FlowContext<'_>, factor: i32) -> LockoutRule {
    let bf = &ctx.realm.brute_force;
    LockoutRule {
        max_failures: (bf.max_failures as i32).max(1).saturating_mul(factor),
        wait_increment_secs: bf.wait_increment.as_secs(),
        max_wait_secs: bf.max_wait.as_secs(),
        reset_after_secs: crate::store::FAILURES_REMEMBERED_SECS,
    }
}

/// The subject attempts for a user are counted against: the user's id when the user exists,
/// else a hash of the name's normalized key (so any spelling of one name shares a count, and
/// a name never makes a subject longer than a hash).
pub fn user_subject(user_id: Option<&str>, username: &str) -> String {
    match user_id {
        Some(id) => format!("user:{id}"),
        None => format!("name:{}", sha256_hex(crate::store::username_key(username).as_bytes())),
    }
}

/// The subject a user's second-factor attempts (codes) are counted against: apart from the
/// password's, so that a right password (which clears its own count) never resets the
/// count of guessed codes.
pub fn second_factor_subject(user_id: &str) -> String {
    format!("2fa:{user_id}")
}

/// A refused attempt: how long to wait, and whether this is the first refusal of the lockout
/// window (the one worth a security event).
#[derive(Debug, Clone, Copy)]
pub struct Refusal {
    pub wait_secs: i64,
    pub first: bool,
}

impl Refusal {
    pub fn message(&self) -> Value {
        locked_message(self.wait_secs)
    }
}

/// A reserved attempt, to be settled once the credential has been checked. One dropped
/// unsettled (an error, a timeout, a client that went away mid-check) counts as a failure, so
/// abandoning requests can neither hold places nor escape the count.
#[must_use = "a reserved attempt must be settled"]
pub struct Attempt {
    store: Store,
    realm: String,
    subjects: Vec<(String, LockoutRule)>,
    settled: bool,
}

/// Reserves an attempt for `user_subject` and the client's address, or says why not.
pub async fn begin(ctx: &FlowContext<'_>, user_subject: String) -> Result<Result<Attempt, Refusal>, EngineError> {
    let mut subjects = vec![(user_subject, rule(ctx, 1))];
    if let Some(ip) = &ctx.ip {
        subjects.push((format!("ip:{ip}"), rule(ctx, IP_FACTOR)));
    }
    Ok(
        match ctx.services.store.reserve_attempt(&ctx.realm.name, &subjects).await? {
            AttemptGate::Reserved => Ok(Attempt {
                store: ctx.services.store.clone(),
                realm: ctx.realm.name.clone(),
                subjects,
                settled: false,
            }),
            AttemptGate::Locked { wait_secs, first } => Err(Refusal { wait_secs, first }),
        },
    )
}

impl Attempt {
    /// The credential was wrong: counts the failure; returns the lockout it caused, if any.
    pub async fn failed(mut self) -> Result<Option<Refusal>, EngineError> {
        self.settled = true;
        let until = self.store.settle_failure(&self.realm, &self.subjects).await?;
        let wait_secs = (until - crate::store::now()).max(0);
        Ok((wait_secs > 0).then_some(Refusal { wait_secs, first: true }))
    }

    /// The credential was right: accepted unless a lockout began meanwhile, in which case the
    /// success is refused like any attempt while locked. Acceptance clears the user's count
    /// (not the address's: one person's success says nothing of the others behind it).
    pub async fn succeeded(self) -> Result<Result<(), Refusal>, EngineError> {
        self.settle_success(true).await
    }

    /// Settles an attempt that neither failed nor succeeded (e.g. a disabled account):
    /// nothing is counted or cleared.
    pub async fn release(self) -> Result<Result<(), Refusal>, EngineError> {
        self.settle_success(false).await
    }

    async fn settle_success(mut self, clear: bool) -> Result<Result<(), Refusal>, EngineError> {
        self.settled = true;
        let locked = self.store.settle_success(&self.realm, &self.subjects, &[clear]).await?;
        Ok(match locked {
            Some(AttemptGate::Locked { wait_secs, first }) => Err(Refusal { wait_secs, first }),
            _ => Ok(()),
        })
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, realm, subjects) = (
            self.store.clone(),
            self.realm.clone(),
            std::mem::take(&mut self.subjects),
        );
        runtime.spawn(async move {
            if let Err(e) = store.settle_failure(&realm, &subjects).await {
                tracing::warn!(error = %e, "an abandoned sign-in attempt could not be counted");
            }
        });
    }
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
