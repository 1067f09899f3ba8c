//! User-chosen names: `uid`s, event-type names and channels share one alphabet
//! (`[a-zA-Z0-9-_.]`) and differ only in their length limits.

use super::ParseError;
use std::fmt;

fn check_token(what: &str, s: &str, max: usize) -> Result<(), ParseError> {
    if s.is_empty() {
        return Err(ParseError(format!("{what} must not be empty")));
    }
    if s.len() > max {
        return Err(ParseError(format!(
            "{what} is {} characters long; the limit is {max}",
            s.len()
        )));
    }
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(ParseError(format!(
            "{what} may contain only letters, digits, '-', '_' and '.'; found {bad:?}"
        )));
    }
    Ok(())
}

macro_rules! token {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Checks the alphabet and length.
            ///
            /// # Errors
            /// A [`ParseError`] saying what is wrong with the value.
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                check_token($what, s, $max)?;
                Ok(Self(s.to_owned()))
            }

            /// Wraps a value read back from the store.
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

token!(
    /// A caller-chosen identifier usable wherever an id is accepted.
    Uid, "uid", 256
);
token!(
    /// The name of an event type, e.g. `invoice.paid`.
    EventTypeName, "event type", 256
);
token!(
    /// A channel a message is published on and an endpoint may subscribe to.
    Channel, "channel", 128
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        assert!(EventTypeName::parse("invoice.paid-v2_x").is_ok());
        assert!(Uid::parse("customer-42").is_ok());
    }

    #[test]
    fn refuses_empty_long_and_foreign_characters() {
        assert!(Uid::parse("").is_err());
        assert!(Channel::parse(&"a".repeat(129)).is_err());
        let err = EventTypeName::parse("invoice paid").unwrap_err();
        assert!(err.0.contains("' '"), "{err}");
        assert!(EventTypeName::parse("émoji").is_err());
    }
}
