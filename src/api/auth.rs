//! Bearer-token authentication: who a request comes from.
//!
//! Two kinds of token. Admin tokens (`HOOKLINE_API_TOKEN`, or one generated on first start)
//! are held as SHA-256 hashes and compared in constant time. Application-scoped tokens
//! (`appsk_…`, minted by `POST /api/v1/auth/app-portal-access/{app_id}`) are looked up in
//! the store by the hash of their text, which is all the store keeps. What a principal may
//! then do is decided by [`super::access`]. Tokens are never logged.

use super::ApiState;
use super::access;
use super::error::ApiError;
use crate::domain::AppId;
use crate::store::{AppToken, Store};
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How every application-scoped token begins (Svix's prefix for app-portal tokens).
pub const APP_TOKEN_PREFIX: &str = "appsk_";

/// Who a request comes from, put in the request's extensions by [`require_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An admin token: the whole API.
    Admin,
    /// An application-scoped token: that application's routes only.
    App {
        /// The application the token grants access to.
        app_id: AppId,
        /// Hex SHA-256 of the token, so the token can revoke itself (logout).
        token_hash: String,
    },
}

/// The accepted admin tokens.
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

/// 32 random bytes, base64url without padding, after `prefix`.
fn random_token(prefix: &str) -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(raw))
}

/// A newly minted application-scoped token: its text, to hand out once, and its hash, to
/// store.
pub struct MintedToken {
    /// `appsk_…`: shown to the caller and never stored.
    pub text: String,
    /// Hex SHA-256 of `text`.
    pub hash: String,
}

impl MintedToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        let text = random_token(APP_TOKEN_PREFIX);
        let hash = to_hex(&hash(&text));
        Self { text, hash }
    }
}

impl Auth {
    /// Accepts exactly these admin tokens.
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
            let token = random_token("hl_");
            let h = hash(&token);
            store.insert_api_token_hash(&to_hex(&h)).await?;
            hashes.push(h);
            generated = Some(token);
        }
        Ok((Self { hashes }, generated))
    }

    /// Whether `token` is an admin token. Every stored hash is compared, in constant time.
    pub fn accepts(&self, token: &str) -> bool {
        let candidate = hash(token);
        self.hashes
            .iter()
            .fold(subtle::Choice::from(0), |acc, h| acc | h.ct_eq(&candidate))
            .into()
    }

    /// The principal `token` authenticates: an admin token, else a live application token.
    ///
    /// # Errors
    /// 401 for an unknown, revoked or expired token; 500 if the store fails.
    pub async fn authenticate(
        &self,
        store: &dyn Store,
        token: &str,
    ) -> Result<Principal, ApiError> {
        if self.accepts(token) {
            return Ok(Principal::Admin);
        }
        let invalid = || ApiError::Unauthenticated("the API token is not valid".into());
        if !token.starts_with(APP_TOKEN_PREFIX) {
            return Err(invalid());
        }
        let token_hash = to_hex(&hash(token));
        let found: Option<AppToken> = store.get_app_token(&token_hash).await?;
        match found {
            None => Err(invalid()),
            Some(t) if t.is_expired_at(chrono::Utc::now()) => Err(ApiError::Unauthenticated(
                "the application token has expired; mint a new one".into(),
            )),
            Some(t) => Ok(Principal::App {
                app_id: t.app_id,
                token_hash,
            }),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Middleware on every authenticated route: resolves the [`Principal`] (401 without a valid
/// token), asks [`access::authorize`] whether it may use the matched route (403 if not), and
/// passes it on in the request's extensions.
pub async fn require_token(
    State(st): State<ApiState>,
    route: Option<MatchedPath>,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(token) = header.and_then(bearer_token) else {
        return ApiError::Unauthenticated(
            "an Authorization: Bearer <token> header is required".into(),
        )
        .into_response();
    };
    let principal = match st.auth.authenticate(st.store.as_ref(), token).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let app_key = params.ok().and_then(|p| {
        p.iter()
            .find(|(name, _)| *name == access::APP_PARAM)
            .map(|(_, value)| value.to_owned())
    });
    let route = route.as_ref().map(MatchedPath::as_str);
    let decision = access::authorize(
        st.store.as_ref(),
        &principal,
        request.method(),
        route,
        app_key.as_deref(),
    )
    .await;
    if let Err(e) = decision {
        return e.into_response();
    }
    request.extensions_mut().insert(principal);
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

    #[test]
    fn minted_tokens_are_random_prefixed_and_known_by_their_hash() {
        let a = MintedToken::generate();
        let b = MintedToken::generate();
        assert_ne!(a.text, b.text);
        let body = a.text.strip_prefix(APP_TOKEN_PREFIX).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert_eq!(a.hash, to_hex(&hash(&a.text)));
        assert!(!a.hash.contains(body));
    }
}
