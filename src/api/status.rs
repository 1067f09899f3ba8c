//! `GET /api/v1/status`: queue depth, recent throughput and open breakers, fleet-wide (a
//! Hookline extension, consumed by the dashboard at `/ui`).

use super::ApiState;
use super::error::ApiResult;
use super::wire::{BUCKET_WIDTH, LAST_MINUTE, OPEN_BREAKERS_SHOWN, StatusOut, throughput_start};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

/// The status route.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/status", get(status))
}

async fn status(State(st): State<ApiState>) -> ApiResult<Json<StatusOut>> {
    let now = chrono::Utc::now();
    let minute_ago = now - chrono::Duration::from_std(LAST_MINUTE).unwrap_or_default();
    let store = st.store.as_ref();
    let (queue, minute, buckets, breakers) = tokio::try_join!(
        store.queue_depth(),
        store.attempt_counts(minute_ago, LAST_MINUTE),
        store.attempt_counts(throughput_start(now), BUCKET_WIDTH),
        store.open_breakers(OPEN_BREAKERS_SHOWN),
    )?;
    Ok(Json(StatusOut::new(
        now,
        queue,
        &minute,
        &buckets,
        breakers.longest,
    )))
}
