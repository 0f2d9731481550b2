//! Applied realm snapshots: what configuration is live, with its content hash.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entity::realm_snapshot;
use super::{Result, Store, now};

impl Store {
    /// The latest applied snapshot of a realm.
    pub async fn latest_realm_snapshot(&self, realm: &str) -> Result<Option<realm_snapshot::Model>> {
        Ok(realm_snapshot::Entity::find()
            .filter(realm_snapshot::Column::Realm.eq(realm))
            .order_by_desc(realm_snapshot::Column::Id)
            .one(&self.db)
            .await?)
    }

    /// Records a snapshot unless the latest one already has this content hash.
    /// Returns whether anything was written.
    pub async fn record_realm_snapshot(&self, realm: &str, content_hash: &str, content: String) -> Result<bool> {
        if let Some(latest) = self.latest_realm_snapshot(realm).await?
            && latest.content_hash == content_hash
        {
            return Ok(false);
        }
        realm_snapshot::ActiveModel {
            realm: Set(realm.to_string()),
            content_hash: Set(content_hash.to_string()),
            content: Set(content),
            applied_at: Set(now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(true)
    }
}
