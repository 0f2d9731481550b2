//! The browser sign-in: the authorization endpoint starts it, the login-actions pages drive
//! the flow engine step by step, and a finished flow becomes an SSO session and an
//! authorization code for the client.

pub mod alerts;
pub mod broker;
mod broker_ask;
pub mod browser;
mod enrolment;
mod federated;
mod finish;
pub mod links;
pub mod routes;
pub mod sign_in;
