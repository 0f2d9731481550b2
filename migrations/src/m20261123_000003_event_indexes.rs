//! Indexes for reading the security log by type and for retention: (realm, kind, created_at)
//! serves `--type` filters newest first, and (created_at) lets the cleanup find expired events
//! without scanning the table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("events_realm_kind_time")
                .table("events")
                .col("realm")
                .col("kind")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("events_time")
                .table("events")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in ["events_time", "events_realm_kind_time"] {
            m.drop_index(Index::drop().name(name).table("events").to_owned())
                .await?;
        }
        Ok(())
    }
}
