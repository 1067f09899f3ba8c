//! The management API's contract at its edges: dedup, idempotency, auth and bad input.

use crate::helpers::{
    Receiver, SUCCESS, StoreKind, TOKEN, TestApp, assert_error_shape, parse_body, per_store,
    spawn_app, spawn_app_with,
};
use axum::http::StatusCode;
use serde_json::{Value, json};

per_store!(
    a_duplicate_event_id_is_a_conflict_and_creates_nothing,
    a_replayed_idempotency_key_returns_the_first_response_and_delivers_once,
    requests_without_a_valid_token_are_unauthorized_but_health_is_open,
    listings_page_through_every_message_once_newest_first,
    bad_input_gets_a_clear_4xx_and_changes_nothing,
);

async fn a_duplicate_event_id_is_a_conflict_and_creates_nothing(store: StoreKind) {
    let app = spawn_app(store).await;
    let app_id = app.create_app("Dedup").await;
    let body = json!({ "eventType": "invoice.paid", "eventId": "evt-42", "payload": { "n": 1 } });
    let (status, first) = app.post_message(&app_id, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["eventId"], "evt-42");

    let again = json!({ "eventType": "invoice.paid", "eventId": "evt-42", "payload": { "n": 2 } });
    let (status, err) = app.post_message(&app_id, &again).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_error_shape(&err, "duplicate eventId");

    let messages = app.list_messages(&app_id).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["id"], first["id"]);
    assert_eq!(messages[0]["payload"], json!({ "n": 1 }));
    // The eventId also works as a key for the message.
    let (status, by_event_id) = app.get(&format!("/api/v1/app/{app_id}/msg/evt-42")).await;
    assert_eq!(status, StatusCode::OK, "{by_event_id}");
    assert_eq!(by_event_id["id"], first["id"]);
}

async fn a_replayed_idempotency_key_returns_the_first_response_and_delivers_once(store: StoreKind) {
    let app = spawn_app(store).await;
    let rx = Receiver::start().await;
    let app_id = app.create_app("Idempotency").await;
    let ep = app
        .create_endpoint_id(&app_id, &rx.url("/idem"), json!({}))
        .await;
    let path = format!("/api/v1/app/{app_id}/msg");
    let body = r#"{"eventType":"invoice.paid","payload":{"n":1}}"#;
    let key = [("idempotency-key", "retry-me-123")];

    let (s1, first) = app.post_raw(&path, body, &key).await;
    let (s2, second) = app.post_raw(&path, body, &key).await;
    assert_eq!(s1, StatusCode::ACCEPTED, "{first}");
    assert_eq!(s2, s1, "the replay has the first status: {second}");
    assert_eq!(
        second["id"], first["id"],
        "the replay names the same message"
    );
    assert_eq!(second, first, "the replay is the first response");

    let messages = app.list_messages(&app_id).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let msg = first["id"].as_str().expect("message id");
    app.wait_for_delivery_status(&app_id, msg, &ep, SUCCESS)
        .await;
    let got = rx.wait_for("/idem", 1).await;
    assert_eq!(got[0].header("webhook-id"), msg);
    assert_eq!(app.list_attempts_by_msg(&app_id, msg).await.len(), 1);
    assert_eq!(rx.count("/idem"), 1, "one delivery for one message");

    // A different key is a different request.
    let (s3, third) = app
        .post_raw(&path, body, &[("idempotency-key", "another-key")])
        .await;
    assert_eq!(s3, StatusCode::ACCEPTED, "{third}");
    assert_ne!(third["id"], first["id"]);
    assert_eq!(app.list_messages(&app_id).await.len(), 2);
}

async fn requests_without_a_valid_token_are_unauthorized_but_health_is_open(store: StoreKind) {
    let app = spawn_app(store).await;
    let url = app.url("/api/v1/app");
    let cases: [(&str, Option<String>); 4] = [
        ("no token", None),
        ("wrong token", Some(format!("Bearer {TOKEN}x"))),
        ("empty bearer", Some("Bearer ".to_owned())),
        ("not bearer", Some(format!("Basic {TOKEN}"))),
    ];
    for (what, header) in &cases {
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let mut req = app.client.request(method.clone(), &url);
            if let Some(h) = header {
                req = req.header("authorization", h);
            }
            if method == reqwest::Method::POST {
                req = req.json(&json!({ "name": "Sneaky" }));
            }
            let response = req.send().await.expect("the API answers");
            let status = response.status();
            let body = parse_body(&response.bytes().await.expect("body"));
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} {method}: {body}");
            assert_error_shape(&body, what);
        }
    }
    let apps = app.list("/api/v1/app").await;
    assert!(
        apps.is_empty(),
        "nothing was created without a token: {apps:?}"
    );

    let response = app
        .client
        .get(app.url("/api/v1/health"))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = app.get("/api/v1/app").await;
    assert_eq!(status, StatusCode::OK, "the right token works");
}

async fn listings_page_through_every_message_once_newest_first(store: StoreKind) {
    let app = spawn_app(store).await;
    let app_id = app.create_app("Pages").await;
    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(app.send_message(&app_id, "a.b", json!({ "n": n })).await);
    }
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/app/{app_id}/msg?limit=2");
    for page in 0.. {
        assert!(page < 5, "pagination does not end: {seen:?}");
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let data = body["data"].as_array().expect("data");
        assert!(data.len() <= 2, "limit is honoured: {body}");
        seen.extend(
            data.iter()
                .map(|m| m["id"].as_str().expect("id").to_owned()),
        );
        if body["done"] == true {
            break;
        }
        let iterator = body["iterator"]
            .as_str()
            .expect("an iterator while not done");
        path = format!("/api/v1/app/{app_id}/msg?limit=2&iterator={iterator}");
    }
    sent.reverse();
    assert_eq!(seen, sent, "every message once, newest first");
}

/// Sends `body` raw to `path` and asserts a 4xx `{code, detail}` with status `want`.
async fn assert_rejected(app: &TestApp, path: &str, body: &str, want: StatusCode, what: &str) {
    let (status, err) = app.post_raw(path, body.to_owned(), &[]).await;
    assert_eq!(status, want, "{what}: {err}");
    assert_error_shape(&err, what);
}

async fn bad_input_gets_a_clear_4xx_and_changes_nothing(store: StoreKind) {
    let app = spawn_app_with(store, |c| c.max_payload = 64 * 1024).await;
    let app_id = app.create_app("Strict").await;
    let endpoints = format!("/api/v1/app/{app_id}/endpoint");
    let messages = format!("/api/v1/app/{app_id}/msg");
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    // Malformed JSON: 400 (bad request) is what axum and Svix answer for a syntax error.
    for path in [&endpoints, &messages] {
        let (status, err) = app
            .post_raw(path, r#"{"url": "http://x", "eventType": "#, &[])
            .await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == unprocessable,
            "malformed JSON to {path}: {status} {err}"
        );
        assert_error_shape(&err, "malformed JSON");
    }

    let bad_endpoints = [
        ("missing url", json!({})),
        ("not a url", json!({ "url": "not a url" })),
        ("ftp url", json!({ "url": "ftp://example.com/hook" })),
        ("relative url", json!({ "url": "/hook" })),
        (
            "credentials in url",
            json!({ "url": "https://u:p@example.com/" }),
        ),
        (
            "secret too short",
            json!({ "url": "https://example.com/", "secret": "whsec_c2hvcnQ=" }),
        ),
        (
            "secret not base64",
            json!({ "url": "https://example.com/", "secret": "whsec_!!!not-base64!!!-at-all-padding-here" }),
        ),
        (
            "bad event type filter",
            json!({ "url": "https://example.com/", "eventTypes": ["has space"] }),
        ),
        (
            "bad channel",
            json!({ "url": "https://example.com/", "channels": ["ünïcode"] }),
        ),
        ("wrong type", json!({ "url": 42 })),
    ];
    for (what, body) in &bad_endpoints {
        assert_rejected(&app, &endpoints, &body.to_string(), unprocessable, what).await;
        assert!(
            app.list_endpoints(&app_id).await.is_empty(),
            "{what} created an endpoint"
        );
    }

    let bad_messages = [
        ("missing eventType", json!({ "payload": {} })),
        ("missing payload", json!({ "eventType": "a.b" })),
        (
            "bad eventType characters",
            json!({ "eventType": "invoice paid!", "payload": {} }),
        ),
        ("empty eventType", json!({ "eventType": "", "payload": {} })),
        (
            "eventType too long",
            json!({ "eventType": "a".repeat(257), "payload": {} }),
        ),
        (
            "payload is a string",
            json!({ "eventType": "a.b", "payload": "hello" }),
        ),
        (
            "payload is an array",
            json!({ "eventType": "a.b", "payload": [1, 2] }),
        ),
        (
            "bad eventId",
            json!({ "eventType": "a.b", "eventId": "no spaces please", "payload": {} }),
        ),
    ];
    for (what, body) in &bad_messages {
        assert_rejected(&app, &messages, &body.to_string(), unprocessable, what).await;
        assert!(
            app.list_messages(&app_id).await.is_empty(),
            "{what} created a message"
        );
    }

    let big = json!({ "eventType": "a.b", "payload": { "blob": "x".repeat(100 * 1024) } });
    assert_rejected(
        &app,
        &messages,
        &big.to_string(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "oversize body",
    )
    .await;
    assert!(app.list_messages(&app_id).await.is_empty());

    assert_rejected(
        &app,
        "/api/v1/app",
        &json!({ "name": "" }).to_string(),
        unprocessable,
        "empty app name",
    )
    .await;
    assert_eq!(
        app.list("/api/v1/app").await.len(),
        1,
        "only the first app exists"
    );

    for query in ["limit=0", "limit=9999", "limit=-1", "limit=abc"] {
        let (status, err) = app.get(&format!("{messages}?{query}")).await;
        assert!(
            status.is_client_error(),
            "GET messages?{query} answered {status}: {err}"
        );
        assert_error_shape(&err, query);
    }
    let (status, ok) = app.get(&format!("{messages}?limit=250")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the largest page size is accepted: {ok}"
    );

    let unknown = hookline::domain::AppId::generate();
    let not_found: Vec<(String, Option<Value>)> = vec![
        ("/api/v1/app/no-such-app".to_owned(), None),
        (format!("/api/v1/app/{unknown}/msg"), None),
        (
            format!("/api/v1/app/{unknown}/msg"),
            Some(json!({ "eventType": "a.b", "payload": {} })),
        ),
        (
            format!("/api/v1/app/{unknown}/endpoint"),
            Some(json!({ "url": "https://example.com/" })),
        ),
    ];
    for (path, body) in &not_found {
        let (status, err) = match body {
            Some(b) => app.post(path, b).await,
            None => app.get(path).await,
        };
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {err}");
        assert_error_shape(&err, path);
    }
    assert_eq!(
        app.list("/api/v1/app").await.len(),
        1,
        "no app was created by a 404"
    );
}
