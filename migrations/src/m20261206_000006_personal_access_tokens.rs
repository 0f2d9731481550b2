//! Personal access tokens (the account console): a user's named, scoped, expiring bearer
//! tokens. Only a SHA-256 hash of each token is stored.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let key = |name: &str| ColumnDef::new(Alias::new(name)).string_len(64).not_null().to_owned();
        let time = |name: &str| ColumnDef::new(Alias::new(name)).big_integer().not_null().to_owned();
        let time_null = |name: &str| ColumnDef::new(Alias::new(name)).big_integer().null().to_owned();
        m.create_table(
            Table::create()
                .table("personal_access_tokens")
                .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                .col(key("realm"))
                .col(key("user_id"))
                .col(ColumnDef::new("name").text().not_null())
                .col(key("token_hash"))
                .col(ColumnDef::new("scope").text().not_null())
                .col(time("created_at"))
                .col(time("expires_at"))
                .col(time_null("last_used_at"))
                .col(ColumnDef::new("last_used_ip").text().null())
                .col(time_null("revoked_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("personal_access_tokens_hash")
                .table("personal_access_tokens")
                .col("token_hash")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("personal_access_tokens_user")
                .table("personal_access_tokens")
                .col("user_id")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("personal_access_tokens").to_owned())
            .await
    }
}
