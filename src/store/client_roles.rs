//! Client roles (Keycloak's): the roles of one client a user holds. The realm file lists each
//! client's roles; the admin layer checks names against it before granting.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entity::user_client_role;
use super::{Result, Store};

impl Store {
    /// The user's client roles: client id → role names, both in order.
    pub async fn client_roles(&self, user_id: &str) -> Result<BTreeMap<String, Vec<String>>> {
        let rows = user_client_role::Entity::find()
            .filter(user_client_role::Column::UserId.eq(user_id))
            .order_by_asc(user_client_role::Column::ClientId)
            .order_by_asc(user_client_role::Column::Role)
            .all(&self.db)
            .await?;
        let mut by_client: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in rows {
            by_client.entry(row.client_id).or_default().push(row.role);
        }
        Ok(by_client)
    }

    /// Grants roles of `client_id` in one transaction; returns those the user did not hold.
    pub async fn grant_client_roles(&self, user_id: &str, client_id: &str, roles: &[String]) -> Result<Vec<String>> {
        let txn = self.write_txn().await?;
        let mut added = Vec::new();
        for role in roles {
            let inserted = user_client_role::Entity::insert(user_client_role::ActiveModel {
                user_id: Set(user_id.into()),
                client_id: Set(client_id.into()),
                role: Set(role.clone()),
            })
            .on_conflict_do_nothing_on([
                user_client_role::Column::UserId,
                user_client_role::Column::ClientId,
                user_client_role::Column::Role,
            ])
            .exec(&txn)
            .await?;
            if matches!(inserted, sea_orm::TryInsertResult::Inserted(_)) && !added.contains(role) {
                added.push(role.clone());
            }
        }
        txn.commit().await?;
        Ok(added)
    }

    /// Takes roles of `client_id` away in one transaction; returns those the user held.
    pub async fn revoke_client_roles(&self, user_id: &str, client_id: &str, roles: &[String]) -> Result<Vec<String>> {
        let txn = self.write_txn().await?;
        let mut removed = Vec::new();
        for role in roles {
            let key = (user_id.to_string(), client_id.to_string(), role.clone());
            if user_client_role::Entity::delete_by_id(key)
                .exec(&txn)
                .await?
                .rows_affected
                == 1
            {
                removed.push(role.clone());
            }
        }
        txn.commit().await?;
        Ok(removed)
    }
}
