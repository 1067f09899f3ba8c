//! What happens after a failure: retries on schedule, giving up, `410 Gone`, redirects,
//! and the manual paths back (resend, recover).

use crate::helpers::{
    DEADLINE, FAIL, Receiver, SUCCESS, StoreKind, eventually, ids, per_store, set, spawn_app,
    spawn_app_with, webhook_ids,
};
use axum::http::StatusCode;
use serde_json::json;
use std::time::Duration;

per_store!(
    a_failing_receiver_is_retried_with_the_same_id_until_it_succeeds,
    a_delivery_is_failed_after_the_last_retry_of_the_schedule,
    gone_disables_the_endpoint_and_stops_deliveries_to_it,
    resend_makes_a_manual_attempt_with_the_same_message_id,
    recover_requeues_only_the_failed_deliveries_of_an_endpoint,
    a_redirect_is_a_failed_attempt_and_is_not_followed,
    a_request_without_an_answer_records_why_it_got_none,
);

async fn a_failing_receiver_is_retried_with_the_same_id_until_it_succeeds(store: StoreKind) {
    let app = spawn_app(store).await;
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

async fn a_delivery_is_failed_after_the_last_retry_of_the_schedule(store: StoreKind) {
    let schedule = vec![Duration::from_millis(100); 2];
    let app = spawn_app_with(store, |c| c.retry_schedule = schedule.clone()).await;
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

async fn gone_disables_the_endpoint_and_stops_deliveries_to_it(store: StoreKind) {
    let app = spawn_app(store).await;
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

async fn resend_makes_a_manual_attempt_with_the_same_message_id(store: StoreKind) {
    let app = spawn_app(store).await;
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

async fn recover_requeues_only_the_failed_deliveries_of_an_endpoint(store: StoreKind) {
    let app = spawn_app_with(store, |c| {
        c.retry_schedule = vec![Duration::from_millis(100)]
    })
    .await;
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
    assert_eq!(
        body["queued"], 2,
        "both failed deliveries were re-queued: {body}"
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

async fn a_redirect_is_a_failed_attempt_and_is_not_followed(store: StoreKind) {
    let app = spawn_app_with(store, |c| {
        c.retry_schedule = vec![Duration::from_millis(100)]
    })
    .await;
    let rx = Receiver::start().await;
    rx.always("/moved", 302);
    let app_id = app.create_app("Redirects").await;
    let ep = app
        .create_endpoint_id(&app_id, &rx.url("/moved"), json!({}))
        .await;
    let msg = app.send_message(&app_id, "a.b", json!({ "n": 1 })).await;
    app.wait_for_delivery_status(&app_id, &msg, &ep, FAIL).await;
    let attempts = app.list_attempts_by_msg(&app_id, &msg).await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|a| a["responseStatusCode"] == 302 && a["status"] == FAIL),
        "{attempts:?}"
    );
    assert_eq!(rx.count("/moved"), 2);
    assert_eq!(rx.count("/redirected"), 0, "the Location is never fetched");
}

async fn a_request_without_an_answer_records_why_it_got_none(store: StoreKind) {
    let timeout = Duration::from_millis(500);
    let app = spawn_app_with(store, |c| {
        c.request_timeout = timeout;
        c.retry_schedule = vec![Duration::from_secs(3600)];
    })
    .await;
    let rx = Receiver::start().await;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = silent.local_addr().expect("address").port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let plain = rx.url("/plain");
    let cases = [
        (format!("http://127.0.0.1:{silent_port}/"), "timeout"),
        (format!("http://127.0.0.1:{closed_port}/"), "connect"),
        (plain.replacen("http://", "https://", 1), "tls"),
        ("http://no-such-host.invalid/".to_owned(), "dns"),
    ];
    let app_id = app.create_app("No answer").await;
    let mut endpoints = Vec::new();
    for (url, class) in &cases {
        endpoints.push((app.create_endpoint_id(&app_id, url, json!({})).await, class));
    }
    let msg = app
        .send_message(&app_id, "order.created", json!({ "order": 8 }))
        .await;
    for (ep, class) in &endpoints {
        let attempt = eventually("the attempt", DEADLINE, || async {
            app.list_attempts_by_endpoint(&app_id, ep).await.pop()
        })
        .await;
        assert_eq!(attempt["errorClass"], **class, "{attempt}");
        assert_eq!(attempt["msgId"], msg.as_str(), "{attempt}");
        assert_eq!(attempt["responseStatusCode"], 0, "{attempt}");
        assert_eq!(attempt["status"], FAIL, "{attempt}");
        let response = attempt["response"].as_str().unwrap_or_default();
        assert!(!response.is_empty(), "the response says why: {attempt}");
        if **class == "timeout" {
            let took = attempt["responseDurationMs"].as_u64().unwrap_or_default();
            assert!(
                (500..5_000).contains(&took),
                "the request was given up after the timeout, not {took} ms: {attempt}"
            );
        }
    }
    assert_eq!(
        rx.total(),
        0,
        "the TLS handshake sent no request to the plain receiver"
    );
    held.abort();
}
