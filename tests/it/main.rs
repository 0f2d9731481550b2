//! The integration tests, in one binary (linking one test binary instead of twenty is most
//! of a cold build's test time on two cores). Each module is one area; `support` is the one
//! harness they share (see `support/mod.rs`).

#[macro_use]
mod support;

mod account;
mod admin_api;
mod admin_bootstrap;
mod admin_realm_events;
mod admin_users;
mod broker;
mod browser_account;
mod browser_e2e;
mod browser_keycloak_js;
mod browser_mail;
mod browser_passkeys;
mod cli_and_demo;
mod events;
mod flow_cli;
mod flow_signin;
mod harness;
mod keycloak_clients;
mod keycloak_compat;
mod keycloak_import;
mod keys_and_sessions;
mod layering;
mod mail;
mod multi_node;
mod oidc_errors;
mod oidc_flow;
mod oidc_protocol;
mod operations;
mod organizations;
mod organizations_console;
mod passkeys;
mod realm_as_code;
mod realm_errors;
mod realm_files;
mod scale_out;
mod seed;
mod sms;
mod step_up;
mod themes;
mod trusted_devices;
