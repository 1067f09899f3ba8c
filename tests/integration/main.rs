//! Hookline's integration tests, one binary: the real service on port 0 over a fresh store
//! per test (SQLite and Postgres alike, see `stores::per_store!`), a real receiver on
//! loopback, the official Svix SDK, and the real binary alone (`binary`) and as a fleet on
//! Postgres (`fleet`).
//!
//! Run with `cargo test --test integration`; `TEST_LOG=1` shows the in-process service's
//! logs, `-- --nocapture` the fleet tests' counts. The schemathesis run (`fuzz`) is ignored
//! unless asked for with `-- --include-ignored`, as `.ci/run` does. Postgres is expected at
//! `postgres://postgres@127.0.0.1:5432` (see `pg_support`).

mod access_rules;
mod address_policy;
mod api;
mod auth;
mod binary;
mod browser;
mod cli;
mod delivery;
mod fleet;
mod fuzz;
mod helpers;
mod isolation;
mod limits;
mod log_secrets;
mod observability;
mod openapi;
mod pages;
mod pg_counts;
mod pg_heads;
mod pg_payloads;
mod pg_plans;
mod pg_pool;
mod pg_support;
mod process;
mod properties;
mod receiver;
mod regressions;
mod retries;
mod sdk;
mod secrets_at_rest;
mod store_conformance;
mod stores;
