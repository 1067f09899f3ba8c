//! Hookline's integration tests, one binary: the real service on port 0 over a fresh SQLite
//! file per test, a real receiver on loopback, the official Svix SDK, and the real binary.
//!
//! Run with `cargo test --test integration`; `TEST_LOG=1` shows the service's logs.

mod api;
mod binary;
mod delivery;
mod helpers;
mod isolation;
mod pg_support;
mod receiver;
mod retries;
mod sdk;
mod store_conformance;
