//! `GET /api/v1/health` and `/api/v1/health/ping`: liveness for load balancers, no auth.

use super::ApiState;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The health routes (`HEAD` is served by the same handlers).
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ping))
}

/// Whether the API is up: 204 with no body while it serves requests.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    operation_id = "v1.health.get",
    tag = "Health",
    responses((status = 204, description = "The API is up.")),
)]
async fn health() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The same as `/api/v1/health`, under the name some load balancers expect.
#[utoipa::path(
    get,
    path = "/api/v1/health/ping",
    operation_id = "v1.health.ping",
    tag = "Health",
    responses((status = 204, description = "The API is up.")),
)]
async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}
