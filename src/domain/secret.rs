//! Endpoint signing secrets: `whsec_` followed by base64 of 24–64 random bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use std::fmt;

const PREFIX: &str = "whsec_";
const MIN_BYTES: usize = 24;
const MAX_BYTES: usize = 64;

/// Why a secret supplied by a user was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The text after the optional `whsec_` prefix is not base64.
    #[error("secret must be base64, optionally prefixed with \"whsec_\"")]
    NotBase64,
    /// The decoded key is too short or too long.
    #[error("secret must decode to between 24 and 64 bytes; it decodes to {0}")]
    BadLength(usize),
}

/// The key material of an endpoint secret. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(Vec<u8>);

impl EndpointSecret {
    /// A new random 24-byte secret, the size Svix issues.
    pub fn generate() -> Self {
        let mut key = vec![0u8; MIN_BYTES];
        rand::thread_rng().fill_bytes(&mut key);
        Self(key)
    }

    /// Parses `whsec_<base64>` or bare base64.
    ///
    /// # Errors
    /// [`SecretError`] when the text is not base64 or the key has the wrong length.
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let b64 = s.strip_prefix(PREFIX).unwrap_or(s);
        let key = STANDARD.decode(b64).map_err(|_| SecretError::NotBase64)?;
        Self::from_key(key)
    }

    /// Takes raw key bytes, e.g. decrypted from storage.
    ///
    /// # Errors
    /// [`SecretError::BadLength`] when the key is not 24–64 bytes long.
    pub fn from_key(key: Vec<u8>) -> Result<Self, SecretError> {
        if !(MIN_BYTES..=MAX_BYTES).contains(&key.len()) {
            return Err(SecretError::BadLength(key.len()));
        }
        Ok(Self(key))
    }

    /// The raw HMAC key.
    pub fn key(&self) -> &[u8] {
        &self.0
    }

    /// The `whsec_…` text form, as returned by `GET …/secret`.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }
}

impl fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EndpointSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_text_form() {
        let s = EndpointSecret::generate();
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(EndpointSecret::parse(&text), Ok(s));
    }

    #[test]
    fn accepts_bare_base64_and_refuses_bad_input() {
        let bare = STANDARD.encode([7u8; 32]);
        assert!(EndpointSecret::parse(&bare).is_ok());
        assert_eq!(
            EndpointSecret::parse("whsec_%%%"),
            Err(SecretError::NotBase64)
        );
        let short = STANDARD.encode([1u8; 8]);
        assert_eq!(
            EndpointSecret::parse(&short),
            Err(SecretError::BadLength(8))
        );
    }

    #[test]
    fn debug_output_hides_the_key() {
        let s = EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(format!("{s:?}"), "EndpointSecret(..)");
    }
}
