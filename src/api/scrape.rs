//! `GET /metrics`: this process's metrics in the Prometheus text format (a Hookline
//! extension). Requires a token like the API; Prometheus sends it with
//! `authorization: {credentials: …}` in its scrape config.

use super::ApiState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The scrape route.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(scrape))
}

/// This process's counters and histograms, and the fleet's queue gauges, in the Prometheus
/// text format. Admin tokens only.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "hookline.metrics.get",
    tag = "Operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4.", content_type = "text/plain", body = String)),
)]
async fn scrape(State(st): State<ApiState>) -> impl IntoResponse {
    let body = st.metrics.render(st.store.as_ref()).await;
    ([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body)
}
