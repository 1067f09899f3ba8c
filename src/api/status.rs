//! `GET /api/v1/status`: queue depth, recent throughput and open breakers, fleet-wide (a
//! Hookline extension, consumed by the dashboard at `/ui`).

use super::ApiState;
use super::error::ApiResult;
use super::wire::{BUCKET_WIDTH, OPEN_BREAKERS_SHOWN, StatusOut, throughput_start};
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The status route.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(status))
}

/// The fleet at a glance: deliveries by state, attempts over the last five minutes and the
/// endpoints whose breaker is not closed. Admin tokens only.
#[utoipa::path(
    get,
    path = "/api/v1/status",
    operation_id = "hookline.status.get",
    tag = "Operations",
    responses((status = 200, description = "The fleet's status.", body = StatusOut)),
)]
async fn status(State(st): State<ApiState>) -> ApiResult<Json<StatusOut>> {
    let now = chrono::Utc::now();
    let store = st.store.as_ref();
    let (queue, buckets, breakers) = tokio::try_join!(
        store.queue_depth(),
        store.attempt_counts(throughput_start(now), BUCKET_WIDTH),
        store.open_breakers(OPEN_BREAKERS_SHOWN),
    )?;
    Ok(Json(StatusOut::new(now, queue, &buckets, breakers.longest)))
}
