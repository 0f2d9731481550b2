//! Second factors and account details the flow engine reads and changes: OTP devices,
//! recovery codes, password history, roles, attributes, profile.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entity::{credential, required_action, user, user_attribute, user_role};
use super::{Result, Store, now};
use crate::crypto;

pub const OTP: &str = "otp";
/// One-time codes by email (a marker credential: the code itself lives in the sign-in).
pub const EMAIL_OTP: &str = "email-otp";
/// One-time codes by SMS to the user's verified number (a marker credential, as [`EMAIL_OTP`]).
pub const SMS_OTP: &str = "sms-otp";
/// Second factors whose codes are sent by a message.
pub const SENT_CODES: [&str; 2] = [EMAIL_OTP, SMS_OTP];
/// A security key (WebAuthn, Keycloak's credential type), a second factor after the password.
pub const SECURITY_KEY: &str = "webauthn";
pub const RECOVERY_CODE: &str = "recovery-code";
pub const PASSWORD: &str = "password";
pub const PASSWORD_HISTORY: &str = "password-history";

/// The user's recovery codes become `hashes`, inside `db`'s transaction.
async fn replace_recovery_codes_in(
    db: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    hashes: Vec<String>,
    t: i64,
) -> Result<()> {
    credential::Entity::delete_many()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(RECOVERY_CODE))
        .exec(db)
        .await?;
    for hash in hashes {
        new_credential(user_id, RECOVERY_CODE, hash, None, t).insert(db).await?;
    }
    Ok(())
}

pub(super) fn new_credential(
    user_id: &str,
    kind: &str,
    secret: String,
    label: Option<String>,
    t: i64,
) -> credential::ActiveModel {
    credential::ActiveModel {
        id: Set(crypto::new_id()),
        user_id: Set(user_id.to_string()),
        kind: Set(kind.to_string()),
        secret: Set(secret),
        label: Set(label),
        last_step: Set(None),
        created_at: Set(t),
        last_used_at: Set(None),
    }
}

/// What became of a profile update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileUpdate {
    Done,
    /// Another user of the realm has that email address (nothing changed).
    EmailTaken,
}

impl Store {
    pub async fn credentials(&self, user_id: &str, kind: &str) -> Result<Vec<credential::Model>> {
        Ok(credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(kind))
            .order_by_asc(credential::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    pub async fn has_credential(&self, user_id: &str, kind: &str) -> Result<bool> {
        Ok(credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(kind))
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Adds an OTP device, replaces the recovery codes (hashes) and completes the
    /// `configure-otp` required action, all at once. Returns false (and changes nothing) if a
    /// device with this id exists already: the same enrolment submitted twice adds one device.
    pub async fn configure_otp(
        &self,
        user_id: &str,
        credential_id: &str,
        sealed_secret: String,
        label: Option<String>,
        accepted_step: i64,
        recovery_hashes: Vec<String>,
    ) -> Result<bool> {
        let t = now();
        let txn = self.write_txn().await?;
        if credential::Entity::find_by_id(credential_id).one(&txn).await?.is_some() {
            return Ok(false);
        }
        let mut otp = new_credential(user_id, OTP, sealed_secret, label, t);
        otp.id = Set(credential_id.to_string());
        // The code that confirmed the device is spent.
        otp.last_step = Set(Some(accepted_step));
        otp.last_used_at = Set(Some(t));
        otp.insert(&txn).await?;
        replace_recovery_codes_in(&txn, user_id, recovery_hashes, t).await?;
        remove_action(&txn, user_id, "configure-otp").await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Stores a registered passkey or security key and completes the required action that
    /// asked for it, in one transaction; returns the credential's id.
    pub async fn add_webauthn_key(
        &self,
        user_id: &str,
        kind: &str,
        label: Option<String>,
        data: String,
        action: &str,
    ) -> Result<String> {
        let txn = self.write_txn().await?;
        let key = new_credential(user_id, kind, data, label, now()).insert(&txn).await?;
        remove_action(&txn, user_id, action).await?;
        txn.commit().await?;
        Ok(key.id)
    }

    /// Notes a passkey's or security key's use, with its new serialization when its counter or
    /// backup state changed, if it is still stored as `previous` (what the check was made
    /// against). False when another use changed it meanwhile: two signatures raced on one
    /// counter, which a single authenticator cannot do.
    pub async fn used_webauthn_key(
        &self,
        credential_id: &str,
        previous: &str,
        updated: Option<String>,
    ) -> Result<bool> {
        use sea_orm::sea_query::Expr;
        let mut update = credential::Entity::update_many().col_expr(credential::Column::LastUsedAt, Expr::value(now()));
        if let Some(data) = updated {
            update = update.col_expr(credential::Column::Secret, Expr::value(data));
        }
        let done = update
            .filter(credential::Column::Id.eq(credential_id))
            .filter(credential::Column::Secret.eq(previous))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected == 1)
    }

    /// Names one of the user's OTP devices; false when they have no such device.
    pub async fn set_otp_label(&self, user_id: &str, credential_id: &str, label: Option<String>) -> Result<bool> {
        let updated = credential::Entity::update_many()
            .col_expr(credential::Column::Label, label.into())
            .filter(credential::Column::Id.eq(credential_id))
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(OTP))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Replaces the user's recovery codes with new ones (hashes), in one transaction; false
    /// (nothing changed) when the user has no OTP device the codes could stand in for.
    pub async fn replace_recovery_codes(&self, user_id: &str, recovery_hashes: Vec<String>) -> Result<bool> {
        let t = now();
        let txn = self.write_txn().await?;
        let has_otp = credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(OTP))
            .one(&txn)
            .await?
            .is_some();
        if !has_otp {
            return Ok(false);
        }
        replace_recovery_codes_in(&txn, user_id, recovery_hashes, t).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Accepts an OTP time step for a device only if it is newer than the last one accepted:
    /// a code works once, even when two nodes see it at the same moment.
    pub async fn accept_otp_step(&self, credential_id: &str, step: i64) -> Result<bool> {
        let t = now();
        let updated = credential::Entity::update_many()
            .col_expr(credential::Column::LastStep, step.into())
            .col_expr(credential::Column::LastUsedAt, t.into())
            .filter(credential::Column::Id.eq(credential_id))
            .filter(
                sea_orm::Condition::any()
                    .add(credential::Column::LastStep.is_null())
                    .add(credential::Column::LastStep.lt(step)),
            )
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Spends a recovery code: deletes the matching one (compared in constant time) and
    /// returns how many are left, or `None` if none matched.
    pub async fn use_recovery_code(&self, user_id: &str, code: &str) -> Result<Option<usize>> {
        let codes = self.credentials(user_id, RECOVERY_CODE).await?;
        let Some(hit) = codes.iter().find(|c| crypto::verify_sha256(code, &c.secret)) else {
            return Ok(None);
        };
        let deleted = credential::Entity::delete_by_id(&hit.id)
            .exec(&self.db)
            .await?
            .rows_affected;
        if deleted != 1 {
            // Someone else spent it a moment ago.
            return Ok(None);
        }
        // The spent code is gone; the remaining ones carry when the set was last used.
        credential::Entity::update_many()
            .col_expr(credential::Column::LastUsedAt, now().into())
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(RECOVERY_CODE))
            .exec(&self.db)
            .await?;
        Ok(Some(codes.len() - 1))
    }

    /// Earlier password hashes, newest first.
    pub async fn password_history(&self, user_id: &str) -> Result<Vec<String>> {
        let mut old = self.credentials(user_id, PASSWORD_HISTORY).await?;
        old.sort_by_key(|c| std::cmp::Reverse(c.created_at));
        Ok(old.into_iter().map(|c| c.secret).collect())
    }

    /// Replaces the password, keeps the last `history` ones, and completes
    /// `update-password`, in one transaction.
    ///
    /// With `end_others`, the user's other sessions end and every grant outside `keep_session`
    /// is revoked (ASVS 3.3.3): whoever knew the old password is signed out everywhere.
    pub async fn change_password(
        &self,
        user_id: &str,
        hash: String,
        history: usize,
        keep_session: Option<&str>,
        end_others: bool,
    ) -> Result<()> {
        let txn = self.write_txn().await?;
        replace_password_in(&txn, user_id, hash, history).await?;
        drop_reset_links_in(&txn, user_id).await?;
        remove_action(&txn, user_id, "update-password").await?;
        if end_others {
            super::sessions::end_user_sessions_except_in(&txn, user_id, keep_session, now()).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// An administrator's password reset: replaces the password keeping the last `history`
    /// ones, and requires `update-password` if `temporary` (or completes it if not, as
    /// Keycloak does), in one transaction.
    /// Every session of the user ends and every grant is revoked.
    pub async fn reset_password(&self, user_id: &str, hash: String, history: usize, temporary: bool) -> Result<()> {
        let txn = self.write_txn().await?;
        replace_password_in(&txn, user_id, hash, history).await?;
        drop_reset_links_in(&txn, user_id).await?;
        super::sessions::end_user_sessions_in(&txn, user_id, now()).await?;
        if temporary {
            required_action::Entity::insert(required_action::ActiveModel {
                user_id: Set(user_id.to_string()),
                action: Set("update-password".into()),
                created_at: Set(now()),
            })
            .on_conflict_do_nothing_on([required_action::Column::UserId, required_action::Column::Action])
            .exec(&txn)
            .await?;
        } else {
            remove_action(&txn, user_id, "update-password").await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Replaces the password hash `old` by `new`, a hash of the same password in the current
    /// scheme (after a sign-in with an imported hash): no history entry, no session ends.
    /// Nothing changes if the password changed meanwhile.
    pub async fn rehash_password(&self, user_id: &str, old: &str, new: String) -> Result<bool> {
        let updated = credential::Entity::update_many()
            .col_expr(credential::Column::Secret, sea_orm::sea_query::Expr::value(new))
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(PASSWORD))
            .filter(credential::Column::Secret.eq(old))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Every credential of a user except remembered old passwords, oldest first.
    pub async fn user_credentials(&self, user_id: &str) -> Result<Vec<credential::Model>> {
        Ok(credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.ne(PASSWORD_HISTORY))
            .order_by_asc(credential::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    /// Deletes credentials of a user in one transaction: the one with `credential_id`, or
    /// every recovery code for [`RECOVERY_CODES_ID`]. Removing the last OTP device also
    /// removes the recovery codes, which only stand in for it; removing an app or a key forgets
    /// the user's trusted devices. Returns the kind removed.
    pub async fn delete_credential(&self, user_id: &str, credential_id: &str) -> Result<Option<String>> {
        let txn = self.write_txn().await?;
        let kind = if credential_id == RECOVERY_CODES_ID {
            RECOVERY_CODE.to_string()
        } else {
            let Some(c) = credential::Entity::find_by_id(credential_id)
                .filter(credential::Column::UserId.eq(user_id))
                .filter(credential::Column::Kind.ne(PASSWORD_HISTORY))
                .one(&txn)
                .await?
            else {
                return Ok(None);
            };
            credential::Entity::delete_by_id(&c.id).exec(&txn).await?;
            c.kind
        };
        let otp_left = credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(OTP))
            .one(&txn)
            .await?
            .is_some();
        if kind == RECOVERY_CODE || (kind == OTP && !otp_left) {
            let removed = credential::Entity::delete_many()
                .filter(credential::Column::UserId.eq(user_id))
                .filter(credential::Column::Kind.eq(RECOVERY_CODE))
                .exec(&txn)
                .await?
                .rows_affected;
            if kind == RECOVERY_CODE && removed == 0 {
                return Ok(None);
            }
        }
        // A second factor gone (perhaps lost): devices trusted to skip it are forgotten too.
        if [OTP, "webauthn", "webauthn-passwordless"].contains(&kind.as_str()) {
            super::entity::trusted_device::Entity::delete_many()
                .filter(super::entity::trusted_device::Column::UserId.eq(user_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(Some(kind))
    }
}

/// What removing a user's authenticator app did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpRemoval {
    /// Removed; `last` when it was their last one (their recovery codes went with it).
    Removed { last: bool },
    /// The user has no such app.
    NotFound,
    /// It is their last one and they must keep it.
    LastKept,
}

impl Store {
    /// Removes the user's authenticator app `credential_id`, with the last one their recovery
    /// codes; with `keep_one`, never the last unless the user has a credential of a kind in
    /// `also_second_factors` (those the realm's flows ask for besides apps). The user's row is
    /// locked first, so that two removals at once cannot each see the other app and leave none.
    /// One transaction.
    pub async fn remove_otp(
        &self,
        user_id: &str,
        credential_id: &str,
        keep_one: bool,
        also_second_factors: &[&str],
    ) -> Result<OtpRemoval> {
        let txn = self.write_txn().await?;
        user::Entity::find_by_id(user_id).lock_exclusive().one(&txn).await?;
        let devices = credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(OTP))
            .all(&txn)
            .await?;
        if !devices.iter().any(|d| d.id == credential_id) {
            return Ok(OtpRemoval::NotFound);
        }
        let last = devices.len() == 1;
        let another_factor = credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.is_in(also_second_factors.iter().copied()))
            .one(&txn)
            .await?
            .is_some();
        if last && keep_one && !another_factor {
            return Ok(OtpRemoval::LastKept);
        }
        credential::Entity::delete_by_id(credential_id).exec(&txn).await?;
        if last {
            credential::Entity::delete_many()
                .filter(credential::Column::UserId.eq(user_id))
                .filter(credential::Column::Kind.eq(RECOVERY_CODE))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(OtpRemoval::Removed { last })
    }
}

/// The id under which a user's recovery codes are listed and removed together.
pub const RECOVERY_CODES_ID: &str = "recovery-codes";

/// Turns the current password into history, keeps the newest `history` passwords (the new one
/// included) and stores the new one.
async fn replace_password_in(
    txn: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    hash: String,
    history: usize,
) -> Result<()> {
    let t = now();
    // Whoever knew the old password may have marked a device trusted: no longer.
    super::entity::trusted_device::Entity::delete_many()
        .filter(super::entity::trusted_device::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    let current = credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(PASSWORD))
        .all(txn)
        .await?;
    for c in current {
        let mut old: credential::ActiveModel = c.into();
        old.kind = Set(PASSWORD_HISTORY.into());
        old.created_at = Set(t);
        old.update(txn).await?;
    }
    let mut past = credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .filter(credential::Column::Kind.eq(PASSWORD_HISTORY))
        .order_by_desc(credential::Column::CreatedAt)
        .all(txn)
        .await?;
    // The current password counts as one of the `history` remembered ones.
    let keep = history.saturating_sub(1);
    for stale in past.drain(keep.min(past.len())..) {
        credential::Entity::delete_by_id(stale.id).exec(txn).await?;
    }
    new_credential(user_id, PASSWORD, hash, None, t).insert(txn).await?;
    Ok(())
}

impl Store {
    /// Updates the profile and completes `update-profile`.
    pub async fn update_profile(
        &self,
        user_id: &str,
        email: Option<String>,
        first_name: Option<String>,
        last_name: Option<String>,
        unique_email: bool,
    ) -> Result<ProfileUpdate> {
        let txn = self.write_txn().await?;
        if let Some(u) = user::Entity::find_by_id(user_id).one(&txn).await? {
            let changed_email = u.email != email;
            let key = super::users::email_key(email.as_deref(), unique_email);
            if let Some(key) = &key
                && !super::users::email_free(&txn, &u.realm, key, Some(user_id)).await?
            {
                return Ok(ProfileUpdate::EmailTaken);
            }
            let mut a: user::ActiveModel = u.into();
            if changed_email {
                a.email_verified = Set(false);
                // Codes would otherwise go to an address nobody has verified yet.
                credential::Entity::delete_many()
                    .filter(credential::Column::UserId.eq(user_id))
                    .filter(credential::Column::Kind.eq(EMAIL_OTP))
                    .exec(&txn)
                    .await?;
            }
            a.email_key = Set(key);
            a.email = Set(email);
            a.first_name = Set(first_name);
            a.last_name = Set(last_name);
            a.update(&txn).await?;
        }
        remove_action(&txn, user_id, "update-profile").await?;
        txn.commit().await?;
        Ok(ProfileUpdate::Done)
    }

    /// Marks a required action done.
    pub async fn complete_required_action(&self, user_id: &str, action: &str) -> Result<()> {
        remove_action(&self.db, user_id, action).await
    }

    pub async fn roles(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(user_role::Entity::find()
            .filter(user_role::Column::UserId.eq(user_id))
            .order_by_asc(user_role::Column::Role)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| r.role)
            .collect())
    }

    /// Whether any user of `realm` holds `role`.
    pub async fn any_user_with_role(&self, realm: &str, role: &str) -> Result<bool> {
        use sea_orm::sea_query::Query;
        let holders = Query::select()
            .column(user_role::Column::UserId)
            .from(user_role::Entity)
            .and_where(user_role::Column::Role.eq(role))
            .to_owned();
        Ok(super::entity::user::Entity::find()
            .filter(super::entity::user::Column::Realm.eq(realm))
            .filter(super::entity::user::Column::Id.in_subquery(holders))
            .one(&self.db)
            .await?
            .is_some())
    }

    /// The users of `realm` holding `role`, by username: `max` of them after skipping `first`.
    pub async fn users_with_role(&self, realm: &str, role: &str, first: u64, max: u64) -> Result<Vec<user::Model>> {
        use sea_orm::QuerySelect;
        use sea_orm::sea_query::Query;
        let holders = Query::select()
            .column(user_role::Column::UserId)
            .from(user_role::Entity)
            .and_where(user_role::Column::Role.eq(role))
            .to_owned();
        Ok(user::Entity::find()
            .filter(user::Column::Realm.eq(realm))
            .filter(user::Column::Id.in_subquery(holders))
            .order_by_asc(user::Column::Username)
            .offset(super::sql_count(first))
            .limit(super::sql_count(max))
            .all(&self.db)
            .await?)
    }

    pub async fn grant_role(&self, user_id: &str, role: &str) -> Result<()> {
        user_role::Entity::insert(user_role::ActiveModel {
            user_id: Set(user_id.into()),
            role: Set(role.into()),
        })
        .on_conflict_do_nothing_on([user_role::Column::UserId, user_role::Column::Role])
        .exec(&self.db)
        .await?;
        Ok(())
    }

    /// Grants roles in one transaction; returns those the user did not hold before.
    pub async fn grant_roles(&self, user_id: &str, roles: &[String]) -> Result<Vec<String>> {
        let txn = self.write_txn().await?;
        let mut added = Vec::new();
        for role in roles {
            let inserted = user_role::Entity::insert(user_role::ActiveModel {
                user_id: Set(user_id.into()),
                role: Set(role.clone()),
            })
            .on_conflict_do_nothing_on([user_role::Column::UserId, user_role::Column::Role])
            .exec(&txn)
            .await?;
            if matches!(inserted, sea_orm::TryInsertResult::Inserted(_)) && !added.contains(role) {
                added.push(role.clone());
            }
        }
        txn.commit().await?;
        Ok(added)
    }

    /// Takes roles away in one transaction; returns those the user held.
    pub async fn revoke_roles(&self, user_id: &str, roles: &[String]) -> Result<Vec<String>> {
        let txn = self.write_txn().await?;
        let mut removed = Vec::new();
        for role in roles {
            let gone = user_role::Entity::delete_by_id((user_id.to_string(), role.clone()))
                .exec(&txn)
                .await?
                .rows_affected;
            if gone == 1 {
                removed.push(role.clone());
            }
        }
        txn.commit().await?;
        Ok(removed)
    }

    /// Every attribute of a user, by name.
    pub async fn attributes(&self, user_id: &str) -> Result<Vec<(String, String)>> {
        Ok(user_attribute::Entity::find()
            .filter(user_attribute::Column::UserId.eq(user_id))
            .order_by_asc(user_attribute::Column::Name)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| (a.name, a.value))
            .collect())
    }

    pub async fn attribute(&self, user_id: &str, name: &str) -> Result<Option<String>> {
        Ok(
            user_attribute::Entity::find_by_id((user_id.to_string(), name.to_string()))
                .one(&self.db)
                .await?
                .map(|a| a.value),
        )
    }

    pub async fn set_attribute(&self, user_id: &str, name: &str, value: &str) -> Result<()> {
        let txn = self.write_txn().await?;
        user_attribute::Entity::delete_by_id((user_id.to_string(), name.to_string()))
            .exec(&txn)
            .await?;
        user_attribute::ActiveModel {
            user_id: Set(user_id.into()),
            name: Set(name.into()),
            value: Set(value.into()),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }
}

/// A new password voids the reset links still out (`flow::authenticators::reset_credentials`).
async fn drop_reset_links_in(db: &impl sea_orm::ConnectionTrait, user_id: &str) -> Result<()> {
    use super::entity::action_token;
    action_token::Entity::delete_many()
        .filter(action_token::Column::UserId.eq(user_id))
        .filter(action_token::Column::Kind.eq("reset-credentials"))
        .filter(action_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub(super) async fn remove_action(db: &impl sea_orm::ConnectionTrait, user_id: &str, action: &str) -> Result<()> {
    required_action::Entity::delete_by_id((user_id.to_string(), action.to_string()))
        .exec(db)
        .await?;
    Ok(())
}

impl Store {
    /// Removes the user's passkey or security key `credential_id` (of `kind`), unless it must
    /// stay: a passkey that is the last way to sign in (no password, no other passkey), or,
    /// with `keep_second_factor`, the last second factor after the password (apps, codes by
    /// email or text, security keys; a passkey is a sign-in of its own and does not count). The user's row is locked first, so that two
    /// removals at once cannot each see the other's credential. One transaction.
    pub async fn remove_webauthn_key(
        &self,
        user_id: &str,
        credential_id: &str,
        kind: &str,
        keep_second_factor: bool,
    ) -> Result<OtpRemoval> {
        let txn = self.write_txn().await?;
        user::Entity::find_by_id(user_id).lock_exclusive().one(&txn).await?;
        let all = credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .all(&txn)
            .await?;
        if !all.iter().any(|c| c.id == credential_id && c.kind == kind) {
            return Ok(OtpRemoval::NotFound);
        }
        let others = |kinds: &[&str]| {
            all.iter()
                .any(|c| c.id != credential_id && kinds.contains(&c.kind.as_str()))
        };
        let passkey = "webauthn-passwordless";
        let last_sign_in = kind == passkey && !others(&[PASSWORD, passkey]);
        // A passkey is a sign-in of its own, not a second factor after the password.
        let last_factor = kind != passkey && keep_second_factor && !others(&[OTP, EMAIL_OTP, SMS_OTP, "webauthn"]);
        if last_sign_in || last_factor {
            return Ok(OtpRemoval::LastKept);
        }
        credential::Entity::delete_by_id(credential_id).exec(&txn).await?;
        txn.commit().await?;
        Ok(OtpRemoval::Removed { last: false })
    }

    /// Every user's passkeys and security keys whose stored form mentions `text` (a credential
    /// id: WebAuthn lets no two accounts register the same credential).
    pub async fn webauthn_keys_mentioning(&self, text: &str) -> Result<Vec<credential::Model>> {
        Ok(credential::Entity::find()
            .filter(credential::Column::Kind.is_in(["webauthn-passwordless", "webauthn"]))
            .filter(credential::Column::Secret.contains(text))
            .all(&self.db)
            .await?)
    }

    /// Names one of the user's passkeys or security keys; false when they have no such key.
    pub async fn set_webauthn_label(&self, user_id: &str, credential_id: &str, label: Option<String>) -> Result<bool> {
        let updated = credential::Entity::update_many()
            .col_expr(credential::Column::Label, sea_orm::sea_query::Expr::value(label))
            .filter(credential::Column::Id.eq(credential_id))
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.is_in(["webauthn-passwordless", "webauthn"]))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }
}

impl Store {
    /// Removes the user's password when they have a passkey to sign in with instead (a
    /// passkey-only account); false otherwise. The user's row is locked first, so that a
    /// passkey removed at the same time cannot leave the account with no way in. One transaction.
    pub async fn remove_password(&self, user_id: &str) -> Result<bool> {
        let txn = self.write_txn().await?;
        user::Entity::find_by_id(user_id).lock_exclusive().one(&txn).await?;
        let has_passkey = credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq("webauthn-passwordless"))
            .one(&txn)
            .await?
            .is_some();
        if !has_passkey {
            return Ok(false);
        }
        let removed = credential::Entity::delete_many()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq(PASSWORD))
            .exec(&txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        Ok(removed > 0)
    }
}
