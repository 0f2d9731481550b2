//! Each user's phone number for codes by SMS: a number counts only once the code sent to it
//! has been entered; until then it is pending and the verified one (if any) stays in use.
//! Wrong codes are counted, and the code dies after a few, so it cannot be guessed.

use sea_orm::{ActiveModelTrait, EntityTrait, QuerySelect, Set};

use super::credentials::{OtpRemoval, SMS_OTP};
use super::entity::{phone_number, user};
use super::{Result, Store, now};

/// Wrong codes one pending number may see before its code is void.
pub const MAX_CODE_ATTEMPTS: i32 = 5;

/// What entering a code for the pending number did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneCheck {
    /// The pending number is now the user's verified number.
    Verified(String),
    /// Not the code; `left` tries remain.
    Wrong { left: i32 },
    /// No code is waiting (never sent, used, expired, or too many wrong tries).
    NoCode,
}

impl Store {
    /// The user's number row, if they ever gave one.
    pub async fn phone_of(&self, user_id: &str) -> Result<Option<phone_number::Model>> {
        Ok(phone_number::Entity::find_by_id(user_id).one(&self.db).await?)
    }

    /// Records `number` as pending with the keyed hash of the code sent to it (a new code
    /// replaces an older one and its count of wrong tries).
    pub async fn set_pending_phone(
        &self,
        realm: &str,
        user_id: &str,
        number: &str,
        code_mac: String,
        expires_at: i64,
    ) -> Result<()> {
        let txn = self.write_txn().await?;
        // Locked, so two first requests of one user do not both insert.
        user::Entity::find_by_id(user_id).lock_exclusive().one(&txn).await?;
        let t = now();
        match phone_number::Entity::find_by_id(user_id).one(&txn).await? {
            Some(row) => {
                let mut row: phone_number::ActiveModel = row.into();
                row.pending_number = Set(Some(number.to_string()));
                row.code_mac = Set(Some(code_mac));
                row.code_expires_at = Set(Some(expires_at));
                row.code_attempts = Set(0);
                row.updated_at = Set(t);
                row.update(&txn).await?;
            }
            None => {
                phone_number::ActiveModel {
                    user_id: Set(user_id.to_string()),
                    realm: Set(realm.to_string()),
                    number: Set(None),
                    verified_at: Set(None),
                    pending_number: Set(Some(number.to_string())),
                    code_mac: Set(Some(code_mac)),
                    code_expires_at: Set(Some(expires_at)),
                    code_attempts: Set(0),
                    updated_at: Set(t),
                }
                .insert(&txn)
                .await?;
            }
        }
        txn.commit().await?;
        Ok(())
    }

    /// Checks `presented` (the keyed hash of what the user typed) against the pending code;
    /// `same` compares in constant time. A match makes the pending number the verified one.
    pub async fn check_phone_code(
        &self,
        user_id: &str,
        presented: &str,
        same: impl Fn(&str, &str) -> bool,
    ) -> Result<PhoneCheck> {
        let txn = self.write_txn().await?;
        // Locked: concurrent guesses are counted one after another, never from the same count.
        let Some(row) = phone_number::Entity::find_by_id(user_id)
            .lock_exclusive()
            .one(&txn)
            .await?
        else {
            return Ok(PhoneCheck::NoCode);
        };
        let t = now();
        let live = row.code_expires_at.is_some_and(|e| e > t) && row.code_attempts < MAX_CODE_ATTEMPTS;
        let (Some(mac), Some(pending), true) = (row.code_mac.clone(), row.pending_number.clone(), live) else {
            return Ok(PhoneCheck::NoCode);
        };
        let mut update: phone_number::ActiveModel = row.clone().into();
        update.updated_at = Set(t);
        let outcome = if same(&mac, presented) {
            update.number = Set(Some(pending.clone()));
            update.verified_at = Set(Some(t));
            update.pending_number = Set(None);
            update.code_mac = Set(None);
            update.code_expires_at = Set(None);
            update.code_attempts = Set(0);
            PhoneCheck::Verified(pending)
        } else {
            update.code_attempts = Set(row.code_attempts + 1);
            PhoneCheck::Wrong {
                left: MAX_CODE_ATTEMPTS - row.code_attempts - 1,
            }
        };
        update.update(&txn).await?;
        txn.commit().await?;
        Ok(outcome)
    }

    /// Forgets the user's numbers, and codes by SMS with them — unless those codes are their
    /// only second factor and `keep_one`.
    pub async fn remove_phone(&self, user_id: &str, keep_one: bool) -> Result<OtpRemoval> {
        let txn = self.write_txn().await?;
        user::Entity::find_by_id(user_id).lock_exclusive().one(&txn).await?;
        let removal = super::email::disable_sent_codes_in(&txn, user_id, SMS_OTP, keep_one).await?;
        if removal == OtpRemoval::LastKept {
            return Ok(removal);
        }
        let deleted = phone_number::Entity::delete_by_id(user_id).exec(&txn).await?;
        txn.commit().await?;
        Ok(if deleted.rows_affected == 0 {
            OtpRemoval::NotFound
        } else {
            OtpRemoval::Removed {
                last: matches!(removal, OtpRemoval::Removed { last: true }),
            }
        })
    }
}
