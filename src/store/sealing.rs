//! Endpoint secrets encrypted at rest.
//!
//! With `HOOKLINE_MAIN_SECRET` set, both stores keep each endpoint secret (the current one and
//! every retired one) as `enc:v1:<base64(nonce || ciphertext)>`: XChaCha20-Poly1305 with a
//! random 24-byte nonce per value, under a key derived from the main secret with HKDF-SHA256,
//! and the endpoint id as associated data, so a value copied into another endpoint's row does
//! not decrypt. Without a main secret they keep the `whsec_…` text.
//!
//! A one-row key check in the database, a known value sealed the same way, tells at start-up
//! whether the configured key is the one the secrets were sealed with
//! ([`Sealer::startup`]); its absence means nothing was ever sealed.

use super::{StoreError, StoreResult};
use crate::domain::EndpointSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// HKDF `info`: names the purpose, cipher and version of the derived key, so the same main
/// secret never yields this key for anything else, and a later scheme gets a key of its own.
const KEY_INFO: &[u8] = b"hookline/endpoint-secrets/xchacha20poly1305/v1";
/// Marks a sealed value; anything else is plaintext `whsec_…`.
const SEALED: &str = "enc:";
/// The only sealed format so far.
const SEALED_V1: &str = "enc:v1:";
/// XChaCha20's nonce length.
const NONCE_LEN: usize = 24;
/// Associated data of the key check; endpoint ids start with `ep_`, so no secret shares it.
const CHECK_AAD: &[u8] = b"hookline:key-check";
/// The known value the key check seals.
const CHECK_VALUE: &[u8] = b"hookline endpoint secrets at rest, v1";

/// Why a database cannot be used with the configured main secret. Raised at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    /// The database's secrets were sealed with another key.
    #[error(
        "HOOKLINE_MAIN_SECRET does not match the key this database's endpoint secrets were \
         encrypted with"
    )]
    WrongKey,
    /// The database's secrets are sealed and no key is configured.
    #[error(
        "this database's endpoint secrets are encrypted, but HOOKLINE_MAIN_SECRET is not set: \
         set it to the key they were encrypted with"
    )]
    KeyMissing,
}

/// What opening a database with a [`Sealer`] requires, given the database's key check.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Startup {
    /// No main secret and nothing sealed: secrets stay plaintext.
    Plaintext,
    /// The key is right: seal whatever is still plaintext, and store `new_check` when the
    /// database has no key check yet (encryption is being turned on).
    Seal {
        /// The key check to store, if none is stored.
        new_check: Option<String>,
    },
}

/// Seals and opens endpoint secrets for storage; plaintext when built without a main secret.
/// `Debug` never shows key material.
pub struct Sealer {
    cipher: Option<XChaCha20Poly1305>,
}

impl Sealer {
    /// A sealer keyed by `HOOKLINE_MAIN_SECRET`, or one that stores plaintext without it.
    pub fn new(main_secret: Option<&str>) -> Self {
        Self {
            cipher: main_secret.map(|m| XChaCha20Poly1305::new((&*derive_key(m)).into())),
        }
    }

    /// Whether values are encrypted.
    pub fn encrypts(&self) -> bool {
        self.cipher.is_some()
    }

    /// The stored form of `endpoint_id`'s secret `secret`.
    ///
    /// # Errors
    /// Never in practice: encryption fails only for inputs of gigabytes.
    pub(crate) fn seal_secret(
        &self,
        endpoint_id: &str,
        secret: &EndpointSecret,
    ) -> StoreResult<String> {
        match &self.cipher {
            None => Ok(secret.expose()),
            Some(cipher) => seal(cipher, endpoint_id.as_bytes(), secret.key()),
        }
    }

    /// Reads a stored secret of `endpoint_id`. Plaintext is accepted even with a key: it was
    /// written by a process still running without one, and is sealed at the next start.
    ///
    /// # Errors
    /// `Corrupt` if a sealed value does not decrypt (another key, an altered value, or a
    /// value copied from another endpoint) or there is no key to decrypt it with.
    pub(crate) fn open_secret(
        &self,
        endpoint_id: &str,
        stored: &str,
    ) -> StoreResult<EndpointSecret> {
        if !is_sealed(stored) {
            return EndpointSecret::parse(stored)
                .map_err(|e| StoreError::Corrupt(format!("secret of {endpoint_id}: {e}")));
        }
        let Some(cipher) = &self.cipher else {
            return Err(StoreError::Corrupt(format!(
                "the secret of {endpoint_id} is encrypted and HOOKLINE_MAIN_SECRET is not set"
            )));
        };
        let key = open(cipher, endpoint_id.as_bytes(), stored).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the secret of {endpoint_id} does not decrypt with HOOKLINE_MAIN_SECRET \
                 (altered, or copied from another endpoint)"
            ))
        })?;
        EndpointSecret::from_key(key)
            .map_err(|e| StoreError::Corrupt(format!("secret of {endpoint_id}: {e}")))
    }

    /// Decides what start-up must do, given the key check stored in the database.
    ///
    /// # Errors
    /// [`SealingError::WrongKey`] if the check was sealed with another key,
    /// [`SealingError::KeyMissing`] if there is a check and no key.
    pub(crate) fn startup(&self, stored_check: Option<&str>) -> StoreResult<Startup> {
        match (&self.cipher, stored_check) {
            (None, None) => Ok(Startup::Plaintext),
            (None, Some(_)) => Err(SealingError::KeyMissing.into()),
            (Some(cipher), Some(check)) => match open(cipher, CHECK_AAD, check) {
                Some(value) if value == CHECK_VALUE => Ok(Startup::Seal { new_check: None }),
                _ => Err(SealingError::WrongKey.into()),
            },
            (Some(cipher), None) => Ok(Startup::Seal {
                new_check: Some(seal(cipher, CHECK_AAD, CHECK_VALUE)?),
            }),
        }
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.encrypts() {
            "XChaCha20-Poly1305"
        } else {
            "plaintext"
        };
        f.debug_struct("Sealer").field("mode", &mode).finish()
    }
}

/// Whether a stored value is sealed (any version) rather than `whsec_…` text.
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED)
}

/// The cipher key for `main_secret`, wiped from memory when dropped.
fn derive_key(main_secret: &str) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 255 × 32, so expanding cannot fail.
    Hkdf::<Sha256>::new(None, main_secret.as_bytes())
        .expand(KEY_INFO, key.as_mut())
        .unwrap_or_else(|_| unreachable!("HKDF-SHA256 expands to 32 bytes"));
    key
}

/// `enc:v1:<base64(nonce || ciphertext)>` of `plaintext` bound to `aad`.
///
/// # Errors
/// Never in practice: XChaCha20-Poly1305 refuses only messages of hundreds of gigabytes.
fn seal(cipher: &XChaCha20Poly1305, aad: &[u8], plaintext: &[u8]) -> StoreResult<String> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| StoreError::Corrupt("a value is too long to encrypt".into()))?;
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&ciphertext);
    Ok(format!("{SEALED_V1}{}", STANDARD.encode(blob)))
}

/// The plaintext of a sealed value, if it is well-formed and authentic under `aad`.
fn open(cipher: &XChaCha20Poly1305, aad: &[u8], stored: &str) -> Option<Vec<u8>> {
    let blob = STANDARD.decode(stored.strip_prefix(SEALED_V1)?).ok()?;
    if blob.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const MAIN: &str = "correct horse battery staple";
    const EP: &str = "ep_2a6Yb0dG8oJ0qT2m3sXo1uZk9cV";

    fn secret() -> EndpointSecret {
        EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
    }

    fn sealed() -> String {
        Sealer::new(Some(MAIN)).seal_secret(EP, &secret()).unwrap()
    }

    /// The stored value with one byte of its decoded blob changed at `at`.
    fn flip(stored: &str, at: usize) -> String {
        let mut blob = STANDARD
            .decode(stored.strip_prefix(SEALED_V1).unwrap())
            .unwrap();
        blob[at] ^= 0x01;
        format!("{SEALED_V1}{}", STANDARD.encode(blob))
    }

    #[test]
    fn a_sealed_secret_round_trips_and_shows_nothing_of_the_key() {
        let stored = sealed();
        assert!(stored.starts_with("enc:v1:"), "{stored}");
        assert!(!stored.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        let opened = Sealer::new(Some(MAIN)).open_secret(EP, &stored).unwrap();
        assert_eq!(opened, secret());
    }

    #[test]
    fn without_a_main_secret_secrets_are_stored_as_whsec_text() {
        let plain = Sealer::new(None);
        let stored = plain.seal_secret(EP, &secret()).unwrap();
        assert_eq!(stored, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(plain.open_secret(EP, &stored).unwrap(), secret());
        let keyed = Sealer::new(Some(MAIN));
        assert_eq!(
            keyed.open_secret(EP, &stored).unwrap(),
            secret(),
            "plaintext left by a process without the key is still read"
        );
        let err = plain.open_secret(EP, &sealed()).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("HOOKLINE_MAIN_SECRET")),
            "{err}"
        );
    }

    #[test]
    fn any_altered_byte_is_detected() {
        let stored = sealed();
        let len = STANDARD
            .decode(stored.strip_prefix(SEALED_V1).unwrap())
            .unwrap()
            .len();
        let sealer = Sealer::new(Some(MAIN));
        for at in [0, NONCE_LEN - 1, NONCE_LEN, len / 2, len - 1] {
            let err = sealer.open_secret(EP, &flip(&stored, at)).unwrap_err();
            assert!(matches!(err, StoreError::Corrupt(_)), "byte {at}: {err}");
        }
        for broken in ["enc:v1:", "enc:v1:%%%", "enc:v1:AAAA", "enc:v2:AAAA"] {
            assert!(
                matches!(sealer.open_secret(EP, broken), Err(StoreError::Corrupt(_))),
                "{broken}"
            );
        }
    }

    #[test]
    fn another_main_secret_cannot_open_it() {
        let other = Sealer::new(Some("a different main secret"));
        let err = other.open_secret(EP, &sealed()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    }

    #[test]
    fn a_value_copied_to_another_endpoint_does_not_open() {
        let sealer = Sealer::new(Some(MAIN));
        let err = sealer
            .open_secret("ep_2a6Yb0dG8oJ0qT2m3sXo1uZk9cW", &sealed())
            .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let sealer = Sealer::new(Some(MAIN));
        let mut nonces = HashSet::new();
        let mut values = HashSet::new();
        for _ in 0..1000 {
            let stored = sealer.seal_secret(EP, &secret()).unwrap();
            let blob = STANDARD
                .decode(stored.strip_prefix(SEALED_V1).unwrap())
                .unwrap();
            nonces.insert(blob[..NONCE_LEN].to_vec());
            values.insert(stored);
        }
        assert_eq!(nonces.len(), 1000, "a nonce was reused");
        assert_eq!(
            values.len(),
            1000,
            "the same secret sealed twice looks the same"
        );
    }

    #[test]
    fn start_up_accepts_only_the_key_that_wrote_the_check() {
        let sealer = Sealer::new(Some(MAIN));
        let Ok(Startup::Seal {
            new_check: Some(check),
        }) = sealer.startup(None)
        else {
            panic!("a keyed start on a database without a check writes one");
        };
        assert_eq!(
            sealer.startup(Some(&check)).unwrap(),
            Startup::Seal { new_check: None }
        );
        let wrong = Sealer::new(Some("a different main secret"));
        assert!(matches!(
            wrong.startup(Some(&check)),
            Err(StoreError::Sealing(SealingError::WrongKey))
        ));
        assert!(matches!(
            Sealer::new(None).startup(Some(&check)),
            Err(StoreError::Sealing(SealingError::KeyMissing))
        ));
        assert_eq!(Sealer::new(None).startup(None).unwrap(), Startup::Plaintext);
        assert!(
            SealingError::WrongKey
                .to_string()
                .contains("HOOKLINE_MAIN_SECRET")
        );
        assert!(
            SealingError::KeyMissing
                .to_string()
                .contains("HOOKLINE_MAIN_SECRET")
        );
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let sealer = Sealer::new(Some(MAIN));
        let shown = format!("{sealer:?}");
        assert_eq!(shown, r#"Sealer { mode: "XChaCha20-Poly1305" }"#);
        let key = derive_key(MAIN);
        assert!(!shown.contains(MAIN));
        assert!(!shown.contains(&STANDARD.encode(key.as_ref())));
        assert_eq!(
            format!("{:?}", Sealer::new(None)),
            r#"Sealer { mode: "plaintext" }"#
        );
    }
}
