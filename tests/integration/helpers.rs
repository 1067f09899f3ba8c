//! Test fixtures: the real service spawned in-process on port 0 over a fresh store of either
//! kind, typed API helpers, and polling with deadlines. The receiver lives in `receiver.rs`.

use axum::http::{Method, StatusCode};
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_util::sync::{CancellationToken, DropGuard};

pub use crate::receiver::{Received, Receiver, svix_verify, with_signature};
pub(crate) use crate::stores::per_store;
pub use crate::stores::{StoreKind, TestDatabase};

/// The bearer token every in-process app accepts.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// How long any wait in these tests may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Delivery status integers of the reference.
pub const SUCCESS: i64 = 0;
/// Given up.
pub const FAIL: i64 = 2;

/// Polls `probe` every 25 ms until it returns `Some`, failing the test after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Turns a response body into JSON: `Null` when empty, a string when not JSON.
pub fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Asserts that `body` is an error in the documented `{code, detail}` shape.
pub fn assert_error_shape(body: &Value, context: &str) {
    let code = body["code"].as_str();
    assert!(
        code.is_some_and(|c| !c.is_empty()),
        "{context}: error body has no string `code`: {body}"
    );
    let detail = &body["detail"];
    let ok = match detail {
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    };
    assert!(ok, "{context}: error body has no `detail`: {body}");
}

/// The service, running in this process until the value is dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A plain client with no default headers.
    pub client: reqwest::Client,
    /// The accepted token.
    pub token: String,
    // Fields drop in order: stop the service before its database is removed.
    _stop: Option<DropGuard>,
    _db: Option<TestDatabase>,
}

/// The test configuration: the database at `database_url`, port 0, short retries and polls,
/// loopback allowed.
pub fn test_config(database_url: String) -> hookline::Config {
    hookline::Config {
        database_url,
        listen: "127.0.0.1:0".parse().expect("literal address"),
        api_tokens: vec![TOKEN.to_owned()],
        retry_schedule: vec![Duration::from_millis(200); 3],
        request_timeout: Duration::from_secs(2),
        poll_interval: Duration::from_millis(50),
        allowed_subnets: vec!["127.0.0.0/8".parse().expect("literal CIDR")],
        ..Default::default()
    }
}

/// Spawns the service on a fresh store of `kind` with the test configuration.
pub async fn spawn_app(kind: StoreKind) -> TestApp {
    spawn_app_with(kind, |_| {}).await
}

/// Spawns the service on a fresh store of `kind` with the test configuration changed by
/// `tweak`.
pub async fn spawn_app_with(kind: StoreKind, tweak: impl FnOnce(&mut hookline::Config)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        hookline::telemetry::init(hookline::config::LogFormat::Pretty);
    }
    let db = TestDatabase::create(kind).await;
    let mut config = test_config(db.url());
    tweak(&mut config);
    let app = hookline::Application::build(config, hookline::Role::Serve)
        .await
        .expect("the application builds");
    let port = app.port().expect("Serve binds the API");
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        if let Err(e) = app.run_until_stopped(token).await {
            eprintln!("hookline stopped with an error: {e:#}");
        }
    });
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        token: TOKEN.to_owned(),
        _stop: Some(stop.drop_guard()),
        _db: Some(db),
    }
}

impl TestApp {
    /// A client for a Hookline running elsewhere (e.g. the real binary) on `port`.
    pub fn external(port: u16, token: &str) -> Self {
        Self {
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            token: token.to_owned(),
            _stop: None,
            _db: None,
        }
    }

    /// A client of the same service that sends `token` instead.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            address: self.address.clone(),
            client: self.client.clone(),
            token: token.to_owned(),
            _stop: None,
            _db: None,
        }
    }

    /// Absolute URL of an API path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends an authenticated request with an optional JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        send(req).await
    }

    /// Sends an authenticated POST with a raw body and extra headers.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, HeaderValue::from_str(value).expect("header value"));
        }
        send(req).await
    }

    /// Authenticated GET.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, None).await
    }

    /// Authenticated POST of a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, Some(body)).await
    }

    /// Authenticated PUT of a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.request(Method::PUT, path, Some(body)).await
    }

    /// Authenticated PATCH of a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.request(Method::PATCH, path, Some(body)).await
    }

    /// Creates an application and returns its id.
    pub async fn create_app(&self, name: &str) -> String {
        let (status, body) = self.post("/api/v1/app", &json!({ "name": name })).await;
        assert_eq!(status, StatusCode::CREATED, "create app: {body}");
        let id = body["id"].as_str().expect("application id").to_owned();
        assert!(id.starts_with("app_"), "application id {id}");
        id
    }

    /// Creates an endpoint for `url`, with any other `EndpointIn` fields from `extra`, and
    /// returns the `EndpointOut`.
    pub async fn create_endpoint(&self, app_id: &str, url: &str, extra: Value) -> Value {
        let mut body = json!({ "url": url });
        if let Value::Object(fields) = extra {
            for (k, v) in fields {
                body[k] = v;
            }
        }
        let (status, out) = self
            .post(&format!("/api/v1/app/{app_id}/endpoint"), &body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "create endpoint {body}: {out}");
        assert!(
            out["id"].as_str().is_some_and(|id| id.starts_with("ep_")),
            "endpoint id in {out}"
        );
        out
    }

    /// Creates an endpoint and returns only its id.
    pub async fn create_endpoint_id(&self, app_id: &str, url: &str, extra: Value) -> String {
        self.create_endpoint(app_id, url, extra).await["id"]
            .as_str()
            .expect("endpoint id")
            .to_owned()
    }

    /// The endpoint's current signing secret (`whsec_…`).
    pub async fn endpoint_secret(&self, app_id: &str, ep_id: &str) -> String {
        let (status, body) = self
            .get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}/secret"))
            .await;
        assert_eq!(status, StatusCode::OK, "get secret: {body}");
        body["key"].as_str().expect("secret key").to_owned()
    }

    /// Posts a message body as JSON.
    pub async fn post_message(&self, app_id: &str, body: &Value) -> (StatusCode, Value) {
        self.post(&format!("/api/v1/app/{app_id}/msg"), body).await
    }

    /// Posts a message of `event_type` and returns its id, asserting 202.
    pub async fn send_message(&self, app_id: &str, event_type: &str, payload: Value) -> String {
        let body = json!({ "eventType": event_type, "payload": payload });
        let (status, out) = self.post_message(app_id, &body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "create message: {out}");
        let id = out["id"].as_str().expect("message id").to_owned();
        assert!(id.starts_with("msg_"), "message id {id}");
        id
    }

    /// The `data` of a list response, asserting 200 and the list shape.
    pub async fn list(&self, path: &str) -> Vec<Value> {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        assert!(body["done"].is_boolean(), "GET {path}: no `done` in {body}");
        body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {path}: no `data` array in {body}"))
            .clone()
    }

    /// Every item of a listing, following `iterator` page by page (`path` has no query).
    pub async fn list_all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut page_path = format!("{path}?limit=250");
        for page in 0.. {
            assert!(page < 1000, "GET {path} does not end after {page} pages");
            let (status, body) = self.get(&page_path).await;
            assert_eq!(status, StatusCode::OK, "GET {page_path}: {body}");
            let data = body["data"]
                .as_array()
                .unwrap_or_else(|| panic!("GET {page_path}: no `data` array in {body}"));
            items.extend(data.iter().cloned());
            if body["done"] == true {
                break;
            }
            let iterator = body["iterator"]
                .as_str()
                .unwrap_or_else(|| panic!("GET {page_path}: not done but no iterator: {body}"));
            page_path = format!("{path}?limit=250&iterator={iterator}");
        }
        items
    }

    /// Attempts of a message, newest first.
    pub async fn list_attempts_by_msg(&self, app_id: &str, msg_id: &str) -> Vec<Value> {
        self.list(&format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}"))
            .await
    }

    /// Attempts to an endpoint, newest first.
    pub async fn list_attempts_by_endpoint(&self, app_id: &str, ep_id: &str) -> Vec<Value> {
        self.list(&format!("/api/v1/app/{app_id}/attempt/endpoint/{ep_id}"))
            .await
    }

    /// The endpoints a message was routed to, with their delivery status.
    pub async fn attempted_destinations(&self, app_id: &str, msg_id: &str) -> Vec<Value> {
        self.list(&format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint"))
            .await
    }

    /// The application's messages.
    pub async fn list_messages(&self, app_id: &str) -> Vec<Value> {
        self.list(&format!("/api/v1/app/{app_id}/msg")).await
    }

    /// The application's endpoints.
    pub async fn list_endpoints(&self, app_id: &str) -> Vec<Value> {
        self.list(&format!("/api/v1/app/{app_id}/endpoint")).await
    }

    /// Waits until the delivery of `msg_id` to `ep_id` has `status` and returns the
    /// destination entry.
    pub async fn wait_for_delivery_status(
        &self,
        app_id: &str,
        msg_id: &str,
        ep_id: &str,
        status: i64,
    ) -> Value {
        let mut last = Value::Null;
        let found = tokio::time::timeout(DEADLINE, async {
            loop {
                let dests = self.attempted_destinations(app_id, msg_id).await;
                if let Some(d) = dests.iter().find(|d| d["id"] == ep_id) {
                    last = d.clone();
                    if d["status"] == status {
                        return d.clone();
                    }
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "delivery of {msg_id} to {ep_id} did not reach status {status} within \
                 {DEADLINE:?}; last seen: {last}"
            )
        })
    }

    /// Waits until `msg_id` has exactly `n` recorded attempts and returns them.
    pub async fn wait_for_attempts(&self, app_id: &str, msg_id: &str, n: usize) -> Vec<Value> {
        eventually(&format!("{n} attempts of {msg_id}"), DEADLINE, || async {
            let attempts = self.list_attempts_by_msg(app_id, msg_id).await;
            (attempts.len() >= n).then_some(attempts)
        })
        .await
    }
}

async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = req.send().await.expect("the API answers");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("valid status");
    let bytes = response.bytes().await.expect("the API sends a body");
    (status, parse_body(&bytes))
}

/// The `id` of every listed item.
pub fn ids(items: &[serde_json::Value]) -> std::collections::BTreeSet<String> {
    items
        .iter()
        .map(|v| v["id"].as_str().expect("item id").to_owned())
        .collect()
}

/// A set of owned strings, to compare with [`ids`].
pub fn set(values: &[&str]) -> std::collections::BTreeSet<String> {
    values.iter().map(|s| (*s).to_owned()).collect()
}

/// The `webhook-id` header of each received request, in order.
pub fn webhook_ids(requests: &[Received]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect()
}
