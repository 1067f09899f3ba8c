//! Hookline: resilient outbound webhook delivery, wire-compatible with the Svix v1 API.
//!
//! The library holds everything; `main.rs` only parses the command line. Tests and benches
//! build the real service with [`Application::build`] and run it on a port of their choosing.

pub mod api;
mod app;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod metrics;
pub mod net;
pub mod signing;
pub mod store;
pub mod telemetry;

pub use app::{Application, Role, open_store};
pub use config::Config;
