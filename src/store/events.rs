//! Security events, appended and never updated: recording, querying (newest first, with a
//! stable cursor) and deleting expired ones in small batches.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entity::{event, user};
use super::{Result, Store, now};

#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub realm: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
}

/// Which events to read. Times are Unix seconds; `since` is inclusive, `until` exclusive.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub realm: String,
    pub user_id: Option<String>,
    /// Any of these kinds; empty means every kind.
    pub kinds: Vec<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only events after this one in newest-first order (i.e. strictly older).
    pub before: Option<i64>,
    pub limit: u64,
}

/// What one retention run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub deleted: u64,
    /// DELETE statements run, each its own short transaction.
    pub batches: u64,
}

impl Store {
    pub async fn insert_event(&self, e: NewEvent) -> Result<()> {
        self.insert_event_at(e, now()).await.map(|_| ())
    }

    /// Records an event with a given time (imports, tests); returns its id.
    pub async fn insert_event_at(&self, e: NewEvent, created_at: i64) -> Result<i64> {
        let model = event::ActiveModel {
            realm: Set(e.realm),
            kind: Set(e.kind),
            user_id: Set(e.user_id),
            client_id: Set(e.client_id),
            ip: Set(e.ip),
            user_agent: Set(e.user_agent),
            details: Set(e.details.to_string()),
            created_at: Set(created_at),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(model.id)
    }

    /// Events of a realm, newest first, optionally for one user.
    pub async fn events(&self, realm: &str, user_id: Option<&str>) -> Result<Vec<event::Model>> {
        let mut q = event::Entity::find().filter(event::Column::Realm.eq(realm));
        if let Some(u) = user_id {
            q = q.filter(event::Column::UserId.eq(u));
        }
        Ok(q.order_by_desc(event::Column::Id).all(&self.db).await?)
    }

    /// One page of events, newest first: ordered by (created_at, id) descending, which the
    /// indexes (realm, created_at) and (realm, kind, created_at) serve without sorting the
    /// realm. The cursor is a position in that order, so events inserted while a client pages
    /// (always newer) never shift or repeat the pages after it.
    pub async fn query_events(&self, q: &EventQuery) -> Result<Vec<event::Model>> {
        let mut find = event::Entity::find().filter(event::Column::Realm.eq(q.realm.as_str()));
        if let Some(u) = &q.user_id {
            find = find.filter(event::Column::UserId.eq(u.as_str()));
        }
        if !q.kinds.is_empty() {
            find = find.filter(event::Column::Kind.is_in(q.kinds.iter().map(String::as_str)));
        }
        if let Some(t) = q.since {
            find = find.filter(event::Column::CreatedAt.gte(t));
        }
        if let Some(t) = q.until {
            find = find.filter(event::Column::CreatedAt.lt(t));
        }
        if let Some(before) = q.before {
            let cursor = event::Entity::find_by_id(before)
                .select_only()
                .column(event::Column::CreatedAt)
                .into_tuple::<i64>()
                .one(&self.db)
                .await?;
            find = find.filter(match cursor {
                Some(t) => Condition::any().add(event::Column::CreatedAt.lt(t)).add(
                    Condition::all()
                        .add(event::Column::CreatedAt.eq(t))
                        .add(event::Column::Id.lt(before)),
                ),
                // The cursor event was deleted by retention since: ids still order the rest.
                None => Condition::all().add(event::Column::Id.lt(before)),
            });
        }
        Ok(find
            .order_by_desc(event::Column::CreatedAt)
            .order_by_desc(event::Column::Id)
            .limit(q.limit)
            .all(&self.db)
            .await?)
    }

    /// Whether any event of the realm names this user id (a deleted user's history stays).
    pub async fn has_events_of_user(&self, realm: &str, user_id: &str) -> Result<bool> {
        let n = event::Entity::find()
            .filter(event::Column::Realm.eq(realm))
            .filter(event::Column::UserId.eq(user_id))
            .limit(1)
            .count(&self.db)
            .await?;
        Ok(n > 0)
    }

    /// Usernames of these user ids (those that still exist).
    pub async fn usernames(&self, ids: &[String]) -> Result<HashMap<String, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(String, String)> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::Username)
            .filter(user::Column::Id.is_in(ids.iter().map(String::as_str)))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Deletes events older than `cutoff` (Unix seconds), at most `batch` rows per statement.
    /// Each statement commits on its own and the task yields between them, so other writers
    /// (on SQLite, the single write lock) wait at most one small batch.
    pub async fn purge_events_before(&self, cutoff: i64, batch: u64) -> Result<Purged> {
        let batch = batch.max(1);
        let mut purged = Purged::default();
        loop {
            let ids: Vec<i64> = event::Entity::find()
                .select_only()
                .column(event::Column::Id)
                .filter(event::Column::CreatedAt.lt(cutoff))
                .order_by_asc(event::Column::Id)
                .limit(batch)
                .into_tuple()
                .all(&self.db)
                .await?;
            if ids.is_empty() {
                break;
            }
            let found = ids.len() as u64;
            purged.deleted += event::Entity::delete_many()
                .filter(event::Column::Id.is_in(ids))
                .exec(&self.db)
                .await?
                .rows_affected;
            purged.batches += 1;
            if found < batch {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(purged)
    }
}
