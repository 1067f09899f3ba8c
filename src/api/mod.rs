//! The management API: Svix v1-compatible routes, grouped by resource.
//!
//! Every route but health, `/openapi.json` and the dashboard's static files requires a bearer
//! token: an admin token, or an application-scoped one limited to its application (see
//! `access`); `/metrics` and `/api/v1/status` are admin-only. Request bodies are capped at
//! `HOOKLINE_MAX_PAYLOAD`; POSTs honour `idempotency-key`. All errors, including unknown
//! routes and rejected extractors, are `{"code", "detail"}` JSON. API routes are registered
//! with their OpenAPI annotations (see [`openapi`]), so the document served at
//! `/openapi.json` lists exactly the routes served.

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
pub mod openapi;
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
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::{Extension, Router};
use error::ApiError;
use std::sync::Arc;
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, HttpMakeClassifier, TraceLayer};
use tracing::Level;
use utoipa_axum::router::OpenApiRouter;

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

/// The whole API as one router, with its OpenAPI document at `/openapi.json`.
///
/// # Errors
/// If the document cannot be serialized (a bug in an annotation).
pub fn router(state: ApiState) -> serde_json::Result<Router> {
    // Each resource's `routes()` is an `OpenApiRouter` of annotated handlers (see `openapi`).
    let mut idempotent = OpenApiRouter::new()
        .merge(applications::routes())
        .merge(endpoints::routes())
        .merge(endpoint_ops::routes())
        .merge(event_types::routes())
        .merge(messages::routes())
        .merge(attempts::routes());
    openapi::secure(idempotent.get_openapi_mut(), true);
    // The token routes stay outside idempotency: a replay would hand a minted token out
    // again (and keep it in the store in clear), and a replayed logout would revoke nothing.
    let mut other = OpenApiRouter::new()
        .merge(tokens::routes())
        .merge(status::routes())
        .merge(scrape::routes());
    openapi::secure(other.get_openapi_mut(), false);
    // `route_layer` runs the middleware only for matched routes, so an unknown path is a
    // 404 rather than a 401. Layers listed later run first: auth (401, then 403), then
    // idempotency.
    let authenticated = idempotent
        .route_layer(from_fn_with_state(state.clone(), idempotency::middleware))
        .merge(other)
        .route_layer(from_fn_with_state(state.clone(), auth::require_token));
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::base())
        .merge(health::routes())
        .merge(openapi::routes())
        .merge(authenticated)
        .split_for_parts();
    openapi::complete(&mut doc);
    Ok(router
        .merge(ui::routes())
        .layer(Extension(openapi::Document::new(&doc)?))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_payload))
        .layer(request_tracing())
        .with_state(state))
}

/// What a process without the API serves on `HOOKLINE_METRICS_LISTEN`: `/metrics` (with a
/// token) and the health routes.
pub fn metrics_router(state: ApiState) -> Router {
    let (router, _) = OpenApiRouter::new()
        .merge(health::routes())
        .merge(scrape::routes().route_layer(from_fn_with_state(state.clone(), auth::require_token)))
        .split_for_parts();
    router
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
