//! The management API: Svix v1-compatible routes, grouped by resource.
//!
//! Every route but health and the dashboard's static files requires a bearer token: an
//! admin token, or an application-scoped one limited to its application (see `access`);
//! `/metrics` and `/api/v1/status` are admin-only. Request bodies are capped at
//! `HOOKLINE_MAX_PAYLOAD`; POSTs honour `idempotency-key`. All errors, including unknown
//! routes and rejected extractors, are `{"code", "detail"}` JSON.

pub mod access;
mod applications;
mod attempts;
mod auth;
mod endpoint_ops;
mod endpoints;
pub mod error;
mod event_types;
pub mod extract;
mod health;
pub mod idempotency;
mod messages;
pub mod pagination;
pub mod params;
mod resolve;
mod scrape;
mod status;
mod tokens;
mod ui;
pub mod wire;

pub use auth::{Auth, Principal};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::DynStore;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use error::ApiError;
use std::sync::Arc;
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, HttpMakeClassifier, TraceLayer};
use tracing::Level;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The store.
    pub store: DynStore,
    /// The process configuration.
    pub config: Arc<Config>,
    /// Accepted admin tokens.
    pub auth: Arc<Auth>,
    /// The process's metrics.
    pub metrics: Metrics,
}

/// The whole API as one router.
pub fn router(state: ApiState) -> Router {
    // `route_layer` runs the middleware only for matched routes, so an unknown path is a
    // 404 rather than a 401. Layers listed later run first: auth (401, then 403), then
    // idempotency. The token routes stay outside idempotency: a replay would hand a minted
    // token out again (and keep it in the store in clear), and a replayed logout would
    // revoke nothing.
    let authenticated = Router::new()
        .merge(applications::routes())
        .merge(endpoints::routes())
        .merge(endpoint_ops::routes())
        .merge(event_types::routes())
        .merge(messages::routes())
        .merge(attempts::routes())
        .merge(status::routes())
        .merge(scrape::routes())
        .route_layer(from_fn_with_state(state.clone(), idempotency::middleware))
        .merge(tokens::routes())
        .route_layer(from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .merge(health::routes())
        .merge(ui::routes())
        .merge(authenticated)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_payload))
        .layer(request_tracing())
        .with_state(state)
}

/// What a process without the API serves on `HOOKLINE_METRICS_LISTEN`: `/metrics` (with a
/// token) and the health routes.
pub fn metrics_router(state: ApiState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(scrape::routes().route_layer(from_fn_with_state(state.clone(), auth::require_token)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(request_tracing())
        .with_state(state)
}

/// How a request is named in logs: its method and path, never the query string or headers,
/// which can carry credentials.
type RequestSpan = fn(&axum::http::Request<axum::body::Body>) -> tracing::Span;

/// A span and a line per request at debug level only: at the default `info` the request
/// path stays silent, and 5xx responses are still logged as errors.
fn request_tracing() -> TraceLayer<HttpMakeClassifier, RequestSpan> {
    TraceLayer::new_for_http()
        .make_span_with(crate::telemetry::request_span as RequestSpan)
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
