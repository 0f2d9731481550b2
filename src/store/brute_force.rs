//! Failed sign-in counters, kept in the database so a lockout holds on every node.

use sea_orm::{ActiveModelTrait, EntityTrait, Set};

use super::entity::login_failure;
use super::{Result, Store, now};

/// The brute-force rule applied when a failure is recorded.
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
}

impl Store {
    /// Until when `subject` is locked out (0 if it is not).
    pub async fn locked_until(&self, realm: &str, subject: &str) -> Result<i64> {
        Ok(
            login_failure::Entity::find_by_id((realm.to_string(), subject.to_string()))
                .one(&self.db)
                .await?
                .map(|f| f.locked_until)
                .unwrap_or(0),
        )
    }

    /// Counts a failure and returns until when the subject is now locked (0: not locked).
    /// From the `max_failures`-th failure on, each one locks for a growing wait: the
    /// increment doubled per extra failure, capped at `max_wait`.
    pub async fn record_login_failure(&self, realm: &str, subject: &str, rule: LockoutRule) -> Result<i64> {
        let t = now();
        let txn = self.write_txn().await?;
        let key = (realm.to_string(), subject.to_string());
        let existing = login_failure::Entity::find_by_id(key).one(&txn).await?;
        let failures = match &existing {
            Some(f) if t - f.last_failure_at < rule.reset_after_secs => f.failures.saturating_add(1),
            _ => 1,
        };
        let wait = rule.lockout_secs(failures);
        let locked_until = if wait > 0 { t + wait } else { 0 };
        let row = login_failure::ActiveModel {
            realm: Set(realm.to_string()),
            subject: Set(subject.to_string()),
            failures: Set(failures),
            last_failure_at: Set(t),
            locked_until: Set(locked_until),
        };
        if existing.is_some() {
            row.update(&txn).await?;
        } else {
            row.insert(&txn).await?;
        }
        txn.commit().await?;
        Ok(locked_until)
    }

    pub async fn clear_login_failures(&self, realm: &str, subject: &str) -> Result<()> {
        login_failure::Entity::delete_by_id((realm.to_string(), subject.to_string()))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::LockoutRule;

    #[test]
    fn lockouts_start_at_max_failures_then_double_up_to_the_cap() {
        let rule = LockoutRule {
            max_failures: 3,
            wait_increment_secs: 60,
            max_wait_secs: 15 * 60,
            reset_after_secs: 12 * 3600,
        };
        let waits: Vec<i64> = (1..=9).map(|n| rule.lockout_secs(n)).collect();
        assert_eq!(waits, [0, 0, 60, 120, 240, 480, 900, 900, 900]);
        // Absurd counts neither overflow nor exceed the cap.
        assert_eq!(rule.lockout_secs(i32::MAX), 900);
    }
}
