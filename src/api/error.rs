//! The one place errors become HTTP: every failure a handler can end in is an [`ApiError`],
//! rendered as Svix's `{"code": "...", "detail": "..."}` body.
//!
//! Server-side failures (`Internal`) reveal nothing to the client: the body says
//! "internal server error" and the full `source()` chain is logged once, here.

use crate::store::StoreError;
use crate::telemetry::error_chain;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::error::Error as StdError;

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

/// Every way a request can fail, each with its status and `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `bad_request`: the request could not be read at all (e.g. malformed JSON).
    #[error("{0}")]
    BadRequest(String),
    /// 401 `authentication_failed`: no bearer token, or one that is not accepted.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403 `forbidden`: the token is valid but does not grant this request.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not_found`: the detail names what is missing.
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`.
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// 408 `request_timeout`: the body did not arrive within `HOOKLINE_BODY_TIMEOUT`.
    #[error("the request body was not received within {0:?}")]
    RequestTimeout(std::time::Duration),
    /// 409 `conflict`: a uniqueness rule or a concurrent request with the same key.
    #[error("{0}")]
    Conflict(String),
    /// 413 `payload_too_large`: the body exceeds `HOOKLINE_MAX_PAYLOAD`.
    #[error("request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// 422 `validation`: the detail says which field is wrong and why.
    #[error("{0}")]
    Validation(String),
    /// 500 `internal`: a bug or an unavailable database; the cause is logged, not shown.
    #[error("internal server error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

impl ApiError {
    /// A 422 for `field`, e.g. `validation("eventType", "must not be empty")`.
    pub fn validation(field: &str, why: impl std::fmt::Display) -> Self {
        Self::Validation(format!("{field}: {why}"))
    }

    /// A 404 naming the missing thing, e.g. `not_found("application", "my-app")`.
    pub fn not_found(what: &str, key: &str) -> Self {
        Self::NotFound(format!("{what} {key:?} not found"))
    }

    /// A 500 wrapping the underlying error, which is logged when the response is built.
    pub fn internal(err: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Internal(err.into())
    }

    /// The HTTP status this error is sent with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable `code` of the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthenticated(_) => "authentication_failed",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout(_) => "request_timeout",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::Validation(_) => "validation",
            Self::Internal(_) => "internal",
        }
    }
}

/// Store failures: `NotFound` and `Conflict` are the client's business, the rest are ours.
/// Handlers that know *what* was not found use [`ApiError::not_found`] instead.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound("the requested resource was not found".into()),
            StoreError::Conflict(rule) => Self::Conflict(rule),
            other => Self::internal(other),
        }
    }
}

/// The wire shape of every error (Svix's `HttpErrorOut`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = HttpErrorOut)]
pub(crate) struct ErrorBody<'a> {
    /// What went wrong, for programs: `bad_request`, `authentication_failed`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `validation` or `internal`.
    #[schema(examples("validation"))]
    code: &'a str,
    /// What went wrong, for people; validation errors start with the field's name.
    #[schema(examples("limit: must be an integer from 1 to 250"))]
    detail: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Internal(cause) = &self {
            tracing::error!(error = %error_chain(cause.as_ref()), "request failed");
        }
        let body = ErrorBody {
            code: self.code(),
            detail: self.to_string(),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_client_or_server_errors() {
        assert_eq!(
            ApiError::from(StoreError::NotFound).status(),
            StatusCode::NOT_FOUND
        );
        let conflict = ApiError::from(StoreError::Conflict("uid already in use".into()));
        assert_eq!(conflict.code(), "conflict");
        assert_eq!(conflict.to_string(), "uid already in use");
        let internal = ApiError::from(StoreError::Corrupt("bad row".into()));
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(internal.to_string(), "internal server error");
    }

    #[test]
    fn validation_errors_name_the_field() {
        let err = ApiError::validation("eventType", "must not be empty");
        assert_eq!(err.to_string(), "eventType: must not be empty");
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
