//! Federated identities (identity brokering): the account of an upstream sign-in provider that
//! stands for a user of a realm.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entity::{federated_identity as link, user};
use super::{NewUser, Result, Store, now};

/// An upstream account to link to a user.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub realm: String,
    pub provider: String,
    pub subject: String,
    pub upstream_username: Option<String>,
    pub email: Option<String>,
}

impl NewLink {
    fn row(self, user_id: &str) -> link::ActiveModel {
        link::ActiveModel {
            realm: Set(self.realm),
            provider: Set(self.provider),
            subject: Set(self.subject),
            user_id: Set(user_id.into()),
            upstream_username: Set(self.upstream_username),
            email: Set(self.email),
            created_at: Set(now()),
        }
    }
}

impl Store {
    /// The user the upstream account (`provider`, `subject`) of `realm` stands for.
    pub async fn federated_user(&self, realm: &str, provider: &str, subject: &str) -> Result<Option<user::Model>> {
        let Some(found) = link::Entity::find_by_id((realm.to_string(), provider.to_string(), subject.to_string()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(user::Entity::find_by_id(found.user_id).one(&self.db).await?)
    }

    /// The upstream accounts linked to a user, by provider.
    pub async fn federated_identities(&self, user_id: &str) -> Result<Vec<link::Model>> {
        Ok(link::Entity::find()
            .filter(link::Column::UserId.eq(user_id))
            .order_by_asc(link::Column::Provider)
            .all(&self.db)
            .await?)
    }

    /// Links an upstream account to `user_id`. False (and nothing written) when the account
    /// stands for someone already, or the user has an account of that provider.
    pub async fn link_identity(&self, user_id: &str, new: NewLink) -> Result<bool> {
        let txn = self.write_txn().await?;
        let taken = link::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(
                        sea_orm::Condition::all()
                            .add(link::Column::Realm.eq(&new.realm))
                            .add(link::Column::Provider.eq(&new.provider))
                            .add(link::Column::Subject.eq(&new.subject)),
                    )
                    .add(
                        sea_orm::Condition::all()
                            .add(link::Column::UserId.eq(user_id))
                            .add(link::Column::Provider.eq(&new.provider)),
                    ),
            )
            .one(&txn)
            .await?
            .is_some();
        if taken {
            return Ok(false);
        }
        link::Entity::insert(new.row(user_id))
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Creates a user and links the upstream account to them, at once.
    pub async fn create_federated_user(&self, new: NewUser, link: NewLink) -> Result<user::Model> {
        let txn = self.write_txn().await?;
        let created = super::users::create_user_in(&txn, new).await?;
        link::Entity::insert(link.row(&created.id))
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(created)
    }

    /// Unlinks the user's account of `provider`; false if there was none.
    pub async fn unlink_identity(&self, user_id: &str, provider: &str) -> Result<bool> {
        let deleted = link::Entity::delete_many()
            .filter(link::Column::UserId.eq(user_id))
            .filter(link::Column::Provider.eq(provider))
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected > 0)
    }
}
