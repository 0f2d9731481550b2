//! Codes sent by message as a factor: by email or by SMS, on or off (a marker credential; the
//! codes themselves live in the sign-in), and the email address verified by its link.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::credentials::{EMAIL_OTP, OTP, OtpRemoval, SMS_OTP, remove_action};
use super::entity::{credential, user};
use super::{Result, Store, now};

impl Store {
    /// Turns one-time codes of `kind` ([`EMAIL_OTP`] or [`SMS_OTP`]) on (idempotent; true if
    /// it was off).
    pub async fn enable_sent_codes(&self, user_id: &str, kind: &'static str) -> Result<bool> {
        let txn = self.write_txn().await?;
        user::Entity::find_by_id(user_id).lock_exclusive().one(&txn).await?;
        let on = credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(kind))
            .one(&txn)
            .await?
            .is_some();
        if !on {
            credential::ActiveModel {
                id: Set(crate::crypto::new_id()),
                user_id: Set(user_id.to_string()),
                kind: Set(kind.into()),
                secret: Set(String::new()),
                label: Set(None),
                created_at: Set(now()),
                last_used_at: Set(None),
                last_step: Set(None),
            }
            .insert(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok(!on)
    }

    /// Turns one-time codes of `kind` off, unless `keep_one` and they are the user's only
    /// second factor.
    pub async fn disable_sent_codes(&self, user_id: &str, kind: &'static str, keep_one: bool) -> Result<OtpRemoval> {
        let txn = self.write_txn().await?;
        user::Entity::find_by_id(user_id).lock_exclusive().one(&txn).await?;
        let removal = disable_sent_codes_in(&txn, user_id, kind, keep_one).await?;
        if matches!(removal, OtpRemoval::Removed { .. }) {
            txn.commit().await?;
        }
        Ok(removal)
    }
}

impl Store {
    /// Marks the user's address verified, if it is still `email`, and completes
    /// `verify-email`, in one transaction; false if the address changed meanwhile.
    pub async fn mark_email_verified(&self, user_id: &str, email: &str) -> Result<bool> {
        let txn = self.write_txn().await?;
        let updated = user::Entity::update_many()
            .col_expr(user::Column::EmailVerified, sea_orm::sea_query::Expr::value(true))
            .filter(user::Column::Id.eq(user_id))
            .filter(user::Column::Email.eq(email))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return Ok(false);
        }
        remove_action(&txn, user_id, "verify-email").await?;
        txn.commit().await?;
        Ok(true)
    }
}

/// [`Store::disable_sent_codes`] inside `txn` (the user's row already locked).
pub(super) async fn disable_sent_codes_in(
    txn: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    kind: &'static str,
    keep_one: bool,
) -> Result<OtpRemoval> {
    let factors = credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.is_in([OTP, EMAIL_OTP, SMS_OTP]))
        .all(txn)
        .await?;
    if !factors.iter().any(|c| c.kind == kind) {
        return Ok(OtpRemoval::NotFound);
    }
    let last = factors.len() == 1;
    if last && keep_one {
        return Ok(OtpRemoval::LastKept);
    }
    credential::Entity::delete_many()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(kind))
        .exec(txn)
        .await?;
    Ok(OtpRemoval::Removed { last })
}
