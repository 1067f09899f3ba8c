//! What receivers get: routing, headers, signatures, retries, 410, resend and recover.

use crate::helpers::{
    DEADLINE, FAIL, Receiver, SUCCESS, eventually, spawn_app, spawn_app_with, svix_verify,
    with_signature,
};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn ids(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|v| v["id"].as_str().expect("item id").to_owned())
        .collect()
}

fn set(values: &[&str]) -> BTreeSet<String> {
    values.iter().map(|s| (*s).to_owned()).collect()
}

fn webhook_ids(requests: &[crate::helpers::Received]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_message_reaches_every_matching_endpoint_exactly_once_signed_and_byte_for_byte() {
    let app = spawn_app().await;
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

#[tokio::test]
async fn endpoints_get_only_the_event_types_and_channels_they_subscribe_to() {
    let app = spawn_app().await;
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

#[tokio::test]
async fn a_failing_receiver_is_retried_with_the_same_id_until_it_succeeds() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    rx.script("/flaky", &[500, 500], 200);
    let app_id = app.create_app("Retries").await;
    let ep = app
        .create_endpoint_id(&app_id, &rx.url("/flaky"), json!({}))
        .await;
    let msg = app
        .send_message(&app_id, "order.created", json!({ "order": 7 }))
        .await;

    let got = rx.wait_for("/flaky", 3).await;
    assert_eq!(
        webhook_ids(&got),
        vec![msg.clone(), msg.clone(), msg.clone()]
    );
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    // The schedule is 200 ms ± 20%: retries are not immediate.
    for pair in got.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= Duration::from_millis(150),
            "retry after only {gap:?}"
        );
    }
    let dest = app
        .wait_for_delivery_status(&app_id, &msg, &ep, SUCCESS)
        .await;
    assert_eq!(dest["statusText"], "success");

    let attempts = app.list_attempts_by_msg(&app_id, &msg).await;
    let codes: Vec<_> = attempts
        .iter()
        .map(|a| a["responseStatusCode"].as_i64())
        .collect();
    assert_eq!(codes, [Some(200), Some(500), Some(500)], "newest first");
    let statuses: Vec<_> = attempts.iter().map(|a| a["status"].as_i64()).collect();
    assert_eq!(statuses, [Some(0), Some(2), Some(2)]);
    let responses: Vec<_> = attempts.iter().map(|a| a["response"].clone()).collect();
    assert_eq!(
        responses,
        [
            json!("reply 200 #3"),
            json!("reply 500 #2"),
            json!("reply 500 #1")
        ],
        "each attempt records what the receiver answered"
    );
    for a in &attempts {
        assert_eq!(a["msgId"], msg.as_str());
        assert_eq!(a["endpointId"], ep.as_str());
        assert_eq!(a["triggerType"], 0, "scheduled attempts");
        assert_eq!(a["url"], rx.url("/flaky"));
        assert!(a["id"].as_str().is_some_and(|id| id.starts_with("atmpt_")));
    }
    let by_endpoint = app.list_attempts_by_endpoint(&app_id, &ep).await;
    assert_eq!(
        ids(&by_endpoint),
        ids(&attempts),
        "same attempts listed by endpoint"
    );
    assert_eq!(rx.count("/flaky"), 3, "no attempt after the success");
}

#[tokio::test]
async fn a_delivery_is_failed_after_the_last_retry_of_the_schedule() {
    let schedule = vec![Duration::from_millis(100); 2];
    let app = spawn_app_with(|c| c.retry_schedule = schedule.clone()).await;
    let rx = Receiver::start().await;
    rx.always("/down", 503);
    let app_id = app.create_app("Exhausted").await;
    let ep = app
        .create_endpoint_id(&app_id, &rx.url("/down"), json!({}))
        .await;
    let msg = app
        .send_message(&app_id, "order.created", json!({ "order": 8 }))
        .await;

    let dest = app.wait_for_delivery_status(&app_id, &msg, &ep, FAIL).await;
    assert_eq!(dest["statusText"], "fail");
    let attempts = app.list_attempts_by_msg(&app_id, &msg).await;
    assert_eq!(attempts.len(), schedule.len() + 1, "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|a| a["responseStatusCode"] == 503 && a["status"] == FAIL)
    );
    assert_eq!(rx.count("/down"), schedule.len() + 1);
    // A failed message stays inspectable.
    let (status, m) = app.get(&format!("/api/v1/app/{app_id}/msg/{msg}")).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["payload"], json!({ "order": 8 }));
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_stops_deliveries_to_it() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    rx.always("/gone", 410);
    let app_id = app.create_app("Gone").await;
    let gone = app
        .create_endpoint_id(&app_id, &rx.url("/gone"), json!({}))
        .await;
    let ok = app
        .create_endpoint_id(&app_id, &rx.url("/ok"), json!({}))
        .await;

    let m1 = app.send_message(&app_id, "a.b", json!({ "n": 1 })).await;
    rx.wait_for("/gone", 1).await;
    let ep = eventually("the endpoint to be disabled", DEADLINE, || async {
        let (status, ep) = app
            .get(&format!("/api/v1/app/{app_id}/endpoint/{gone}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{ep}");
        (ep["disabled"] == true).then_some(ep)
    })
    .await;
    assert_eq!(ep["id"], gone.as_str());
    app.wait_for_delivery_status(&app_id, &m1, &gone, FAIL)
        .await;
    let attempts = app.list_attempts_by_msg(&app_id, &m1).await;
    let to_gone: Vec<_> = attempts
        .iter()
        .filter(|a| a["endpointId"] == gone)
        .collect();
    assert_eq!(to_gone.len(), 1, "410 is not retried: {attempts:?}");
    assert_eq!(to_gone[0]["responseStatusCode"], 410);

    let m2 = app.send_message(&app_id, "a.b", json!({ "n": 2 })).await;
    let dests = app.attempted_destinations(&app_id, &m2).await;
    assert_eq!(
        ids(&dests),
        set(&[&ok]),
        "a disabled endpoint gets no new deliveries"
    );
    app.wait_for_delivery_status(&app_id, &m2, &ok, SUCCESS)
        .await;
    assert_eq!(webhook_ids(&rx.requests("/ok")).len(), 2);
    assert_eq!(rx.count("/gone"), 1);

    // Re-enabling is a PATCH; then the endpoint receives again.
    rx.always("/gone", 200);
    let (status, ep) = app
        .patch(
            &format!("/api/v1/app/{app_id}/endpoint/{gone}"),
            &json!({ "disabled": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ep}");
    assert_eq!(ep["disabled"], false);
    let m3 = app.send_message(&app_id, "a.b", json!({ "n": 3 })).await;
    app.wait_for_delivery_status(&app_id, &m3, &gone, SUCCESS)
        .await;
    let got = rx.wait_for("/gone", 2).await;
    assert_eq!(got[1].header("webhook-id"), m3);
}

#[tokio::test]
async fn after_a_rotation_every_valid_key_signs_and_each_signature_verifies_with_its_own_key() {
    let app = spawn_app().await;
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
    assert!(
        status == StatusCode::NO_CONTENT || status == StatusCode::OK,
        "rotate: {status} {body}"
    );
    let new = app.endpoint_secret(&app_id, &ep).await;
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
    assert!(
        status.is_success(),
        "rotate to a chosen key: {status} {body}"
    );
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

#[tokio::test]
async fn resend_makes_a_manual_attempt_with_the_same_message_id() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let app_id = app.create_app("Resend").await;
    let ep = app
        .create_endpoint_id(&app_id, &rx.url("/r"), json!({}))
        .await;
    let msg = app.send_message(&app_id, "a.b", json!({ "n": 1 })).await;
    app.wait_for_delivery_status(&app_id, &msg, &ep, SUCCESS)
        .await;
    app.wait_for_attempts(&app_id, &msg, 1).await;

    let (status, body) = app
        .post(
            &format!("/api/v1/app/{app_id}/msg/{msg}/endpoint/{ep}/resend"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "resend: {body}");
    let got = rx.wait_for("/r", 2).await;
    assert_eq!(webhook_ids(&got), vec![msg.clone(), msg.clone()]);
    let attempts = app.wait_for_attempts(&app_id, &msg, 2).await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0]["triggerType"], 1, "the resend is manual");
    assert_eq!(
        attempts[1]["triggerType"], 0,
        "the first attempt was scheduled"
    );
    assert!(attempts.iter().all(|a| a["status"] == SUCCESS));
    // Resending a message that does not exist is a 404.
    let unknown = hookline::domain::MessageId::generate();
    let (status, body) = app
        .post(
            &format!("/api/v1/app/{app_id}/msg/{unknown}/endpoint/{ep}/resend"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn recover_requeues_only_the_failed_deliveries_of_an_endpoint() {
    let app = spawn_app_with(|c| c.retry_schedule = vec![Duration::from_millis(100)]).await;
    let rx = Receiver::start().await;
    let app_id = app.create_app("Recover").await;
    let ep = app
        .create_endpoint_id(&app_id, &rx.url("/rec"), json!({}))
        .await;

    let delivered = app
        .send_message(&app_id, "a.b", json!({ "ok": true }))
        .await;
    app.wait_for_delivery_status(&app_id, &delivered, &ep, SUCCESS)
        .await;
    rx.always("/rec", 500);
    let failed = [
        app.send_message(&app_id, "a.b", json!({ "ok": false, "n": 1 }))
            .await,
        app.send_message(&app_id, "a.b", json!({ "ok": false, "n": 2 }))
            .await,
    ];
    for msg in &failed {
        app.wait_for_delivery_status(&app_id, msg, &ep, FAIL).await;
    }
    assert_eq!(rx.count("/rec"), 1 + 2 * 2);

    rx.always("/rec", 200);
    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (status, body) = app
        .post(
            &format!("/api/v1/app/{app_id}/endpoint/{ep}/recover"),
            &json!({ "since": since }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "recover: {body}");
    assert!(
        body["id"].as_str().is_some_and(|id| !id.is_empty()),
        "RecoverOut has an id: {body}"
    );
    for msg in &failed {
        app.wait_for_delivery_status(&app_id, msg, &ep, SUCCESS)
            .await;
        let attempts = app.wait_for_attempts(&app_id, msg, 3).await;
        assert_eq!(attempts.len(), 3, "{attempts:?}");
        assert_eq!(
            attempts[0]["triggerType"], 1,
            "recovery attempts are manual"
        );
        assert_eq!(attempts[0]["responseStatusCode"], 200);
    }
    assert_eq!(
        app.list_attempts_by_msg(&app_id, &delivered).await.len(),
        1,
        "a delivered message is not recovered"
    );
    assert_eq!(rx.count("/rec"), 1 + 2 * 2 + 2);
}
