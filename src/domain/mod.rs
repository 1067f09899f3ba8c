//! Values that cross module boundaries, parsed once at the edge ("parse, don't validate").
//!
//! Every type here can only be built through a constructor that checks it, so the store,
//! the worker and the API can rely on a value being well-formed without re-checking.

mod ids;
mod names;
pub mod routing;
mod secret;
mod url;

pub use ids::{AppId, AttemptId, EndpointId, MessageId, TaskId};
pub use names::{Channel, EventTypeName, Uid};
pub use secret::{EndpointSecret, SecretError};
pub use url::{EndpointUrl, ip_host};

/// Why a user-supplied value was refused; the message is shown to the client as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);
