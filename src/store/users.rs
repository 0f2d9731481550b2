//! Users, their credentials and their required actions.

use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entity::{
    auth_code, credential, grant, login_failure, refresh_token, required_action, sso_session, user, user_attribute,
    user_role,
};
use super::{Result, Store, StoreError, now};
use crate::crypto;

/// What is needed to create a user.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub realm: String,
    pub username: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// An argon2id PHC string, if the user gets a password now.
    pub password_hash: Option<String>,
    pub required_actions: Vec<String>,
    /// Created disabled (it cannot sign in until enabled).
    pub disabled: bool,
    /// The realm wants each email address used by one user only.
    pub unique_email: bool,
    /// The email address is known to be the user's (an administrator says so).
    pub email_verified: bool,
    /// (name, value) of each attribute.
    pub attributes: Vec<(String, String)>,
}

/// What an administrator changes about a user: `None` leaves a field as it is. Required
/// actions and attributes, when given, replace the whole set.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub email: Option<Option<String>>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub email_verified: Option<bool>,
    pub required_actions: Option<Vec<String>>,
    /// One value per name.
    pub attributes: Option<Vec<(String, String)>>,
    /// The realm wants each email address used by one user only (checked when `email` changes).
    pub unique_email: bool,
}

/// A search for users (the admin API's `GET …/users`): every given filter must match.
#[derive(Debug, Clone, Default)]
pub struct UserSearch {
    /// A prefix of the username or the email address.
    pub search: Option<String>,
    /// The username: a prefix, or exactly with `exact`.
    pub username: Option<String>,
    /// The email address: a prefix, or exactly with `exact`.
    pub email: Option<String>,
    pub exact: bool,
    /// Paging: how many to skip, and at most how many to return.
    pub first: u64,
    pub max: u64,
}

/// `LOWER(column)`, folding ASCII letters only: searches ignore the case of ASCII letters the
/// same on SQLite and PostgreSQL (whose `LIKE` differs: case-insensitive for ASCII on SQLite,
/// case-sensitive on PostgreSQL). SQLite's `LOWER` folds ASCII only; PostgreSQL's does so
/// under the "C" collation. Other letters match as written on both.
fn lowered(backend: DbBackend, column: user::Column) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => Expr::cust_with_expr("LOWER($1 COLLATE \"C\")", Expr::col(column)),
        _ => Func::lower(Expr::col(column)).into(),
    }
}

/// A search term as it is compared: ASCII letters in lower case.
fn fold(term: &str) -> String {
    term.to_ascii_lowercase()
}

/// `LOWER(column) LIKE 'prefix%'`, with the prefix's own `%`, `_` and `\\` taken literally.
fn starts_with(backend: DbBackend, column: user::Column, prefix: &str) -> SimpleExpr {
    let escaped: String = fold(prefix)
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    lowered(backend, column).like(LikeExpr::new(format!("{escaped}%")).escape('\\'))
}

/// The users of `realm` that `q` matches (its filters, not its paging).
fn matching(backend: DbBackend, realm: &str, q: &UserSearch) -> sea_orm::Select<user::Entity> {
    let mut find = user::Entity::find().filter(user::Column::Realm.eq(realm));
    if let Some(s) = &q.search {
        find = find.filter(
            Condition::any()
                .add(starts_with(backend, user::Column::Username, s))
                .add(starts_with(backend, user::Column::Email, s)),
        );
    }
    for (column, value) in [(user::Column::Username, &q.username), (user::Column::Email, &q.email)] {
        if let Some(v) = value {
            find = if q.exact {
                find.filter(lowered(backend, column).eq(fold(v)))
            } else {
                find.filter(starts_with(backend, column, v))
            };
        }
    }
    find
}

impl Store {
    /// How many users of `realm` match `q`'s filters (Keycloak's `GET /users/count`).
    pub async fn count_users(&self, realm: &str, q: &UserSearch) -> Result<u64> {
        let backend = self.db.get_database_backend();
        Ok(sea_orm::PaginatorTrait::count(matching(backend, realm, q), &self.db).await?)
    }

    /// Users of `realm` matching `q` (ignoring the case of ASCII letters), by username.
    pub async fn search_users(&self, realm: &str, q: &UserSearch) -> Result<Vec<user::Model>> {
        let backend = self.db.get_database_backend();
        let find = matching(backend, realm, q);
        // By username, byte order on both databases (PostgreSQL's default collation may
        // differ from SQLite's), so that pages are the same everywhere.
        let by_username = match backend {
            DbBackend::Postgres => Expr::cust_with_expr("$1 COLLATE \"C\"", Expr::col(user::Column::Username)),
            _ => Expr::col(user::Column::Username),
        };
        Ok(find
            .order_by(by_username, sea_orm::Order::Asc)
            .order_by_asc(user::Column::Id)
            .offset(super::sql_count(q.first))
            .limit(super::sql_count(q.max))
            .all(&self.db)
            .await?)
    }

    /// Creates a user with its password and required actions in one transaction.
    pub async fn create_user(&self, new: NewUser) -> Result<user::Model> {
        let txn = self.write_txn().await?;
        let model = create_user_in(&txn, new).await?;
        txn.commit().await?;
        Ok(model)
    }

    pub async fn find_user_by_username(&self, realm: &str, username: &str) -> Result<Option<user::Model>> {
        Ok(user::Entity::find()
            .filter(user::Column::Realm.eq(realm))
            .filter(user::Column::UsernameKey.eq(super::username_key(username)))
            .one(&self.db)
            .await?)
    }

    /// The user with this email address, where the realm keeps addresses unique (else none:
    /// an address shared by several accounts names none of them).
    pub async fn find_user_by_email(&self, realm: &str, email: &str) -> Result<Option<user::Model>> {
        let Some(key) = email_key(Some(email), true) else {
            return Ok(None);
        };
        Ok(user::Entity::find()
            .filter(user::Column::Realm.eq(realm))
            .filter(user::Column::EmailKey.eq(key))
            .one(&self.db)
            .await?)
    }

    pub async fn find_user(&self, user_id: &str) -> Result<Option<user::Model>> {
        Ok(user::Entity::find_by_id(user_id).one(&self.db).await?)
    }

    /// The user's password hash, if it has one.
    pub async fn password_hash(&self, user_id: &str) -> Result<Option<String>> {
        Ok(credential::Entity::find()
            .filter(credential::Column::UserId.eq(user_id))
            .filter(credential::Column::Kind.eq("password"))
            .one(&self.db)
            .await?
            .map(|c| c.secret))
    }

    /// Adds a required action (idempotent).
    pub async fn add_required_action(&self, user_id: &str, action: &str) -> Result<()> {
        required_action::Entity::insert(required_action::ActiveModel {
            user_id: Set(user_id.to_string()),
            action: Set(action.to_string()),
            created_at: Set(now()),
        })
        .on_conflict_do_nothing_on([required_action::Column::UserId, required_action::Column::Action])
        .exec(&self.db)
        .await?;
        Ok(())
    }

    pub async fn required_actions(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(required_action::Entity::find()
            .filter(required_action::Column::UserId.eq(user_id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| r.action)
            .collect())
    }
}

impl Store {
    /// Applies `change` to a user in one transaction. Disabling an enabled user also ends
    /// their SSO sessions and revokes every grant they hold, so no token of theirs works on.
    pub async fn update_user(&self, user_id: &str, change: UserUpdate) -> Result<()> {
        let t = now();
        let txn = self.write_txn().await?;
        let Some(u) = user::Entity::find_by_id(user_id).one(&txn).await? else {
            return Err(StoreError::NotFound(format!("user '{user_id}'")));
        };
        let disabling = u.enabled && change.enabled == Some(false);
        let (realm, id) = (u.realm.clone(), u.id.clone());
        let mut a: user::ActiveModel = u.into();
        if let Some(v) = change.email {
            let key = email_key(v.as_deref(), change.unique_email);
            if let Some(key) = &key {
                ensure_email_free(&txn, &realm, key, Some(&id)).await?;
            }
            a.email_key = Set(key);
            a.email = Set(v);
        }
        if let Some(v) = change.first_name {
            a.first_name = Set(v);
        }
        if let Some(v) = change.last_name {
            a.last_name = Set(v);
        }
        if let Some(v) = change.enabled {
            a.enabled = Set(v);
        }
        if let Some(v) = change.email_verified {
            a.email_verified = Set(v);
        }
        if a.is_changed() {
            a.update(&txn).await?;
        }
        if let Some(actions) = change.required_actions {
            replace_required_actions_in(&txn, user_id, actions, t).await?;
        }
        if let Some(attributes) = change.attributes {
            replace_attributes_in(&txn, user_id, attributes).await?;
        }
        if disabling {
            super::sessions::end_user_sessions_in(&txn, user_id, t).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Deletes a user and everything of theirs — credentials, required actions, roles,
    /// attributes, SSO sessions, grants, refresh tokens, codes, lockout counters — in one
    /// transaction. Security events stay: they are the audit trail. Returns the deleted user.
    pub async fn delete_user(&self, user_id: &str) -> Result<Option<user::Model>> {
        use sea_orm::sea_query::Query;
        let txn = self.write_txn().await?;
        let Some(u) = user::Entity::find_by_id(user_id).one(&txn).await? else {
            return Ok(None);
        };
        let grants = Query::select()
            .column(grant::Column::Id)
            .from(grant::Entity)
            .and_where(grant::Column::UserId.eq(user_id))
            .to_owned();
        refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::GrantId.in_subquery(grants))
            .exec(&txn)
            .await?;
        grant::Entity::delete_many()
            .filter(grant::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        auth_code::Entity::delete_many()
            .filter(auth_code::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        sso_session::Entity::delete_many()
            .filter(sso_session::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        credential::Entity::delete_many()
            .filter(credential::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        required_action::Entity::delete_many()
            .filter(required_action::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        user_role::Entity::delete_many()
            .filter(user_role::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        super::entity::user_client_role::Entity::delete_many()
            .filter(super::entity::user_client_role::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        super::entity::organization_member::Entity::delete_many()
            .filter(super::entity::organization_member::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        super::entity::federated_identity::Entity::delete_many()
            .filter(super::entity::federated_identity::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        user_attribute::Entity::delete_many()
            .filter(user_attribute::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        super::entity::personal_access_token::Entity::delete_many()
            .filter(super::entity::personal_access_token::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        super::entity::action_token::Entity::delete_many()
            .filter(super::entity::action_token::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        super::entity::phone_number::Entity::delete_by_id(user_id)
            .exec(&txn)
            .await?;
        super::entity::trusted_device::Entity::delete_many()
            .filter(super::entity::trusted_device::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        // Lockout counters are kept by user id (see flow::brute_force): they go with the user.
        login_failure::Entity::delete_many()
            .filter(login_failure::Column::Realm.eq(&u.realm))
            .filter(login_failure::Column::Subject.is_in([format!("user:{}", u.id), format!("2fa:{}", u.id)]))
            .exec(&txn)
            .await?;
        user::Entity::delete_by_id(user_id).exec(&txn).await?;
        txn.commit().await?;
        Ok(Some(u))
    }

    /// Removes a required action; whether the user had it.
    pub async fn remove_required_action(&self, user_id: &str, action: &str) -> Result<bool> {
        Ok(
            required_action::Entity::delete_by_id((user_id.to_string(), action.to_string()))
                .exec(&self.db)
                .await?
                .rows_affected
                == 1,
        )
    }
}

/// A new user's row, before its username and email are checked.
pub(super) struct UserRow {
    pub realm: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub enabled: bool,
    /// The realm wants each email address used by one user only.
    pub unique_email: bool,
}

/// Inserts a user within `txn`: a `Conflict` if the username (or a unique email) is taken.
pub(super) async fn insert_user_in(txn: &impl sea_orm::ConnectionTrait, row: UserRow, t: i64) -> Result<user::Model> {
    let username_key = super::username_key(&row.username);
    let existing = user::Entity::find()
        .filter(user::Column::Realm.eq(&row.realm))
        .filter(user::Column::UsernameKey.eq(&username_key))
        .one(txn)
        .await?;
    if existing.is_some() {
        return Err(StoreError::Conflict(format!(
            "user '{}' in realm '{}'",
            row.username, row.realm
        )));
    }
    let email_key = email_key(row.email.as_deref(), row.unique_email);
    if let Some(key) = &email_key {
        ensure_email_free(txn, &row.realm, key, None).await?;
    }
    Ok(user::ActiveModel {
        id: Set(crypto::new_id()),
        realm: Set(row.realm),
        username: Set(row.username),
        email: Set(row.email),
        email_verified: Set(row.email_verified),
        first_name: Set(row.first_name),
        last_name: Set(row.last_name),
        enabled: Set(row.enabled),
        created_at: Set(t),
        username_key: Set(username_key),
        email_key: Set(email_key),
    }
    .insert(txn)
    .await?)
}

/// A new user's attributes, inside `txn`.
pub(super) async fn insert_attributes_in(
    txn: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    attributes: Vec<(String, String)>,
) -> Result<()> {
    for (name, value) in attributes {
        user_attribute::ActiveModel {
            user_id: Set(user_id.to_string()),
            name: Set(name),
            value: Set(value),
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

pub(super) async fn insert_password(
    db: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    hash: String,
    t: i64,
) -> Result<()> {
    credential::ActiveModel {
        id: Set(crypto::new_id()),
        user_id: Set(user_id.to_string()),
        kind: Set("password".into()),
        secret: Set(hash),
        label: Set(None),
        last_step: Set(None),
        created_at: Set(t),
        last_used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The key an email address is unique by, where the realm wants it unique.
pub(super) fn email_key(email: Option<&str>, unique: bool) -> Option<String> {
    email.filter(|_| unique).map(|e| e.trim().to_lowercase())
}

/// Whether no other user of the realm (than `except`) has the address `key`.
pub(super) async fn email_free(
    db: &impl sea_orm::ConnectionTrait,
    realm: &str,
    key: &str,
    except: Option<&str>,
) -> Result<bool> {
    let mut query = user::Entity::find()
        .filter(user::Column::Realm.eq(realm))
        .filter(user::Column::EmailKey.eq(key));
    if let Some(id) = except {
        query = query.filter(user::Column::Id.ne(id));
    }
    Ok(query.one(db).await?.is_none())
}

/// Refuses an email address another user of the realm already has.
pub(super) async fn ensure_email_free(
    db: &impl sea_orm::ConnectionTrait,
    realm: &str,
    key: &str,
    except: Option<&str>,
) -> Result<()> {
    if !email_free(db, realm, key, except).await? {
        return Err(StoreError::Conflict(format!(
            "a user with email '{key}' in realm '{realm}'"
        )));
    }
    Ok(())
}

/// Replaces a user's pending required actions, inside `txn`.
async fn replace_required_actions_in(
    txn: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    actions: Vec<String>,
    t: i64,
) -> Result<()> {
    required_action::Entity::delete_many()
        .filter(required_action::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    for action in actions {
        required_action::ActiveModel {
            user_id: Set(user_id.into()),
            action: Set(action),
            created_at: Set(t),
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

/// Replaces a user's attributes (one value each), inside `txn`.
async fn replace_attributes_in(
    txn: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    attributes: Vec<(String, String)>,
) -> Result<()> {
    user_attribute::Entity::delete_many()
        .filter(user_attribute::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    for (name, value) in attributes {
        user_attribute::ActiveModel {
            user_id: Set(user_id.into()),
            name: Set(name),
            value: Set(value),
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

/// Creates a user (with their password, attributes and required actions) in `txn`.
pub(super) async fn create_user_in(txn: &impl sea_orm::ConnectionTrait, new: NewUser) -> Result<user::Model> {
    let t = now();
    let model = insert_user_in(
        txn,
        UserRow {
            realm: new.realm,
            username: new.username,
            email: new.email,
            email_verified: new.email_verified,
            first_name: new.first_name,
            last_name: new.last_name,
            enabled: !new.disabled,
            unique_email: new.unique_email,
        },
        t,
    )
    .await?;
    if let Some(hash) = new.password_hash {
        insert_password(txn, &model.id, hash, t).await?;
    }
    insert_attributes_in(txn, &model.id, new.attributes).await?;
    for action in new.required_actions {
        required_action::ActiveModel {
            user_id: Set(model.id.clone()),
            action: Set(action),
            created_at: Set(t),
        }
        .insert(txn)
        .await?;
    }
    Ok(model)
}
