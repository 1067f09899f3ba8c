//! Inputs the schemathesis run found that once made the server answer 500, each kept as a
//! test on both stores.

use crate::helpers::{StoreKind, per_store, spawn_app};
use axum::http::StatusCode;
use serde_json::json;

per_store!(event_type_schemas_keep_the_largest_and_smallest_numbers_json_allows);

/// Postgres keeps `schemas` as jsonb, which prints `1.7976931348623157e308` as 309 digits;
/// reading those back must give the same number, not a corrupt-row 500.
async fn event_type_schemas_keep_the_largest_and_smallest_numbers_json_allows(store: StoreKind) {
    let app = spawn_app(store).await;
    let schemas = json!({
        "1": {
            "max": 1.797_693_134_862_315_7e308,
            "min": -1.797_693_134_862_315_7e308,
            "tiny": 5e-324,
            "big": 4_074_533_986_184_492_562_242_514_976_768.0_f64,
        }
    });
    let body = json!({ "description": "extremes", "schemas": schemas });
    let (status, created) = app.put("/api/v1/event-type/num.extremes", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["schemas"], schemas);

    let (status, read) = app.get("/api/v1/event-type/num.extremes").await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["schemas"], schemas);
    let (status, listed) = app.get("/api/v1/event-type?with_content=true").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["data"][0]["schemas"], schemas);
}
