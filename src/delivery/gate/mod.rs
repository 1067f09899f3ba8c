//! Receiver isolation, decided at claim time from state kept in the store so it holds
//! across the whole fleet: the circuit breaker, the bulkhead and the rate limits.

pub mod breaker;
pub mod plan;
pub mod sending;

pub use breaker::{BreakerPolicy, BreakerState, EndpointGate, is_receiver_failure};
pub use plan::{Candidate, ClaimPolicy, Grant, Plan};
pub use sending::{Sending, SendingCounts, SendingMark};
