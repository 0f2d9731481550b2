//! Users brought over from another system (a Keycloak export), each in one transaction with
//! their credentials, roles, required actions and attributes.

use sea_orm::{ActiveModelTrait, Set};

use super::entity::{required_action, user, user_client_role, user_role};
use super::{Result, Store, now};

/// A user as the other system had them.
#[derive(Debug, Clone, Default)]
pub struct ImportedUser {
    pub realm: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub enabled: bool,
    /// A PHC string the password hasher verifies (argon2, or PBKDF2 as imported).
    pub password_hash: Option<String>,
    /// (credential id, sealed secret, label) of each authenticator app.
    pub otp: Vec<(String, String, Option<String>)>,
    pub roles: Vec<String>,
    /// (client id, role) of each client role.
    pub client_roles: Vec<(String, String)>,
    pub required_actions: Vec<String>,
    pub attributes: Vec<(String, String)>,
    /// The realm wants each email address used by one user only.
    pub unique_email: bool,
}

impl Store {
    /// Creates an imported user with everything they had; a `Conflict` if the username (or
    /// a unique email address) is taken.
    pub async fn import_user(&self, new: ImportedUser) -> Result<user::Model> {
        let txn = self.write_txn().await?;
        let t = now();
        let row = super::users::UserRow {
            realm: new.realm,
            username: new.username,
            email: new.email,
            email_verified: new.email_verified,
            first_name: new.first_name,
            last_name: new.last_name,
            enabled: new.enabled,
            unique_email: new.unique_email,
        };
        let model = super::users::insert_user_in(&txn, row, t).await?;
        if let Some(hash) = new.password_hash {
            super::users::insert_password(&txn, &model.id, hash, t).await?;
        }
        for (id, sealed, label) in new.otp {
            let mut otp = super::credentials::new_credential(&model.id, super::OTP, sealed, label, t);
            otp.id = Set(id);
            otp.insert(&txn).await?;
        }
        for role in new.roles {
            user_role::ActiveModel {
                user_id: Set(model.id.clone()),
                role: Set(role),
            }
            .insert(&txn)
            .await?;
        }
        for (client_id, role) in new.client_roles {
            user_client_role::ActiveModel {
                user_id: Set(model.id.clone()),
                client_id: Set(client_id),
                role: Set(role),
            }
            .insert(&txn)
            .await?;
        }
        for action in new.required_actions {
            required_action::ActiveModel {
                user_id: Set(model.id.clone()),
                action: Set(action),
                created_at: Set(t),
            }
            .insert(&txn)
            .await?;
        }
        super::users::insert_attributes_in(&txn, &model.id, new.attributes).await?;
        txn.commit().await?;
        Ok(model)
    }
}
