//! `/openapi.json`: Hookline's own OpenAPI document, held against the routes the server
//! really answers.

use crate::helpers::{StoreKind, TestApp, spawn_app};
use axum::http::{Method, StatusCode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Operations that need no token.
const OPEN: &[(&str, &str)] = &[
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/health/ping"),
    ("GET", "/openapi.json"),
];

/// Every operation of the Svix v1 reference, as (method, path). Whatever of these the server
/// answers must be in its document, so a route registered without its annotation fails
/// here, including routes added after this list was written as long as Svix has them.
const SVIX: &[(&str, &str)] = &[
    ("GET", "/api/v1/app"),
    ("POST", "/api/v1/app"),
    ("DELETE", "/api/v1/app/{app_id}"),
    ("GET", "/api/v1/app/{app_id}"),
    ("PATCH", "/api/v1/app/{app_id}"),
    ("PUT", "/api/v1/app/{app_id}"),
    ("GET", "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}"),
    ("GET", "/api/v1/app/{app_id}/attempt/msg/{msg_id}"),
    ("GET", "/api/v1/app/{app_id}/endpoint"),
    ("POST", "/api/v1/app/{app_id}/endpoint"),
    ("DELETE", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"),
    ("GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"),
    ("PATCH", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"),
    ("PUT", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"),
    ("GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers"),
    (
        "PATCH",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    ),
    ("PUT", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers"),
    ("GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg"),
    (
        "POST",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",
    ),
    ("GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret"),
    (
        "POST",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
    ),
    (
        "POST",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example",
    ),
    ("GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats"),
    ("GET", "/api/v1/app/{app_id}/msg"),
    ("POST", "/api/v1/app/{app_id}/msg"),
    ("GET", "/api/v1/app/{app_id}/msg/{msg_id}"),
    (
        "GET",
        "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
    ),
    (
        "DELETE",
        "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
    ),
    ("DELETE", "/api/v1/app/{app_id}/msg/{msg_id}/content"),
    ("GET", "/api/v1/app/{app_id}/msg/{msg_id}/endpoint"),
    (
        "POST",
        "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
    ),
    ("POST", "/api/v1/auth/app-portal-access/{app_id}"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/event-type"),
    ("POST", "/api/v1/event-type"),
    ("DELETE", "/api/v1/event-type/{event_type_name}"),
    ("GET", "/api/v1/event-type/{event_type_name}"),
    ("PATCH", "/api/v1/event-type/{event_type_name}"),
    ("PUT", "/api/v1/event-type/{event_type_name}"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/health/ping"),
];

/// The methods probed on every documented path.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The document's operations: (method, path) → operation object.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    let mut ops = BTreeMap::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("a path item is an object") {
            let method = method.to_ascii_uppercase();
            if METHODS.contains(&method.as_str()) {
                ops.insert((method, path.clone()), op.clone());
            }
        }
    }
    ops
}

/// `path` with every `{param}` replaced by a key that names nothing.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "probe-key"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// How the server answers `method` on `path`: with or without the token, empty body.
async fn probe(app: &TestApp, method: &str, path: &str, with_token: bool) -> (StatusCode, Value) {
    let method = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut req = app.client.request(method, app.url(&concrete(path)));
    if with_token {
        req = req.bearer_auth(&app.token);
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Whether an answer came from a route rather than the router's fallbacks (no such path,
/// or no such method on it).
fn is_served(status: StatusCode, body: &Value) -> bool {
    let unrouted = status == StatusCode::NOT_FOUND
        && body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("no route for"));
    !unrouted && status != StatusCode::METHOD_NOT_ALLOWED
}

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_routes_the_server_answers() {
    let app = spawn_app(StoreKind::Sqlite).await;
    let resp = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("GET /openapi.json");
    assert_eq!(resp.status(), StatusCode::OK, "served without a token");
    let content_type = resp.headers()["content-type"].to_str().expect("ASCII");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let doc: Value = resp.json().await.expect("the document is JSON");

    let version = doc["openapi"].as_str().expect("an `openapi` version");
    assert!(version.starts_with("3."), "OpenAPI 3.x, not {version}");
    assert_eq!(doc["info"]["title"], "Hookline");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let ops = operations(&doc);
    assert!(ops.len() >= 40, "only {} operations documented", ops.len());
    let mut ids = BTreeSet::new();
    for ((method, path), op) in &ops {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
    }

    // Every documented operation is served, and needs the token exactly when it says so.
    for (method, path) in ops.keys() {
        let (status, body) = probe(&app, method, path, true).await;
        assert!(
            is_served(status, &body),
            "{method} {path} is documented but not served: {status} {body}"
        );
        let open = OPEN.contains(&(method.as_str(), path.as_str()));
        let (status, body) = probe(&app, method, path, false).await;
        if open {
            assert!(
                status.is_success(),
                "{method} {path} without a token: {status} {body}"
            );
        } else {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token: {body}"
            );
        }
    }

    // Nothing is served that the document leaves out: no other method on a documented
    // path, and no Svix operation.
    let paths: BTreeSet<&str> = ops.keys().map(|(_, p)| p.as_str()).collect();
    let mut candidates: BTreeSet<(&str, &str)> = SVIX.iter().copied().collect();
    for path in &paths {
        candidates.extend(METHODS.iter().map(|m| (*m, *path)));
    }
    for (method, path) in candidates {
        if ops.contains_key(&(method.to_owned(), path.to_owned())) {
            continue;
        }
        let (status, body) = probe(&app, method, path, true).await;
        assert!(
            !is_served(status, &body),
            "{method} {path} is served but not documented: {status} {body}"
        );
    }
}

#[tokio::test]
async fn every_operation_but_health_requires_the_bearer_scheme() {
    let app = spawn_app(StoreKind::Sqlite).await;
    let resp = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("GET /openapi.json");
    let doc: Value = resp.json().await.expect("the document is JSON");

    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let bearer: Vec<&String> = schemes
        .iter()
        .filter(|(_, s)| s["type"] == "http" && s["scheme"] == "bearer")
        .map(|(name, _)| name)
        .collect();
    assert_eq!(bearer.len(), 1, "one bearer scheme: {schemes:?}");
    let required = serde_json::json!([{ bearer[0].as_str(): [] }]);

    for ((method, path), op) in operations(&doc) {
        let open = OPEN.contains(&(method.as_str(), path.as_str()));
        if open {
            assert!(
                op.get("security").is_none(),
                "{method} {path} is open but documents {}",
                op["security"]
            );
            continue;
        }
        assert_eq!(op["security"], required, "{method} {path}");
        let unauthorized = &op["responses"]["401"]["content"]["application/json"]["schema"];
        assert_eq!(
            unauthorized["$ref"], "#/components/schemas/HttpErrorOut",
            "{method} {path} documents its 401"
        );
        // Every POST honours idempotency-key but the token routes, where a replay would hand
        // a minted token out again or revoke nothing.
        let documents_key = op["parameters"].as_array().is_some_and(|params| {
            params
                .iter()
                .any(|p| p["name"] == "idempotency-key" && p["in"] == "header")
        });
        let idempotent = method == "POST" && !path.starts_with("/api/v1/auth/");
        assert_eq!(
            documents_key, idempotent,
            "{method} {path}: idempotency-key documented {documents_key}"
        );
        assert!(
            op["responses"].get("403").is_some(),
            "{method} {path} documents its 403"
        );
    }
    let error = &doc["components"]["schemas"]["HttpErrorOut"];
    assert_eq!(error["required"], serde_json::json!(["code", "detail"]));
}
