//! Identity brokering: which account of an upstream sign-in provider (its subject) stands for
//! which user of a realm.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("federated_identities")
                .col(ColumnDef::new("realm").string_len(255).not_null())
                .col(ColumnDef::new("provider").string_len(255).not_null())
                .col(ColumnDef::new("subject").string_len(255).not_null())
                .col(ColumnDef::new("user_id").string_len(64).not_null())
                // What the provider called the account, shown to its user.
                .col(ColumnDef::new("upstream_username").string_len(255).null())
                .col(ColumnDef::new("email").string_len(320).null())
                .col(ColumnDef::new("created_at").big_integer().not_null())
                .primary_key(Index::create().col("realm").col("provider").col("subject"))
                .to_owned(),
        )
        .await?;
        // One account of each provider per user.
        m.create_index(
            Index::create()
                .name("federated_identities_user_provider")
                .table("federated_identities")
                .col("user_id")
                .col("provider")
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("federated_identities").to_owned())
            .await
    }
}
