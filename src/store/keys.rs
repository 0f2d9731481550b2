//! Signing keys (private halves sealed by `crypto` before they get here).

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entity::signing_key;
use super::{Result, Store, now};

impl Store {
    /// Every key of a realm, newest first.
    pub async fn signing_keys(&self, realm: &str) -> Result<Vec<signing_key::Model>> {
        Ok(signing_key::Entity::find()
            .filter(signing_key::Column::Realm.eq(realm))
            .order_by_desc(signing_key::Column::CreatedAt)
            .order_by_desc(signing_key::Column::Kid)
            .all(&self.db)
            .await?)
    }

    /// Adds a key as the realm's active one and retires the keys it replaces, atomically.
    pub async fn add_signing_key(&self, key: signing_key::Model) -> Result<()> {
        let t = now();
        let txn = self.write_txn().await?;
        signing_key::Entity::update_many()
            .col_expr(signing_key::Column::RetiredAt, t.into())
            .filter(signing_key::Column::Realm.eq(&key.realm))
            .filter(signing_key::Column::RetiredAt.is_null())
            .exec(&txn)
            .await?;
        signing_key::ActiveModel::from(key).insert(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Deletes retired keys that no unexpired token can still reference.
    pub async fn delete_keys_retired_before(&self, realm: &str, before: i64) -> Result<u64> {
        Ok(signing_key::Entity::delete_many()
            .filter(signing_key::Column::Realm.eq(realm))
            .filter(signing_key::Column::RetiredAt.lt(before))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}
