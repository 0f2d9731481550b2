//! Gatehouse: an OpenID Connect identity provider with declarative authentication flows.
//! See ARCHITECTURE.md for the layers and what may import what, README.md for the big picture.

// The ground floor: plain values and the store.
pub mod config;
pub mod crypto;
pub mod events;
pub mod keyring;
pub mod ops;
pub mod realm;
pub mod store;
// What pages need.
pub mod web;
// The flow engine, the shared state, and the areas that serve requests.
pub mod account;
pub mod admin;
pub mod broker;
pub mod flow;
pub mod login;
pub mod mail;
pub mod oidc;
pub mod orgs;
pub mod sms;
pub mod state;
pub mod webauthn;
// The top: assembly, tools and the command line.
pub mod app;
pub mod cli;
pub mod tooling;
