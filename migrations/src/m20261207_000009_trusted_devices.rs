//! Trusted devices: a browser where the user entered a second factor with "Remember this
//! device". The browser holds a cookie of the row's id and a random secret; the row holds only
//! the secret's SHA-256, the user, a name from the User-Agent, and when it expires.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let key = |name: &str| ColumnDef::new(Alias::new(name)).string_len(64).not_null().to_owned();
        let time = |name: &str| ColumnDef::new(Alias::new(name)).big_integer().not_null().to_owned();
        m.create_table(
            Table::create()
                .table("trusted_devices")
                .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                .col(key("realm"))
                .col(key("user_id"))
                .col(key("secret_hash"))
                .col(ColumnDef::new("name").string_len(200).not_null())
                .col(time("created_at"))
                .col(time("last_used_at"))
                .col(time("expires_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("trusted_devices_user")
                .table("trusted_devices")
                .col("user_id")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("trusted_devices").to_owned()).await
    }
}
