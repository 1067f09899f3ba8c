//! The `idempotency-key` header on POSTs: the same key with the same request returns the
//! first response again and changes nothing; with a different request it is refused.
//!
//! Keys are scoped by path (`{path}:{key}`). A request is identified by a fingerprint, the
//! SHA-256 of method, path, query and body. The handler of a request that owns a key runs
//! in its own task, so a client hanging up mid-request cannot leave the key stuck "in
//! progress": the outcome is always recorded (or the key released, on a 5xx or a panic).

use super::ApiState;
use super::error::ApiError;
use super::extract::read_body_within;
use crate::store::{IdempotencyState, StoredResponse};
use crate::telemetry::error_chain;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The request header carrying the key.
pub const HEADER: &str = "idempotency-key";
/// Response header marking a replayed response.
const REPLAYED: &str = "idempotent-replayed";
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 256;
/// Largest response body that is stored for replay; POST responses are far smaller.
const MAX_STORED_RESPONSE: usize = 16 * 1024 * 1024;

/// Hex SHA-256 of the parts that make two requests "the same request".
pub fn fingerprint(method: &Method, path: &str, query: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [
        method.as_str().as_bytes(),
        path.as_bytes(),
        query.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The store key: the client's key scoped by path, so one key may be reused across routes.
pub fn scoped_key(path: &str, key: &str) -> String {
    format!("{path}:{key}")
}

/// Checks the header value.
fn client_key(value: &HeaderValue) -> Result<&str, ApiError> {
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN);
    key.ok_or_else(|| {
        ApiError::validation(
            HEADER,
            format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )
    })
}

/// Whether a response is final and may be replayed: everything but server errors.
fn is_replayable(status: StatusCode) -> bool {
    !status.is_server_error()
}

/// A stored response, sent again.
fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let has_body = !stored.body.is_empty();
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    if has_body {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    } else {
        headers.remove(header::CONTENT_TYPE);
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Middleware: applies the idempotency protocol to POSTs that carry the header.
pub async fn middleware(State(st): State<ApiState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(value) = request.headers().get(HEADER).cloned() else {
        return next.run(request).await;
    };
    match guarded(st, value, request, next).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn guarded(
    st: ApiState,
    value: HeaderValue,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = client_key(&value)?;
    let (parts, body) = request.into_parts();
    let bytes = read_body_within(
        Request::from_parts(parts.clone(), body),
        st.config.max_payload,
        st.config.body_timeout,
    )
    .await?;
    let path = parts.uri.path();
    let fp = fingerprint(&parts.method, path, parts.uri.query().unwrap_or(""), &bytes);
    let key = scoped_key(path, key);

    match st.store.idempotency_begin(&key, &fp).await? {
        IdempotencyState::Completed(stored) => Ok(replay(stored)),
        IdempotencyState::InProgress => Err(ApiError::Conflict(
            "a request with this idempotency-key is still in progress".into(),
        )),
        IdempotencyState::Mismatch => Err(ApiError::Validation(
            "idempotency-key was already used with a different request".into(),
        )),
        IdempotencyState::Started => {
            let request = Request::from_parts(parts, Body::from(bytes));
            let task = tokio::spawn(run_and_record(st.clone(), key.clone(), request, next));
            match task.await {
                Ok(response) => Ok(response),
                Err(join) => {
                    abandon(&st, &key).await;
                    Err(ApiError::internal(join))
                }
            }
        }
    }
}

/// Runs the handler, then records its response for replay, or frees the key on a 5xx.
async fn run_and_record(st: ApiState, key: String, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !is_replayable(status) {
        abandon(&st, &key).await;
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_STORED_RESPONSE).await {
        Ok(b) => b,
        Err(e) => {
            abandon(&st, &key).await;
            return ApiError::internal(e).into_response();
        }
    };
    let stored = StoredResponse {
        status: status.as_u16(),
        body: bytes.to_vec(),
    };
    if let Err(e) = st.store.idempotency_complete(&key, &stored).await {
        // The work is done; the client still gets its answer. A retry would find the key
        // in progress (409) rather than repeat the work.
        tracing::error!(error = %error_chain(&e), "could not record an idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn abandon(st: &ApiState, key: &str) {
    if let Err(e) = st.store.idempotency_abandon(key).await {
        tracing::error!(error = %error_chain(&e), "could not release an idempotency key");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_when_any_part_differs() {
        let base = fingerprint(&Method::POST, "/api/v1/app", "", b"{}");
        assert_eq!(base, fingerprint(&Method::POST, "/api/v1/app", "", b"{}"));
        assert_eq!(base.len(), 64);
        for other in [
            fingerprint(&Method::PUT, "/api/v1/app", "", b"{}"),
            fingerprint(&Method::POST, "/api/v1/app/x", "", b"{}"),
            fingerprint(&Method::POST, "/api/v1/app", "get_if_exists=true", b"{}"),
            fingerprint(&Method::POST, "/api/v1/app", "", b"{ }"),
            // Moving bytes between parts must not collide.
            fingerprint(&Method::POST, "/api/v1/ap", "p", b"{}"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn keys_are_scoped_by_path_and_checked() {
        assert_eq!(scoped_key("/api/v1/app", "k1"), "/api/v1/app:k1");
        assert!(client_key(&HeaderValue::from_static("abc")).is_ok());
        assert!(client_key(&HeaderValue::from_static("  ")).is_err());
        let long = HeaderValue::from_str(&"k".repeat(257)).unwrap();
        assert!(client_key(&long).is_err());
    }

    #[test]
    fn only_server_errors_are_not_replayed() {
        assert!(is_replayable(StatusCode::ACCEPTED));
        assert!(is_replayable(StatusCode::CONFLICT));
        assert!(is_replayable(StatusCode::UNPROCESSABLE_ENTITY));
        assert!(!is_replayable(StatusCode::INTERNAL_SERVER_ERROR));
    }

    #[test]
    fn replays_carry_json_content_type_and_a_marker() {
        let r = replay(StoredResponse {
            status: 202,
            body: b"{}".to_vec(),
        });
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(r.headers()[REPLAYED], "true");
        let empty = replay(StoredResponse {
            status: 204,
            body: vec![],
        });
        assert!(empty.headers().get(header::CONTENT_TYPE).is_none());
    }
}
