//! Operability: `/metrics` in the Prometheus text format and `/api/v1/status`, both behind
//! the token, their numbers after known scenarios on both stores, a worker-only binary's
//! metrics listener, and one JSON log line per attempt from the real binary.

mod binary;
mod exposition;
mod metrics;
mod status;

use crate::helpers::TestApp;
use exposition::Exposition;
use reqwest::StatusCode;

/// `GET /metrics` with the token, checked against the exposition grammar.
pub async fn scrape(app: &TestApp) -> Exposition {
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("the metrics endpoint answers");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "content type {content_type:?}"
    );
    Exposition::parse(&response.text().await.expect("a text body"))
}
