//! The initial schema: users and their credentials, sign-in state, issued grants and tokens,
//! signing keys, applied realm snapshots and security events. Times are Unix seconds (i64) so
//! that SQLite and PostgreSQL store and compare them the same way.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn text(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).text().not_null().to_owned()
}
fn text_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).text().null().to_owned()
}
fn time(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}
fn time_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().null().to_owned()
}
fn id(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).string_len(64).not_null().primary_key().to_owned()
}
fn key(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).string_len(64).not_null().to_owned()
}
fn key_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).string_len(64).null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("users")
                .col(id("id"))
                .col(key("realm"))
                .col(ColumnDef::new("username").string_len(255).not_null())
                .col(ColumnDef::new("email").string_len(320).null())
                .col(ColumnDef::new("email_verified").boolean().not_null().default(false))
                .col(text_null("first_name"))
                .col(text_null("last_name"))
                .col(ColumnDef::new("enabled").boolean().not_null().default(true))
                .col(time("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("users_realm_username")
                .table("users")
                .col("realm")
                .col("username")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("users_realm_email")
                .table("users")
                .col("realm")
                .col("email")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("user_required_actions")
                .col(key("user_id"))
                .col(key("action"))
                .col(time("created_at"))
                .primary_key(Index::create().col("user_id").col("action"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("credentials")
                .col(id("id"))
                .col(key("user_id"))
                .col(key("kind"))
                .col(text("secret"))
                .col(text_null("label"))
                .col(time_null("last_step"))
                .col(time("created_at"))
                .col(time_null("last_used_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("credentials_user")
                .table("credentials")
                .col("user_id")
                .col("kind")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("sso_sessions")
                .col(id("id"))
                .col(ColumnDef::new("token_hash").string_len(64).not_null().unique_key())
                .col(key("realm"))
                .col(key("user_id"))
                .col(time("auth_time"))
                .col(text("amr"))
                .col(text_null("acr"))
                .col(time("created_at"))
                .col(time("last_seen_at"))
                .col(time("expires_at"))
                .col(time_null("ended_at"))
                .col(text_null("ip"))
                .col(text_null("user_agent"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("sso_sessions_user")
                .table("sso_sessions")
                .col("user_id")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("auth_sessions")
                .col(id("id"))
                .col(key("realm"))
                .col(text("client_id"))
                .col(text("request"))
                .col(text("state"))
                .col(time("created_at"))
                .col(time("updated_at"))
                .col(time("expires_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("grants")
                .col(id("id"))
                .col(key("realm"))
                .col(text("client_id"))
                .col(key_null("user_id"))
                .col(key_null("session_id"))
                .col(text("scope"))
                .col(text("data"))
                .col(time("created_at"))
                .col(time_null("revoked_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("grants_session")
                .table("grants")
                .col("session_id")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("grants_user")
                .table("grants")
                .col("user_id")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("auth_codes")
                .col(id("code_hash"))
                .col(key("realm"))
                .col(text("client_id"))
                .col(key("user_id"))
                .col(key("session_id"))
                .col(text("redirect_uri"))
                .col(text("data"))
                .col(time("created_at"))
                .col(time("expires_at"))
                .col(time_null("used_at"))
                .col(key_null("grant_id"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("refresh_tokens")
                .col(id("token_hash"))
                .col(key("grant_id"))
                .col(time("created_at"))
                .col(time("expires_at"))
                .col(time_null("used_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("refresh_tokens_grant")
                .table("refresh_tokens")
                .col("grant_id")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("revoked_tokens")
                .col(id("jti"))
                .col(time("expires_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("signing_keys")
                .col(id("kid"))
                .col(key("realm"))
                .col(key("alg"))
                .col(text("private_key"))
                .col(text("public_jwk"))
                .col(time("created_at"))
                .col(time_null("retired_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("signing_keys_realm")
                .table("signing_keys")
                .col("realm")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("realm_snapshots")
                .col(
                    ColumnDef::new("id")
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(key("realm"))
                .col(key("content_hash"))
                .col(text("content"))
                .col(time("applied_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("realm_snapshots_realm")
                .table("realm_snapshots")
                .col("realm")
                .col("id")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("events")
                .col(
                    ColumnDef::new("id")
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(key("realm"))
                .col(key("kind"))
                .col(key_null("user_id"))
                .col(text_null("client_id"))
                .col(text_null("ip"))
                .col(text_null("user_agent"))
                .col(text("details"))
                .col(time("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("events_realm_time")
                .table("events")
                .col("realm")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("events_user")
                .table("events")
                .col("user_id")
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "events",
            "realm_snapshots",
            "signing_keys",
            "revoked_tokens",
            "refresh_tokens",
            "auth_codes",
            "grants",
            "auth_sessions",
            "sso_sessions",
            "credentials",
            "user_required_actions",
            "users",
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
