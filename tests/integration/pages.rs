//! The dashboard's and the API reference's static files: served without a token, with their
//! content types and a content security policy that allows only this origin.

use crate::helpers::{StoreKind, per_store, spawn_app};
use axum::http::StatusCode;

per_store!(the_dashboard_and_reference_are_served_with_a_strict_policy);

async fn the_dashboard_and_reference_are_served_with_a_strict_policy(store: StoreKind) {
    let app = spawn_app(store).await;
    for (path, content_type, needle) in [
        ("/ui", "text/html", "<title>Hookline</title>"),
        ("/ui/", "text/html", "<title>Hookline</title>"),
        ("/ui/app.js", "text/javascript", "function route()"),
        ("/ui/app.css", "text/css", ":root"),
        ("/docs", "text/html", "API reference"),
        ("/ui/docs.js", "text/javascript", "/openapi.json"),
        ("/ui/docs.css", "text/css", ".op"),
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(content_type), "{path}");
        let policy = header("content-security-policy");
        assert!(
            policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        let body = response.text().await.expect("body");
        assert!(body.contains(needle), "{path} lacks {needle:?}");
    }
    let (status, body) = app.get("/ui/missing.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
}
