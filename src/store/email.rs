//! The user's email address as a factor: codes by email on or off (a marker credential; the
//! codes themselves live in the sign-in), and the address verified by its link.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::credentials::{EMAIL_OTP, OTP, OtpRemoval, remove_action};
use super::entity::{credential, user};
use super::{Result, Store, now};

impl Store {
    /// Turns one-time codes by email on (idempotent; true if it was off).
    pub async fn enable_email_otp(&self, user_id: &str) -> Result<bool> {
        let txn = self.write_txn().await?;
        user::Entity::find_by_id(user_id).lock_exclusive().one(&txn).await?;
        let on = credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(EMAIL_OTP))
            .one(&txn)
            .await?
            .is_some();
        if !on {
            credential::ActiveModel {
                id: Set(crate::crypto::new_id()),
                user_id: Set(user_id.to_string()),
                kind: Set(EMAIL_OTP.into()),
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

    /// Turns one-time codes by email off, unless `keep_one` and they are the user's only
    /// second factor.
    pub async fn disable_email_otp(&self, user_id: &str, keep_one: bool) -> Result<OtpRemoval> {
        let txn = self.write_txn().await?;
        user::Entity::find_by_id(user_id).lock_exclusive().one(&txn).await?;
        let factors = credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.is_in([OTP, EMAIL_OTP]))
            .all(&txn)
            .await?;
        if !factors.iter().any(|c| c.kind == EMAIL_OTP) {
            return Ok(OtpRemoval::NotFound);
        }
        let last = factors.len() == 1;
        if last && keep_one {
            return Ok(OtpRemoval::LastKept);
        }
        credential::Entity::delete_many()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(EMAIL_OTP))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(OtpRemoval::Removed { last })
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
