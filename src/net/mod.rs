//! The address policy (SSRF protection): Hookline POSTs to URLs typed in by its users'
//! customers, so it must never reach loopback, private networks, cloud metadata services
//! or any other non-global address unless the operator opened that range.
//!
//! [`address`] classifies addresses (a pure function); [`PolicyResolver`] is the delivery
//! client's DNS resolver, which hands the connector only addresses it checked, so a name
//! cannot resolve to one address when checked and another when connected (no rebinding).
//! IP-literal hosts never reach a resolver: the sender and the API check them with
//! [`address::check`].

pub mod address;
mod range;
mod resolver;

pub use address::check;
pub use range::{Blocked, Embedding, POLICY_HINT, Range};
pub use resolver::{PolicyResolver, Refused};
