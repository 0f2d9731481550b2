//! Schema migrations for Gatehouse. They run automatically when the server or the CLI opens the
//! database, and the same migrations serve SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000002_flow_state;
mod m20261123_000003_event_indexes;
mod m20261123_000004_auth_codes_user;
mod m20261206_000005_hardening;
mod m20261206_000006_personal_access_tokens;
mod m20261207_000007_outbox;
mod m20261207_000008_phones;
mod m20261207_000009_trusted_devices;
mod m20261207_000010_client_roles;
mod m20261208_000011_organizations;
mod m20261208_000012_federated_identities;

pub use m20261206_000005_hardening::username_key;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_flow_state::Migration),
            Box::new(m20261123_000003_event_indexes::Migration),
            Box::new(m20261123_000004_auth_codes_user::Migration),
            Box::new(m20261206_000005_hardening::Migration),
            Box::new(m20261206_000006_personal_access_tokens::Migration),
            Box::new(m20261207_000007_outbox::Migration),
            Box::new(m20261207_000008_phones::Migration),
            Box::new(m20261207_000009_trusted_devices::Migration),
            Box::new(m20261207_000010_client_roles::Migration),
            Box::new(m20261208_000011_organizations::Migration),
            Box::new(m20261208_000012_federated_identities::Migration),
        ]
    }
}
