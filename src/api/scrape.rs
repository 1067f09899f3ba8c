//! `GET /metrics`: this process's metrics in the Prometheus text format (a Hookline
//! extension). Requires a token like the API; Prometheus sends it with
//! `authorization: {credentials: …}` in its scrape config.

use super::ApiState;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

/// The scrape route.
pub fn routes() -> Router<ApiState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(st): State<ApiState>) -> impl IntoResponse {
    let body = st.metrics.render(st.store.as_ref()).await;
    ([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body)
}
