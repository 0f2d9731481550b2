//! Gatehouse: an OpenID Connect identity provider with declarative authentication flows.
//! See DESIGN.md (in the repository's shared docs) and README.md for the big picture.

pub mod admin;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod events;
pub mod flow;
pub mod oidc;
pub mod ops;
pub mod realm;
pub mod server;
pub mod store;
pub mod web;
