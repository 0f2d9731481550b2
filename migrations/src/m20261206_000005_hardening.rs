//! Hardening (issue 17):
//! - `login_failures` counts attempts in flight, so parallel guesses cannot outrun the lockout,
//!   and remembers which lockout window has been logged, so a flood is logged once.
//! - `users.username_key` (NFKC, case-folded) makes `ALICE`, `alice` and `ａｌｉｃｅ` one name;
//!   `users.email_key` (lower-cased) makes an email address unique in a realm that wants it
//!   (NULL where duplicates are allowed, which a unique index lets repeat).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The key a username is unique and looked up by: NFKC, then lower case (Unicode), then NFKC
/// again (lower-casing can leave a string unnormalized).
pub fn username_key(username: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = username.nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new("in_flight").integer().not_null().default(0).to_owned(),
            ColumnDef::new("in_flight_since")
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new("refusal_logged_until")
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        ] {
            m.alter_table(Table::alter().table("login_failures").add_column(column).to_owned())
                .await?;
        }
        for column in [
            ColumnDef::new("username_key").string_len(1024).null().to_owned(),
            ColumnDef::new("email_key").string_len(320).null().to_owned(),
        ] {
            m.alter_table(Table::alter().table("users").add_column(column).to_owned())
                .await?;
        }
        fill_username_keys(m).await?;
        // An address used by one user of the realm only becomes unique; existing duplicates
        // stay as they are (their key stays NULL).
        m.get_connection()
            .execute_unprepared(
                "UPDATE users SET email_key = LOWER(email) WHERE email IS NOT NULL AND NOT EXISTS \
                 (SELECT 1 FROM users other WHERE other.realm = users.realm AND other.id <> users.id \
                 AND LOWER(other.email) = LOWER(users.email))",
            )
            .await?;
        for (name, column) in [
            ("users_realm_username_key", "username_key"),
            ("users_realm_email_key", "email_key"),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table("users")
                    .col("realm")
                    .col(column)
                    .unique()
                    .to_owned(),
            )
            .await?;
        }
        // Lockout counters were keyed by lower-cased username; they are now keyed by user id
        // (or by a hash of an unknown name's key). Old counters are simply forgotten.
        m.get_connection()
            .execute_unprepared("DELETE FROM login_failures WHERE subject LIKE 'user:%'")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in ["users_realm_username_key", "users_realm_email_key"] {
            m.drop_index(Index::drop().name(name).table("users").to_owned()).await?;
        }
        for column in ["username_key", "email_key"] {
            m.alter_table(Table::alter().table("users").drop_column(column).to_owned())
                .await?;
        }
        for column in ["in_flight", "in_flight_since", "refusal_logged_until"] {
            m.alter_table(Table::alter().table("login_failures").drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Computes `username_key` for every existing user, in Rust (the databases' own lower-casing
/// differs, and neither normalizes).
async fn fill_username_keys(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(backend, "SELECT id, username FROM users"))
        .await?;
    for row in rows {
        let id: String = row.try_get("", "id")?;
        let username: String = row.try_get("", "username")?;
        let sql = match backend {
            sea_orm_migration::sea_orm::DbBackend::Postgres => "UPDATE users SET username_key = $1 WHERE id = $2",
            _ => "UPDATE users SET username_key = ? WHERE id = ?",
        };
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [username_key(&username).into(), id.into()],
        ))
        .await?;
    }
    Ok(())
}
