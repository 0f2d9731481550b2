//! Operations: health checks, Prometheus metrics, request ids and the access log, and log
//! set-up. Nothing here decides anything about identities; it observes.

pub mod budget;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod request;
pub mod shutdown;
