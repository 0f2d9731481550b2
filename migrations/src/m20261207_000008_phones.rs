//! Phone numbers for codes by SMS: `phone_numbers` holds each user's verified number (E.164)
//! and the number being verified, with the keyed hash of the code sent to it (never the code)
//! and the wrong tries so far. `outbox.user_id` lets the SMS limits count per user as well as
//! per number, so changing the number again and again cannot send texts without end.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let text_null = |name: &str| ColumnDef::new(Alias::new(name)).string_len(64).null().to_owned();
        let time_null = |name: &str| ColumnDef::new(Alias::new(name)).big_integer().null().to_owned();
        m.create_table(
            Table::create()
                .table("phone_numbers")
                .col(ColumnDef::new("user_id").string_len(64).not_null().primary_key())
                .col(ColumnDef::new("realm").string_len(64).not_null())
                .col(text_null("number"))
                .col(time_null("verified_at"))
                .col(text_null("pending_number"))
                .col(text_null("code_mac"))
                .col(time_null("code_expires_at"))
                .col(ColumnDef::new("code_attempts").integer().not_null().default(0))
                .col(ColumnDef::new("updated_at").big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("outbox")
                .add_column(ColumnDef::new("user_id").string_len(64).null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("outbox_user")
                .table("outbox")
                .col("user_id")
                .col("created_at")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("outbox_user").table("outbox").to_owned())
            .await?;
        m.alter_table(Table::alter().table("outbox").drop_column("user_id").to_owned())
            .await?;
        m.drop_table(Table::drop().table("phone_numbers").to_owned()).await
    }
}
