//! Every input limit: the status, the error `code`, and that nothing was stored.

use crate::helpers::{StoreKind, TestApp, assert_error_shape, per_store, spawn_app_with};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

per_store!(
    endpoint_urls_headers_and_uids_over_their_limits_are_refused,
    names_and_page_sizes_outside_their_syntax_are_refused,
    an_oversize_body_is_413_and_a_slow_body_is_408,
);

/// Asserts `(status, body)` is `want` with error `code`, mentioning `needle` in its detail.
fn assert_refused(got: &(StatusCode, Value), want: StatusCode, code: &str, needle: &str) {
    let (status, body) = got;
    assert_eq!(*status, want, "{needle}: {body}");
    assert_error_shape(body, needle);
    assert_eq!(body["code"], code, "{needle}: {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(needle),
        "the detail should mention {needle:?}: {detail}"
    );
}

fn many_headers(n: usize) -> BTreeMap<String, String> {
    (0..n)
        .map(|i| (format!("x-h{i}"), "v".to_owned()))
        .collect()
}

async fn endpoint_urls_headers_and_uids_over_their_limits_are_refused(store: StoreKind) {
    let app = spawn_app_with(store, |_| {}).await;
    let app_id = app.create_app("Limits").await;
    let endpoints = format!("/api/v1/app/{app_id}/endpoint");
    let url = "https://example.com/hook";
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    let long_url = format!("https://example.com/{}", "a".repeat(65_536));
    let cases = [
        (json!({ "url": long_url }), "the limit is 65536"),
        (
            json!({ "url": url, "headers": many_headers(101) }),
            "at most 100 headers",
        ),
        (
            json!({ "url": url, "headers": { "x-".to_owned() + &"n".repeat(300): "v" } }),
            "header name is 302 bytes",
        ),
        (
            json!({ "url": url, "headers": { "x-big": "v".repeat(5000) } }),
            "5000 bytes long",
        ),
        (
            json!({ "url": url, "headers": { "Host": "evil" } }),
            "reserved",
        ),
        (
            json!({ "url": url, "headers": { "content-length": "1" } }),
            "reserved",
        ),
        (
            json!({ "url": url, "headers": { "webhook-signature": "v1,x" } }),
            "reserved",
        ),
        (
            json!({ "url": url, "headers": { "svix-id": "msg_x" } }),
            "reserved",
        ),
        (
            json!({ "url": url, "headers": { "bad name": "v" } }),
            "not a valid HTTP header name",
        ),
        (
            json!({ "url": url, "headers": { "x-nl": "a\nb" } }),
            "not a valid HTTP header value",
        ),
        (
            json!({ "url": url, "uid": "has space" }),
            "may contain only",
        ),
        (
            json!({ "url": url, "uid": "u".repeat(257) }),
            "the limit is 256",
        ),
        (json!({ "url": url, "throttleRate": -1 }), "throttleRate"),
    ];
    for (body, needle) in &cases {
        let got = app.post(&endpoints, body).await;
        assert_refused(&got, unprocessable, "validation", needle);
        assert!(
            app.list_endpoints(&app_id).await.is_empty(),
            "{needle}: an endpoint was stored"
        );
    }

    // The same rules hold when headers are replaced or patched: the set stays as it was.
    let ep = app
        .create_endpoint_id(&app_id, url, json!({ "headers": { "x-keep": "1" } }))
        .await;
    let headers_path = format!("{endpoints}/{ep}/headers");
    let put = app
        .put(&headers_path, &json!({ "headers": { "Host": "evil" } }))
        .await;
    assert_refused(&put, unprocessable, "validation", "reserved");
    let patch = app
        .patch(&headers_path, &json!({ "headers": many_headers(100) }))
        .await;
    assert_refused(&patch, unprocessable, "validation", "at most 100 headers");
    let (status, current) = app.get(&headers_path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        current["headers"],
        json!({ "x-keep": "1" }),
        "headers unchanged"
    );

    // Updating an endpoint to an oversize URL changes nothing either.
    let put = app
        .put(&format!("{endpoints}/{ep}"), &json!({ "url": long_url }))
        .await;
    assert_refused(&put, unprocessable, "validation", "the limit is 65536");
    let (_, stored) = app.get(&format!("{endpoints}/{ep}")).await;
    assert_eq!(stored["url"], url);
}

async fn names_and_page_sizes_outside_their_syntax_are_refused(store: StoreKind) {
    let app = spawn_app_with(store, |_| {}).await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    for (body, needle) in [
        (
            json!({ "name": "A", "uid": "no/slashes" }),
            "may contain only",
        ),
        (json!({ "name": "A", "uid": "" }), "must not be empty"),
        (
            json!({ "name": "A", "uid": "x".repeat(257) }),
            "the limit is 256",
        ),
    ] {
        let got = app.post("/api/v1/app", &body).await;
        assert_refused(&got, unprocessable, "validation", needle);
    }
    assert!(app.list("/api/v1/app").await.is_empty(), "no app stored");

    for (name, needle) in [
        ("has space", "may contain only"),
        ("ünïcode", "may contain only"),
        (&*"e".repeat(257), "the limit is 256"),
    ] {
        let got = app
            .post(
                "/api/v1/event-type",
                &json!({ "name": name, "description": "d" }),
            )
            .await;
        assert_refused(&got, unprocessable, "validation", needle);
    }
    assert!(
        app.list("/api/v1/event-type").await.is_empty(),
        "no event type stored"
    );

    let app_id = app.create_app("Pages").await;
    for query in ["limit=0", "limit=251", "limit=-1", "limit=1.5", "limit=abc"] {
        let got = app.get(&format!("/api/v1/app/{app_id}/msg?{query}")).await;
        assert_refused(&got, unprocessable, "validation", "limit");
    }
    let got = app
        .get(&format!(
            "/api/v1/app/{app_id}/msg?iterator=not-an-iterator"
        ))
        .await;
    assert_refused(&got, unprocessable, "validation", "iterator");
}

async fn an_oversize_body_is_413_and_a_slow_body_is_408(store: StoreKind) {
    let app = spawn_app_with(store, |c| {
        c.max_payload = 16 * 1024;
        c.body_timeout = Duration::from_millis(500);
    })
    .await;
    let app_id = app.create_app("Bodies").await;
    let messages = format!("/api/v1/app/{app_id}/msg");

    let big = json!({ "eventType": "a.b", "payload": { "blob": "x".repeat(20 * 1024) } });
    let got = app.post_raw(&messages, big.to_string(), &[]).await;
    assert_refused(
        &got,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "16384 bytes",
    );
    // With an idempotency-key the body is read by another layer first; same answer.
    let got = app
        .post_raw(&messages, big.to_string(), &[("idempotency-key", "big-1")])
        .await;
    assert_refused(
        &got,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "16384 bytes",
    );

    for key in [None, Some("slow-1")] {
        let (status, body) = slow_post(&app, &messages, key).await;
        assert_eq!(status, 408, "a stalled body: {body}");
        let body: Value = serde_json::from_str(&body).expect("a JSON error body");
        assert_eq!(body["code"], "request_timeout", "{body}");
    }
    assert!(
        app.list_messages(&app_id).await.is_empty(),
        "nothing stored"
    );
}

/// Sends the headers and half the body of a POST over a raw connection, then stalls; returns
/// the status and body of the answer.
async fn slow_post(app: &TestApp, path: &str, key: Option<&str>) -> (u16, String) {
    let body = r#"{"eventType":"a.b","payload":{}}"#;
    let addr = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let key = key.map_or_else(String::new, |k| format!("idempotency-key: {k}\r\n"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n{key}\r\n{}",
        app.token,
        body.len(),
        &body[..10]
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.expect("reads");
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            let done = text.split_once("\r\n\r\n").is_some_and(|(head, rest)| {
                head.lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .is_some_and(|n| rest.len() >= n)
            });
            if n == 0 || done {
                break;
            }
        }
    });
    read.await
        .expect("the server answers a stalled body within 10 s");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
