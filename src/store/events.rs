//! Security events, appended and never updated.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entity::event;
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

impl Store {
    pub async fn insert_event(&self, e: NewEvent) -> Result<()> {
        event::ActiveModel {
            realm: Set(e.realm),
            kind: Set(e.kind),
            user_id: Set(e.user_id),
            client_id: Set(e.client_id),
            ip: Set(e.ip),
            user_agent: Set(e.user_agent),
            details: Set(e.details.to_string()),
            created_at: Set(now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Events of a realm, newest first, optionally for one user.
    pub async fn events(&self, realm: &str, user_id: Option<&str>) -> Result<Vec<event::Model>> {
        let mut q = event::Entity::find().filter(event::Column::Realm.eq(realm));
        if let Some(u) = user_id {
            q = q.filter(event::Column::UserId.eq(u));
        }
        Ok(q.order_by_desc(event::Column::Id).all(&self.db).await?)
    }
}
