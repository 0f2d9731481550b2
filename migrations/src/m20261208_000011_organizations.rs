//! Organizations (Keycloak 26's): named groups of a realm's users with their own roles, email
//! domains and policy; their members; and the invite links that let people join them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("organizations")
                .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                .col(ColumnDef::new("realm").string_len(255).not_null())
                .col(ColumnDef::new("name").string_len(255).not_null())
                .col(ColumnDef::new("alias").string_len(255).not_null())
                .col(ColumnDef::new("description").text().null())
                .col(ColumnDef::new("redirect_url").text().null())
                .col(ColumnDef::new("enabled").boolean().not_null())
                .col(ColumnDef::new("require_second_factor").boolean().not_null())
                // CIDRs separated by spaces; empty: any address.
                .col(ColumnDef::new("ip_allowlist").text().not_null())
                .col(ColumnDef::new("session_max_secs").big_integer().null())
                .col(ColumnDef::new("created_at").big_integer().not_null())
                .to_owned(),
        )
        .await?;
        for (name, column) in [
            ("organizations_realm_alias", "alias"),
            ("organizations_realm_name", "name"),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table("organizations")
                    .col("realm")
                    .col(column)
                    .unique()
                    .to_owned(),
            )
            .await?;
        }
        // A domain belongs to one organization of a realm.
        m.create_table(
            Table::create()
                .table("organization_domains")
                .col(ColumnDef::new("realm").string_len(255).not_null())
                .col(ColumnDef::new("domain").string_len(255).not_null())
                .col(ColumnDef::new("organization_id").string_len(64).not_null())
                .col(ColumnDef::new("verified").boolean().not_null())
                .primary_key(Index::create().col("realm").col("domain"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("organization_domains_org")
                .table("organization_domains")
                .col("organization_id")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("organization_members")
                .col(ColumnDef::new("organization_id").string_len(64).not_null())
                .col(ColumnDef::new("user_id").string_len(64).not_null())
                // Organization roles separated by spaces.
                .col(ColumnDef::new("roles").text().not_null())
                .col(ColumnDef::new("joined_at").big_integer().not_null())
                .col(ColumnDef::new("invite_id").string_len(64).null())
                .primary_key(Index::create().col("organization_id").col("user_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("organization_members_user")
                .table("organization_members")
                .col("user_id")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("organization_invites")
                .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                .col(ColumnDef::new("organization_id").string_len(64).not_null())
                // SHA-256 (hex) of the link's secret.
                .col(ColumnDef::new("token_hash").string_len(64).not_null().unique_key())
                .col(ColumnDef::new("role").string_len(255).not_null())
                .col(ColumnDef::new("expires_at").big_integer().not_null())
                .col(ColumnDef::new("max_uses").big_integer().null())
                .col(ColumnDef::new("uses").big_integer().not_null())
                .col(ColumnDef::new("email_domain").string_len(255).null())
                .col(ColumnDef::new("created_by").string_len(255).not_null())
                .col(ColumnDef::new("created_at").big_integer().not_null())
                .col(ColumnDef::new("revoked_at").big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("organization_invites_org")
                .table("organization_invites")
                .col("organization_id")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "organization_invites",
            "organization_members",
            "organization_domains",
            "organizations",
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
