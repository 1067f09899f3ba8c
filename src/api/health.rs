//! `GET /api/v1/health` and `/api/v1/health/ping`: liveness for load balancers, no auth.

use super::ApiState;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

/// The health routes (`HEAD` is served by the same handlers).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/health", get(ok))
        .route("/api/v1/health/ping", get(ok))
}

async fn ok() -> StatusCode {
    StatusCode::NO_CONTENT
}
