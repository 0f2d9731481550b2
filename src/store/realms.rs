//! Applied realm snapshots: what configuration is live, with its content hash. The latest
//! snapshot of each realm is the live one; older ones stay as history.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entity::realm_snapshot;
use super::{Result, Store, now};

/// A realm version to make live.
#[derive(Debug, Clone)]
pub struct NewSnapshot {
    pub realm: String,
    pub content_hash: String,
    /// The canonical realm file (see `realm::export`).
    pub content: String,
}

impl Store {
    /// The latest applied snapshot of a realm.
    pub async fn latest_realm_snapshot(&self, realm: &str) -> Result<Option<realm_snapshot::Model>> {
        latest(&self.db, realm).await
    }

    /// The live (latest) snapshot of every realm, by realm name.
    pub async fn live_realm_snapshots(&self) -> Result<Vec<realm_snapshot::Model>> {
        let ids: Vec<i64> = self.live_snapshot_ids().await?.into_iter().map(|(_, id)| id).collect();
        self.realm_snapshots(&ids).await
    }

    /// Each realm's live snapshot id, by realm name: one cheap query, which every node polls
    /// to see which realms changed.
    pub async fn live_snapshot_ids(&self) -> Result<Vec<(String, i64)>> {
        Ok(realm_snapshot::Entity::find()
            .select_only()
            .column(realm_snapshot::Column::Realm)
            .column_as(Expr::col(realm_snapshot::Column::Id).max(), "id")
            .group_by(realm_snapshot::Column::Realm)
            .order_by_asc(realm_snapshot::Column::Realm)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// The snapshots with these ids, by realm name.
    pub async fn realm_snapshots(&self, ids: &[i64]) -> Result<Vec<realm_snapshot::Model>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        Ok(realm_snapshot::Entity::find()
            .filter(realm_snapshot::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(realm_snapshot::Column::Realm)
            .all(&self.db)
            .await?)
    }

    /// Makes every given snapshot live in **one** transaction: all or nothing. A realm whose
    /// live snapshot already has this hash and content is left alone, so applying the same
    /// files twice writes nothing. Returns the realms that changed.
    pub async fn apply_realm_snapshots(&self, snapshots: &[NewSnapshot]) -> Result<Vec<String>> {
        let txn = self.write_txn().await?;
        let mut changed = Vec::new();
        let t = now();
        for s in snapshots {
            if let Some(live) = latest(&txn, &s.realm).await?
                && live.content_hash == s.content_hash
                && live.content == s.content
            {
                continue;
            }
            realm_snapshot::ActiveModel {
                realm: Set(s.realm.clone()),
                content_hash: Set(s.content_hash.clone()),
                content: Set(s.content.clone()),
                applied_at: Set(t),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            changed.push(s.realm.clone());
        }
        txn.commit().await?;
        Ok(changed)
    }

    /// Records one snapshot (see [`apply_realm_snapshots`](Self::apply_realm_snapshots)).
    /// Returns whether anything was written.
    pub async fn record_realm_snapshot(&self, realm: &str, content_hash: &str, content: String) -> Result<bool> {
        let changed = self
            .apply_realm_snapshots(&[NewSnapshot {
                realm: realm.to_string(),
                content_hash: content_hash.to_string(),
                content,
            }])
            .await?;
        Ok(!changed.is_empty())
    }
}

async fn latest(db: &impl ConnectionTrait, realm: &str) -> Result<Option<realm_snapshot::Model>> {
    Ok(realm_snapshot::Entity::find()
        .filter(realm_snapshot::Column::Realm.eq(realm))
        .order_by_desc(realm_snapshot::Column::Id)
        .one(db)
        .await?)
}
