//! Bearer-token authentication. Tokens are only ever held as SHA-256 hashes and compared in
//! constant time.

use crate::store::Store;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The set of accepted tokens.
pub struct Auth {
    hashes: Vec<[u8; 32]>,
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Auth {
    /// Accepts exactly these tokens.
    pub fn from_tokens(tokens: &[String]) -> Self {
        Self {
            hashes: tokens.iter().map(|t| hash(t)).collect(),
        }
    }

    /// The configured tokens if any; otherwise the tokens kept in the store, generating
    /// and storing one on first start. Returns the generated token so it can be shown once.
    ///
    /// # Errors
    /// If the store cannot be read or written.
    pub async fn resolve(
        configured: &[String],
        store: &dyn Store,
    ) -> anyhow::Result<(Self, Option<String>)> {
        if !configured.is_empty() {
            return Ok((Self::from_tokens(configured), None));
        }
        let mut hashes: Vec<[u8; 32]> = store
            .api_token_hashes()
            .await?
            .iter()
            .filter_map(|h| from_hex(h))
            .collect();
        let mut generated = None;
        if hashes.is_empty() {
            let mut raw = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut raw);
            let token = format!("hl_{}", URL_SAFE_NO_PAD.encode(raw));
            let h = hash(&token);
            store.insert_api_token_hash(&to_hex(&h)).await?;
            hashes.push(h);
            generated = Some(token);
        }
        Ok((Self { hashes }, generated))
    }

    /// Whether `token` is accepted. Every stored hash is compared, in constant time.
    pub fn accepts(&self, token: &str) -> bool {
        let candidate = hash(token);
        self.hashes
            .iter()
            .fold(subtle::Choice::from(0), |acc, h| acc | h.ct_eq(&candidate))
            .into()
    }
}

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Middleware: lets a request through only with an accepted bearer token; otherwise a 401
/// `authentication_failed`. The token is never logged.
pub async fn require_token(
    axum::extract::State(auth): axum::extract::State<std::sync::Arc<Auth>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(token) = header.and_then(bearer_token) else {
        return super::error::ApiError::Unauthenticated(
            "an Authorization: Bearer <token> header is required".into(),
        )
        .into_response();
    };
    if !auth.accepts(token) {
        return super::error::ApiError::Unauthenticated("the API token is not valid".into())
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_configured_tokens_only() {
        let auth = Auth::from_tokens(&["first-token-0123456".into(), "second-token-abcdef".into()]);
        assert!(auth.accepts("second-token-abcdef"));
        assert!(!auth.accepts("second-token-abcde"));
        assert!(!auth.accepts(""));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }

    #[test]
    fn hex_round_trips() {
        let h = hash("x");
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
        assert_eq!(from_hex("zz"), None);
    }
}
