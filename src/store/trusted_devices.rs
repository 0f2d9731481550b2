//! Trusted devices ("Remember this device"): recorded when a second factor is entered with the
//! box ticked, matched against the browser's cookie, listed and revoked by the user, and all
//! revoked when the password changes or the account is signed out everywhere.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entity::trusted_device;
use super::{Result, Store, now};

impl Store {
    /// Records a trusted device for `days`; returns its id.
    pub async fn add_trusted_device(
        &self,
        realm: &str,
        user_id: &str,
        name: &str,
        secret_hash: String,
        days: u32,
    ) -> Result<String> {
        let t = now();
        let id = crate::crypto::new_id();
        trusted_device::ActiveModel {
            id: Set(id.clone()),
            realm: Set(realm.to_string()),
            user_id: Set(user_id.to_string()),
            secret_hash: Set(secret_hash),
            name: Set(name.chars().take(200).collect()),
            created_at: Set(t),
            last_used_at: Set(t),
            expires_at: Set(t + i64::from(days) * 86_400),
        }
        .insert(&self.db)
        .await?;
        Ok(id)
    }

    /// The device `id` of `user_id`, if it has not expired.
    pub async fn live_trusted_device(&self, id: &str, user_id: &str) -> Result<Option<trusted_device::Model>> {
        Ok(trusted_device::Entity::find_by_id(id)
            .filter(trusted_device::Column::UserId.eq(user_id))
            .filter(trusted_device::Column::ExpiresAt.gt(now()))
            .one(&self.db)
            .await?)
    }

    /// Notes that the device was just used.
    pub async fn touch_trusted_device(&self, id: &str) -> Result<()> {
        trusted_device::Entity::update_many()
            .col_expr(
                trusted_device::Column::LastUsedAt,
                sea_orm::sea_query::Expr::value(now()),
            )
            .filter(trusted_device::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The user's devices that have not expired, most recently used first.
    pub async fn trusted_devices_of(&self, user_id: &str) -> Result<Vec<trusted_device::Model>> {
        Ok(trusted_device::Entity::find()
            .filter(trusted_device::Column::UserId.eq(user_id))
            .filter(trusted_device::Column::ExpiresAt.gt(now()))
            .order_by_desc(trusted_device::Column::LastUsedAt)
            .all(&self.db)
            .await?)
    }

    /// Revokes one of the user's devices; false if there was none.
    pub async fn revoke_trusted_device(&self, user_id: &str, id: &str) -> Result<bool> {
        let deleted = trusted_device::Entity::delete_many()
            .filter(trusted_device::Column::UserId.eq(user_id))
            .filter(trusted_device::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Revokes all of the user's devices; how many there were.
    pub async fn revoke_trusted_devices(&self, user_id: &str) -> Result<u64> {
        let deleted = trusted_device::Entity::delete_many()
            .filter(trusted_device::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected)
    }
}
