//! What the flow engine needs beyond the initial schema: user roles and attributes (for
//! conditions) and brute-force counters (shared by every node).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("user_roles")
                .col(ColumnDef::new("user_id").string_len(64).not_null())
                .col(ColumnDef::new("role").string_len(255).not_null())
                .primary_key(Index::create().col("user_id").col("role"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("user_attributes")
                .col(ColumnDef::new("user_id").string_len(64).not_null())
                .col(ColumnDef::new("name").string_len(255).not_null())
                .col(ColumnDef::new("value").text().not_null())
                .primary_key(Index::create().col("user_id").col("name"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("login_failures")
                .col(ColumnDef::new("realm").string_len(64).not_null())
                // `user:<id>` or `ip:<address>`
                .col(ColumnDef::new("subject").string_len(255).not_null())
                .col(ColumnDef::new("failures").integer().not_null())
                .col(ColumnDef::new("last_failure_at").big_integer().not_null())
                .col(ColumnDef::new("locked_until").big_integer().not_null())
                .primary_key(Index::create().col("realm").col("subject"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["login_failures", "user_attributes", "user_roles"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
