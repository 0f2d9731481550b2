//! Failed sign-in counters, kept in the database so a lockout holds on every node.
//!
//! An attempt is *reserved* before the expensive check (argon2, a code) and *settled* after
//! it, each in one write transaction. A reservation counts as in flight, and no more attempts
//! are let in flight than failures are left before the lockout: parallel guesses can never get
//! more than `max_failures` evaluated per lockout window, and a success is accepted only if no
//! lockout started while it was being checked.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QuerySelect, Set};

use super::entity::login_failure;
use super::{Result, Store, StoreError, now};

/// A reservation older than this was lost with its request (which times out well before) and
/// no longer holds a place.
const IN_FLIGHT_TTL_SECS: i64 = 120;

/// Failures older than this are forgotten (every realm's `LockoutRule::reset_after_secs`).
pub const FAILURES_REMEMBERED_SECS: i64 = 12 * 3600;

/// The brute-force rule applied to one subject.
#[derive(Debug, Clone, Copy)]
pub struct LockoutRule {
    pub max_failures: i32,
    pub wait_increment_secs: i64,
    pub max_wait_secs: i64,
    /// Failures older than this are forgotten.
    pub reset_after_secs: i64,
}

impl LockoutRule {
    /// Seconds of lockout after the `failures`-th failure in a row: none before
    /// `max_failures`, then the increment, doubled per further failure, capped at `max_wait`.
    pub fn lockout_secs(&self, failures: i32) -> i64 {
        if failures < self.max_failures {
            return 0;
        }
        let extra = (failures - self.max_failures).clamp(0, 20) as u32;
        self.wait_increment_secs
            .saturating_mul(1i64 << extra)
            .min(self.max_wait_secs)
    }

    /// How many attempts may be judged at once after `failures` failures: those left before
    /// the lockout, and one at a time once lockouts have begun (each failure locks again).
    pub fn budget(&self, failures: i32) -> i32 {
        (self.max_failures - failures).max(1)
    }
}

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptGate {
    /// Go ahead; settle with `settle_failure` or `settle_success` afterwards.
    Reserved,
    /// Refused for `wait_secs`; `first` is true for the first refusal of this lockout window
    /// (the one worth logging).
    Locked { wait_secs: i64, first: bool },
}

/// A subject's row as of `t`, with forgotten failures and lost reservations dropped.
fn current(mut row: login_failure::Model, rule: &LockoutRule, t: i64) -> login_failure::Model {
    if t - row.last_failure_at >= rule.reset_after_secs {
        row.failures = 0;
    }
    if t - row.in_flight_since >= IN_FLIGHT_TTL_SECS {
        row.in_flight = 0;
    }
    row
}

/// The subjects' rows, created if missing and locked for the rest of the transaction (on
/// PostgreSQL `FOR UPDATE`; a SQLite write transaction holds the whole database), so that
/// concurrent attempts read and write them one after another.
async fn lock_rows(
    txn: &impl ConnectionTrait,
    realm: &str,
    subjects: &[(String, LockoutRule)],
    t: i64,
) -> Result<Vec<login_failure::Model>> {
    let mut rows = Vec::with_capacity(subjects.len());
    for (subject, rule) in subjects {
        // Twice at most: the purge may delete an idle row between the insert and the select.
        let mut found = None;
        for _ in 0..2 {
            let fresh = login_failure::ActiveModel {
                realm: Set(realm.to_string()),
                subject: Set(subject.clone()),
                failures: Set(0),
                // Never failed: purgeable as soon as nothing is in flight.
                last_failure_at: Set(0),
                locked_until: Set(0),
                in_flight: Set(0),
                in_flight_since: Set(0),
                refusal_logged_until: Set(0),
            };
            login_failure::Entity::insert(fresh)
                .on_conflict_do_nothing_on([login_failure::Column::Realm, login_failure::Column::Subject])
                .exec_without_returning(txn)
                .await?;
            found = login_failure::Entity::find_by_id((realm.to_string(), subject.clone()))
                .lock_exclusive()
                .one(txn)
                .await?;
            if found.is_some() {
                break;
            }
        }
        let row = found.ok_or_else(|| StoreError::NotFound(format!("lockout counter '{subject}'")))?;
        rows.push(current(row, rule, t));
    }
    Ok(rows)
}

async fn save(txn: &impl ConnectionTrait, row: login_failure::Model) -> Result<()> {
    login_failure::ActiveModel {
        realm: Set(row.realm),
        subject: Set(row.subject),
        failures: Set(row.failures),
        last_failure_at: Set(row.last_failure_at),
        locked_until: Set(row.locked_until),
        in_flight: Set(row.in_flight),
        in_flight_since: Set(row.in_flight_since),
        refusal_logged_until: Set(row.refusal_logged_until),
    }
    .update(txn)
    .await?;
    Ok(())
}

/// Deletes counters with nothing left to hold: no lockout, nothing in flight, and no failure
/// for longer than any realm remembers one (12 hours; rows that never failed at once).
pub(super) async fn purge_idle_counters(db: &impl ConnectionTrait, t: i64) -> Result<u64> {
    use sea_orm::{ColumnTrait, Condition, QueryFilter};
    Ok(login_failure::Entity::delete_many()
        .filter(login_failure::Column::LockedUntil.lt(t))
        .filter(
            Condition::any()
                .add(login_failure::Column::InFlight.eq(0))
                .add(login_failure::Column::InFlightSince.lt(t - IN_FLIGHT_TTL_SECS)),
        )
        .filter(login_failure::Column::LastFailureAt.lt(t - FAILURES_REMEMBERED_SECS))
        .exec(db)
        .await?
        .rows_affected)
}

impl Store {
    /// The wait of a lockout of one of `subjects` whose refusal is already logged, if any.
    async fn logged_lockout(&self, realm: &str, subjects: &[(String, LockoutRule)], t: i64) -> Result<Option<i64>> {
        use sea_orm::{ColumnTrait, QueryFilter};
        let names: Vec<&str> = subjects.iter().map(|(s, _)| s.as_str()).collect();
        let rows = login_failure::Entity::find()
            .filter(login_failure::Column::Realm.eq(realm))
            .filter(login_failure::Column::Subject.is_in(names))
            .all(&self.db)
            .await?;
        Ok(rows
            .iter()
            .filter(|r| r.locked_until > t && r.refusal_logged_until == r.locked_until)
            .map(|r| r.locked_until - t)
            .max())
    }

    /// Reserves one attempt for every subject (a user and an address), or none: refused while
    /// any of them is locked or has as many attempts in flight as it has failures left.
    pub async fn reserve_attempt(&self, realm: &str, subjects: &[(String, LockoutRule)]) -> Result<AttemptGate> {
        let t = now();
        // A flood at a lockout already logged is answered from a plain read: it writes
        // nothing and never waits for the writer.
        if let Some(wait_secs) = self.logged_lockout(realm, subjects, t).await? {
            return Ok(AttemptGate::Locked {
                wait_secs,
                first: false,
            });
        }
        let txn = self.write_txn().await?;
        let rows = lock_rows(&txn, realm, subjects, t).await?;
        let mut refusal: Option<(i64, bool)> = None;
        for (row, (_, rule)) in rows.iter().zip(subjects) {
            let wait = if row.locked_until > t {
                row.locked_until - t
            } else if row.in_flight >= rule.budget(row.failures) {
                // Full: the attempts in flight may lock it; wait for them.
                rule.wait_increment_secs.max(1)
            } else {
                continue;
            };
            let first = row.locked_until > t && row.refusal_logged_until != row.locked_until;
            let (w, f) = refusal.unwrap_or((0, false));
            refusal = Some((w.max(wait), f || first));
        }
        let reserved = refusal.is_none();
        for mut row in rows {
            if reserved {
                row.in_flight += 1;
                row.in_flight_since = t;
            } else if row.locked_until > t {
                row.refusal_logged_until = row.locked_until;
            }
            save(&txn, row).await?;
        }
        txn.commit().await?;
        Ok(match refusal {
            None => AttemptGate::Reserved,
            Some((wait_secs, first)) => AttemptGate::Locked { wait_secs, first },
        })
    }

    /// Settles a reserved attempt that failed: counts the failure for every subject and returns
    /// until when the attempt locked them (0: not locked). From the `max_failures`-th failure
    /// on, each one locks for a growing wait: the increment doubled per extra failure, capped
    /// at `max_wait`.
    pub async fn settle_failure(&self, realm: &str, subjects: &[(String, LockoutRule)]) -> Result<i64> {
        let t = now();
        let txn = self.write_txn().await?;
        let mut until = 0;
        for (mut row, (_, rule)) in lock_rows(&txn, realm, subjects, t).await?.into_iter().zip(subjects) {
            row.in_flight = (row.in_flight - 1).max(0);
            row.failures = row.failures.saturating_add(1);
            row.last_failure_at = t;
            let wait = rule.lockout_secs(row.failures);
            if wait > 0 {
                row.locked_until = row.locked_until.max(t + wait);
            }
            until = until.max(row.locked_until);
            save(&txn, row).await?;
        }
        txn.commit().await?;
        Ok(if until > t { until } else { 0 })
    }

    /// Settles a reserved attempt whose credential was right. Refused (`Some(Locked)`, nothing
    /// cleared) when a lockout began while it was checked; otherwise the subjects marked in
    /// `clear` forget their failures.
    pub async fn settle_success(
        &self,
        realm: &str,
        subjects: &[(String, LockoutRule)],
        clear: &[bool],
    ) -> Result<Option<AttemptGate>> {
        let t = now();
        let txn = self.write_txn().await?;
        let rows = lock_rows(&txn, realm, subjects, t).await?;
        let locked = rows.iter().map(|r| r.locked_until - t).max().unwrap_or(0);
        let mut first = false;
        let clears = clear.iter().copied().chain(std::iter::repeat(false));
        for (mut row, clear) in rows.into_iter().zip(clears) {
            row.in_flight = (row.in_flight - 1).max(0);
            if locked <= 0 && clear {
                row.failures = 0;
                row.locked_until = 0;
            }
            if row.locked_until > t && row.refusal_logged_until != row.locked_until {
                row.refusal_logged_until = row.locked_until;
                first = true;
            }
            save(&txn, row).await?;
        }
        txn.commit().await?;
        Ok((locked > 0).then_some(AttemptGate::Locked {
            wait_secs: locked,
            first,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::LockoutRule;

    fn rule() -> LockoutRule {
        LockoutRule {
            max_failures: 3,
            wait_increment_secs: 60,
            max_wait_secs: 15 * 60,
            reset_after_secs: 12 * 3600,
        }
    }

    #[test]
    fn lockouts_start_at_max_failures_then_double_up_to_the_cap() {
        let rule = rule();
        let waits: Vec<i64> = (1..=9).map(|n| rule.lockout_secs(n)).collect();
        assert_eq!(waits, [0, 0, 60, 120, 240, 480, 900, 900, 900]);
        // Absurd counts neither overflow nor exceed the cap.
        assert_eq!(rule.lockout_secs(i32::MAX), 900);
    }

    #[test]
    fn attempts_in_flight_never_outnumber_the_failures_left() {
        let rule = rule();
        assert_eq!([0, 1, 2, 3, 7].map(|f| rule.budget(f)), [3, 2, 1, 1, 1]);
    }
}
