//! An index on `auth_codes.user_id`, so that deleting a user (which deletes their codes in the
//! same transaction as everything else of theirs) does not scan every code.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("auth_codes_user")
                .table("auth_codes")
                .col("user_id")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("auth_codes_user").table("auth_codes").to_owned())
            .await
    }
}
