//! Delivery: the worker loop that claims due deliveries, signs and sends them, and records
//! what happened.
//!
//! Stages: `worker` claims (a lease per delivery, within its `slots`) and spawns one task
//! per attempt;
//! `sender` signs and POSTs; `retry` decides the next step; `recorder` writes outcomes in
//! batches; `retention` expunges expired payloads. No transaction is open while a request
//! is in flight.

pub mod gate;
mod recorder;
pub mod retention;
pub mod retry;
pub mod sender;
mod slots;
mod worker;

pub use worker::Worker;
