//! The top floor: assembles the shared state, puts every area's handlers into one router,
//! listens, and runs the node's background work. Nothing below imports it.

mod cors;
pub mod health;
pub mod metrics;
pub mod request;
pub mod router;
pub mod serve;
pub mod shutdown;
mod start;

pub use start::{RunningServer, StartError, load, load_for_serving, start};
