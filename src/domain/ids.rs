//! Prefixed, time-sortable identifiers (`app_…`, `ep_…`, `msg_…`, `atmpt_…`).
//!
//! The part after the prefix is a ULID: 48 bits of milliseconds then 80 random bits in
//! Crockford base32, so lexical order is creation order, which is what iterator pagination
//! relies on. Within one process ids are strictly increasing even inside one millisecond:
//! the random part of a later id in the same millisecond is the previous one plus one.

use std::fmt;
use std::sync::Mutex;

/// The process's ULID source, monotonic within a millisecond.
static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());

/// A new ULID, later than every one this process generated before.
fn next_ulid() -> ulid::Ulid {
    let mut generator = GENERATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // `generate` fails only when 2^80 ids were made in one millisecond; fall back to a
    // fresh random one rather than fail.
    generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with, including the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id stamped with the current time.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, next_ulid()))
            }

            /// Accepts a string that looks like an id of this kind (right prefix, ULID body).
            /// Anything else is treated by callers as a `uid`.
            pub fn parse(s: &str) -> Option<Self> {
                let body = s.strip_prefix($prefix)?;
                ulid::Ulid::from_string(body).ok()?;
                Some(Self(s.to_owned()))
            }

            /// Wraps a value read back from the store, which only ever holds valid ids.
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// Identifies an application (one per customer of the platform).
    AppId, "app_"
);
prefixed_id!(
    /// Identifies an endpoint within an application.
    EndpointId, "ep_"
);
prefixed_id!(
    /// Identifies a message; sent to receivers as `webhook-id`.
    MessageId, "msg_"
);
prefixed_id!(
    /// Identifies one delivery attempt.
    AttemptId, "atmpt_"
);
prefixed_id!(
    /// Identifies a background task such as an endpoint recovery.
    TaskId, "qtask_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = MessageId::generate();
        assert!(id.as_str().starts_with("msg_"));
        assert_eq!(MessageId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn ids_of_another_kind_or_malformed_are_not_ids() {
        let app = AppId::generate();
        assert_eq!(EndpointId::parse(app.as_str()), None);
        assert_eq!(AppId::parse("app_not-a-ulid"), None);
        assert_eq!(AppId::parse("my-customer"), None);
    }

    #[test]
    fn ids_made_in_the_same_millisecond_are_in_order() {
        let ids: Vec<MessageId> = (0..1000).map(|_| MessageId::generate()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let a = AttemptId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = AttemptId::generate();
        assert!(a < b);
    }
}
