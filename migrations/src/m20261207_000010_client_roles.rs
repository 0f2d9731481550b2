//! Client roles (Keycloak's): a user's roles of one client, which the realm file lists under
//! the client's `roles`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("user_client_roles")
                .col(ColumnDef::new("user_id").string_len(64).not_null())
                .col(ColumnDef::new("client_id").string_len(255).not_null())
                .col(ColumnDef::new("role").string_len(255).not_null())
                .primary_key(Index::create().col("user_id").col("client_id").col("role"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("user_client_roles").to_owned()).await
    }
}
