//! Outgoing messages and the links they carry: `outbox` is the durable queue every node works
//! (a message survives a restart and is claimed by one node at a time); `action_tokens` holds
//! the SHA-256 of each single-use link (password reset, email verification), never the link.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let key = |name: &str| ColumnDef::new(Alias::new(name)).string_len(64).not_null().to_owned();
        let key_null = |name: &str| ColumnDef::new(Alias::new(name)).string_len(64).null().to_owned();
        let time = |name: &str| ColumnDef::new(Alias::new(name)).big_integer().not_null().to_owned();
        let time_null = |name: &str| ColumnDef::new(Alias::new(name)).big_integer().null().to_owned();
        m.create_table(
            Table::create()
                .table("outbox")
                .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                .col(key("realm"))
                .col(ColumnDef::new("channel").string_len(16).not_null())
                .col(ColumnDef::new("recipient").text().not_null())
                .col(key_null("requested_by_ip"))
                .col(ColumnDef::new("template").string_len(64).not_null())
                .col(ColumnDef::new("payload").text().not_null())
                .col(ColumnDef::new("state").string_len(16).not_null())
                .col(ColumnDef::new("attempts").integer().not_null())
                .col(time("next_attempt_at"))
                .col(time_null("claimed_until"))
                .col(ColumnDef::new("last_error").text().null())
                .col(time("created_at"))
                .col(time_null("sent_at"))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("outbox_due", &["state", "next_attempt_at"][..]),
            ("outbox_recipient", &["recipient", "created_at"][..]),
            ("outbox_requested_by_ip", &["requested_by_ip", "created_at"][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table("outbox");
            for c in cols {
                index.col(Alias::new(*c));
            }
            m.create_index(index.to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table("action_tokens")
                .col(ColumnDef::new("token_hash").string_len(64).not_null().primary_key())
                .col(key("realm"))
                .col(ColumnDef::new("kind").string_len(32).not_null())
                .col(key("user_id"))
                .col(key_null("auth_session_id"))
                .col(ColumnDef::new("data").text().null())
                .col(time("created_at"))
                .col(time("expires_at"))
                .col(time_null("used_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("action_tokens_user")
                .table("action_tokens")
                .col("user_id")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("action_tokens").to_owned()).await?;
        m.drop_table(Table::drop().table("outbox").to_owned()).await
    }
}
