//! Operations at the ground floor: Prometheus counters, log set-up and log-safe text, and
//! per-address budgets, approximate locations of addresses. Nothing here decides anything about identities; it observes, and it
//! imports nothing else of the crate.

pub mod budget;
pub mod files;
pub mod gauge;
pub mod geoip;
pub mod logging;
pub mod metrics;
pub mod ranges;
