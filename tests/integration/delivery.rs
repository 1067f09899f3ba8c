//! What receivers get: routing, headers and body, signatures, rotation, header style.

use crate::helpers::{
    Receiver, SUCCESS, StoreKind, ids, per_store, set, spawn_app, spawn_app_with, svix_verify,
    webhook_ids, with_signature,
};
use axum::http::StatusCode;
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

per_store!(
    a_message_reaches_every_matching_endpoint_exactly_once_signed_and_byte_for_byte,
    endpoints_get_only_the_event_types_and_channels_they_subscribe_to,
    after_a_rotation_every_valid_key_signs_and_each_signature_verifies_with_its_own_key,
    the_svix_header_style_sends_svix_headers_that_the_svix_library_verifies,
);

async fn a_message_reaches_every_matching_endpoint_exactly_once_signed_and_byte_for_byte(
    store: StoreKind,
) {
    let app = spawn_app(store).await;
    let rx = Receiver::start().await;
    let app_id = app.create_app("Acme").await;
    let ep_a = app
        .create_endpoint_id(&app_id, &rx.url("/a?src=hookline"), json!({}))
        .await;
    let ep_b = app
        .create_endpoint_id(
            &app_id,
            &rx.url("/b"),
            json!({ "eventTypes": ["invoice.paid"] }),
        )
        .await;
    let (status, body) = app
        .put(
            &format!("/api/v1/app/{app_id}/endpoint/{ep_a}/headers"),
            &json!({ "headers": { "X-Tenant": "acme", "X-Trace-Mode": "on" } }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "set headers: {body}");

    // Odd spacing, key order, an escape and a trailing zero: a re-serialised body would differ.
    let payload = r#"{ "zeta" :1,  "alpha":[1, 2 ,3],"nested":{"b":true , "a":null},"num":1.50, "text":"caf\u00e9 ☕"}"#;
    let raw = format!(r#"{{"eventType":"invoice.paid",   "payload":{payload}}}"#);
    let (status, out) = app
        .post_raw(&format!("/api/v1/app/{app_id}/msg"), raw, &[])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "create message: {out}");
    let msg_id = out["id"].as_str().expect("message id").to_owned();
    assert_eq!(out["eventType"], "invoice.paid");

    let got_a = rx.wait_for("/a", 1).await;
    let got_b = rx.wait_for("/b", 1).await;
    app.wait_for_delivery_status(&app_id, &msg_id, &ep_a, SUCCESS)
        .await;
    app.wait_for_delivery_status(&app_id, &msg_id, &ep_b, SUCCESS)
        .await;
    let attempts = app.list_attempts_by_msg(&app_id, &msg_id).await;
    assert_eq!(attempts.len(), 2, "one attempt per endpoint: {attempts:?}");
    assert_eq!(rx.count("/a"), 1, "endpoint a got the message once");
    assert_eq!(rx.count("/b"), 1, "endpoint b got the message once");

    let secrets = [
        (ep_a.clone(), app.endpoint_secret(&app_id, &ep_a).await),
        (ep_b.clone(), app.endpoint_secret(&app_id, &ep_b).await),
    ];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    for (request, (ep, secret)) in [&got_a[0], &got_b[0]].into_iter().zip(&secrets) {
        assert_eq!(request.method, "POST");
        assert_eq!(
            std::str::from_utf8(&request.body).expect("utf-8 body"),
            payload,
            "body to {ep} is the posted payload byte for byte"
        );
        assert_eq!(request.header("webhook-id"), msg_id);
        let ts: i64 = request
            .header("webhook-timestamp")
            .parse()
            .expect("webhook-timestamp is unix seconds");
        assert!((ts - now).abs() < 60, "timestamp {ts} is near now {now}");
        assert!(
            request.header("webhook-signature").starts_with("v1,"),
            "signature {}",
            request.header("webhook-signature")
        );
        assert_eq!(request.header("content-type"), "application/json");
        assert_eq!(
            request.header("user-agent"),
            concat!("Hookline/", env!("CARGO_PKG_VERSION"))
        );
        svix_verify(secret, &request.body, &request.headers)
            .unwrap_or_else(|e| panic!("signature to {ep} does not verify: {e}"));
    }
    assert_eq!(got_a[0].query.as_deref(), Some("src=hookline"));
    assert_eq!(got_a[0].header("x-tenant"), "acme");
    assert_eq!(got_a[0].header("x-trace-mode"), "on");
    assert!(
        got_b[0].headers.get("x-tenant").is_none(),
        "custom headers belong to their endpoint only"
    );
    // A signature made with the other endpoint's secret must not verify.
    assert!(svix_verify(&secrets[1].1, &got_a[0].body, &got_a[0].headers).is_err());
}

async fn endpoints_get_only_the_event_types_and_channels_they_subscribe_to(store: StoreKind) {
    let app = spawn_app(store).await;
    let rx = Receiver::start().await;
    let app_id = app.create_app("Routing").await;
    let paid = app
        .create_endpoint_id(
            &app_id,
            &rx.url("/paid"),
            json!({ "eventTypes": ["invoice.paid"] }),
        )
        .await;
    let voided = app
        .create_endpoint_id(
            &app_id,
            &rx.url("/voided"),
            json!({ "eventTypes": ["invoice.voided"] }),
        )
        .await;
    let all = app
        .create_endpoint_id(&app_id, &rx.url("/all"), json!({}))
        .await;
    let disabled = app
        .create_endpoint_id(&app_id, &rx.url("/disabled"), json!({ "disabled": true }))
        .await;
    let eu = app
        .create_endpoint_id(&app_id, &rx.url("/eu"), json!({ "channels": ["eu"] }))
        .await;

    let m1 = app
        .send_message(&app_id, "invoice.paid", json!({ "n": 1 }))
        .await;
    let (status, out) = app
        .post_message(
            &app_id,
            &json!({ "eventType": "invoice.voided", "payload": { "n": 2 }, "channels": ["us"] }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{out}");
    let m2 = out["id"].as_str().expect("message id").to_owned();
    let (status, out) = app
        .post_message(
            &app_id,
            &json!({ "eventType": "invoice.paid", "payload": { "n": 3 }, "channels": ["eu", "us"] }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{out}");
    let m3 = out["id"].as_str().expect("message id").to_owned();

    // Routing is decided when the message is accepted: the destinations are exactly these.
    let expected = [
        (&m1, set(&[&paid, &all])),
        (&m2, set(&[&voided, &all])),
        (&m3, set(&[&paid, &all, &eu])),
    ];
    for (msg, want) in &expected {
        let dests = app.attempted_destinations(&app_id, msg).await;
        assert_eq!(&ids(&dests), want, "destinations of {msg}");
        for ep in want {
            app.wait_for_delivery_status(&app_id, msg, ep, SUCCESS)
                .await;
        }
    }

    let by_path = |path: &str| {
        let mut got = webhook_ids(&rx.requests(path));
        got.sort();
        got
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<_>>()
    };
    assert_eq!(by_path("/paid"), sorted(vec![&m1, &m3]));
    assert_eq!(by_path("/voided"), sorted(vec![&m2]));
    assert_eq!(by_path("/all"), sorted(vec![&m1, &m2, &m3]));
    assert_eq!(by_path("/eu"), sorted(vec![&m3]));
    assert_eq!(rx.count("/disabled"), 0, "a disabled endpoint gets nothing");
    let (_, ep) = app
        .get(&format!("/api/v1/app/{app_id}/endpoint/{disabled}"))
        .await;
    assert_eq!(ep["disabled"], true);
}

async fn after_a_rotation_every_valid_key_signs_and_each_signature_verifies_with_its_own_key(
    store: StoreKind,
) {
    let app = spawn_app(store).await;
    let rx = Receiver::start().await;
    let app_id = app.create_app("Rotation").await;
    let ep = app
        .create_endpoint_id(&app_id, &rx.url("/rot"), json!({}))
        .await;
    let old = app.endpoint_secret(&app_id, &ep).await;
    assert!(old.starts_with("whsec_"), "{old}");

    let (status, body) = app
        .post(
            &format!("/api/v1/app/{app_id}/endpoint/{ep}/secret/rotate"),
            &json!({}),
        )
        .await;
    // The reference says 204, but the svix crate's `rotate_secret` parses an
    // `EndpointSecretOut`, so Hookline answers 200 with the new key.
    assert_eq!(status, StatusCode::OK, "rotate: {body}");
    let new = app.endpoint_secret(&app_id, &ep).await;
    assert_eq!(body["key"], new.as_str(), "rotate returns the new key");
    assert_ne!(new, old, "rotation changes the current secret");

    app.send_message(&app_id, "a.b", json!({ "rotated": true }))
        .await;
    let got = rx.wait_for("/rot", 1).await;
    let request = &got[0];
    let header = request.header("webhook-signature");
    let parts: Vec<&str> = header.split(' ').collect();
    assert_eq!(parts.len(), 2, "old and new key both sign: {header}");
    for secret in [&old, &new] {
        svix_verify(secret, &request.body, &request.headers)
            .unwrap_or_else(|e| panic!("whole header does not verify with {secret}: {e}"));
    }
    let verifies = |sig: &str, secret: &str| {
        svix_verify(
            secret,
            &request.body,
            &with_signature(&request.headers, sig),
        )
        .is_ok()
    };
    let by_old: Vec<_> = parts.iter().filter(|p| verifies(p, &old)).collect();
    let by_new: Vec<_> = parts.iter().filter(|p| verifies(p, &new)).collect();
    assert_eq!(by_old.len(), 1, "exactly one signature is the old key's");
    assert_eq!(by_new.len(), 1, "exactly one signature is the new key's");
    assert_ne!(by_old[0], by_new[0]);

    // Rotating to a chosen key makes it current; the earlier keys are still in grace.
    let chosen = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (status, body) = app
        .post(
            &format!("/api/v1/app/{app_id}/endpoint/{ep}/secret/rotate"),
            &json!({ "key": chosen }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "rotate to a chosen key: {body}");
    assert_eq!(body["key"], chosen);
    assert_eq!(app.endpoint_secret(&app_id, &ep).await, chosen);
    app.send_message(&app_id, "a.b", json!({ "rotated": 2 }))
        .await;
    let got = rx.wait_for("/rot", 2).await;
    let request = &got[1];
    let header = request.header("webhook-signature");
    assert_eq!(header.split(' ').count(), 3, "three valid keys: {header}");
    for secret in [&old, &new, &chosen.to_owned()] {
        svix_verify(secret, &request.body, &request.headers)
            .unwrap_or_else(|e| panic!("does not verify with {secret}: {e}"));
    }
}

async fn the_svix_header_style_sends_svix_headers_that_the_svix_library_verifies(store: StoreKind) {
    let app = spawn_app_with(store, |c| {
        c.signature_headers = hookline::config::HeaderStyle::Svix
    })
    .await;
    let rx = Receiver::start().await;
    let app_id = app.create_app("Svix style").await;
    let ep = app
        .create_endpoint_id(&app_id, &rx.url("/svix"), json!({}))
        .await;
    let msg = app.send_message(&app_id, "a.b", json!({ "n": 1 })).await;
    let got = rx.wait_for("/svix", 1).await;
    let request = &got[0];
    assert_eq!(request.header("svix-id"), msg);
    assert!(request.header("svix-signature").starts_with("v1,"));
    assert!(request.header("svix-timestamp").parse::<i64>().is_ok());
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert!(request.headers.get(name).is_none(), "{name} is not sent");
    }
    let secret = app.endpoint_secret(&app_id, &ep).await;
    svix_verify(&secret, &request.body, &request.headers).expect("svix-* headers verify");
}
