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
    /// All or nothing, on SQLite too: a refused upgrade (clashing names) leaves the schema as
    /// it was, so the next start can try again.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

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
            // Text: NFKC can make a 255-character name thousands of characters long.
            ColumnDef::new("username_key").text().null().to_owned(),
            ColumnDef::new("email_key").string_len(320).null().to_owned(),
        ] {
            m.alter_table(Table::alter().table("users").add_column(column).to_owned())
                .await?;
        }
        fill_keys(m).await?;
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

/// Computes `username_key` (and `email_key`, for an address no other user of the realm has)
/// for every existing user, in Rust: the databases' own lower-casing differs, and neither
/// normalizes. Refuses the upgrade, naming them, if existing usernames clash once normalized.
async fn fill_keys(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    use std::collections::HashMap;
    let db = m.get_connection();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, realm, username, email FROM users",
        ))
        .await?;
    let mut users = Vec::with_capacity(rows.len());
    let mut names: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut emails: HashMap<(String, String), usize> = HashMap::new();
    for row in rows {
        let id: String = row.try_get("", "id")?;
        let realm: String = row.try_get("", "realm")?;
        let username: String = row.try_get("", "username")?;
        let email: Option<String> = row.try_get("", "email")?;
        let key = username_key(&username);
        let email_key = email.map(|e| e.trim().to_lowercase());
        names.entry((realm.clone(), key.clone())).or_default().push(username);
        if let Some(e) = &email_key {
            *emails.entry((realm.clone(), e.clone())).or_default() += 1;
        }
        users.push((id, realm, key, email_key));
    }
    let clashes: Vec<String> = names
        .iter()
        .filter(|(_, spellings)| spellings.len() > 1)
        .map(|((realm, _), spellings)| format!("realm '{realm}': {}", spellings.join(", ")))
        .collect();
    if !clashes.is_empty() {
        return Err(DbErr::Migration(format!(
            "usernames are now unique regardless of case and width, and these users clash; rename \
             all but one of each group with the previous version, then upgrade again: {}",
            clashes.join("; ")
        )));
    }
    let sql = match backend {
        sea_orm_migration::sea_orm::DbBackend::Postgres => {
            "UPDATE users SET username_key = $1, email_key = $2 WHERE id = $3"
        }
        _ => "UPDATE users SET username_key = ?, email_key = ? WHERE id = ?",
    };
    for (id, realm, key, email_key) in users {
        // An address shared by several users stays without a key: they keep it, and no new
        // user joins them.
        let email_key = email_key.filter(|e| emails.get(&(realm.clone(), e.clone())) == Some(&1));
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [key.into(), email_key.into(), id.into()],
        ))
        .await?;
    }
    Ok(())
}
