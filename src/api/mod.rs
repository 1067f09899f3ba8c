//! The management API: Svix v1-compatible routes, grouped by resource.
//!
//! Every route but health and `/openapi.json` requires a bearer token. Request bodies are
//! capped at `HOOKLINE_MAX_PAYLOAD`; POSTs honour `idempotency-key`. All errors, including
//! unknown routes and rejected extractors, are `{"code", "detail"}` JSON. Routes are
//! registered with their OpenAPI annotations (see [`openapi`]), so the document served at
//! `/openapi.json` lists exactly the routes served.

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
pub mod wire;

pub use auth::Auth;

use crate::config::Config;
use crate::store::DynStore;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::{Extension, Router};
use error::ApiError;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The store.
    pub store: DynStore,
    /// The process configuration.
    pub config: Arc<Config>,
    /// Accepted tokens.
    pub auth: Arc<Auth>,
}

/// The whole API as one router, with its OpenAPI document at `/openapi.json`.
///
/// # Errors
/// If the document cannot be serialized (a bug in an annotation).
pub fn router(state: ApiState) -> serde_json::Result<Router> {
    // Each resource's `routes()` is an `OpenApiRouter` of annotated handlers (see `openapi`).
    let mut authenticated = OpenApiRouter::new()
        .merge(applications::routes())
        .merge(endpoints::routes())
        .merge(endpoint_ops::routes())
        .merge(event_types::routes())
        .merge(messages::routes())
        .merge(attempts::routes());
    openapi::secure(authenticated.get_openapi_mut());
    // `route_layer` runs the middleware only for matched routes, so an unknown path is a
    // 404 rather than a 401. Layers listed later run first: auth, then idempotency.
    let authenticated = authenticated
        .route_layer(from_fn_with_state(state.clone(), idempotency::middleware))
        .route_layer(from_fn_with_state(state.auth.clone(), auth::require_token));
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::base())
        .merge(health::routes())
        .merge(openapi::routes())
        .merge(authenticated)
        .split_for_parts();
    openapi::complete(&mut doc);
    Ok(router
        .layer(Extension(openapi::Document::new(&doc)?))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_payload))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
