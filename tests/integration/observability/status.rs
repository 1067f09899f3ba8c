//! `GET /api/v1/status` after a known scenario: its exact shape, the queue by state, the
//! last minute and the throughput buckets, and a breaker opened by failures — plus the
//! breaker gauges of `/metrics` for the same fleet.

use super::scrape;
use crate::helpers::{DEADLINE, Receiver, StoreKind, eventually, per_store, spawn_app_with};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

per_store!(status_shows_the_queue_throughput_and_open_breakers_of_a_known_scenario);

/// The keys of a JSON object.
fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("not an RFC 3339 time: {v}"))
        .with_timezone(&Utc)
}

async fn status_shows_the_queue_throughput_and_open_breakers_of_a_known_scenario(store: StoreKind) {
    let rx = Receiver::start().await;
    rx.always("/retry", 500);
    rx.always("/trip", 500);
    rx.always("/gone", 410);
    let app = spawn_app_with(store, |c| {
        // A failed attempt waits an hour for its retry: it stays `delayed`.
        c.retry_schedule = vec![Duration::from_secs(3600)];
        c.breaker_failures = 3;
        c.breaker_cooldown = Duration::from_secs(60);
        c.breaker_max_cooldown = Duration::from_secs(60);
    })
    .await;
    let started = Utc::now();
    let app_id = app.create_app("Status").await;
    let mut endpoints = Vec::new();
    for path in ["ok", "retry", "trip", "gone"] {
        let filter = json!({ "eventTypes": [format!("{path}.event")] });
        endpoints.push(
            app.create_endpoint_id(&app_id, &rx.url(&format!("/{path}")), filter)
                .await,
        );
    }
    let trip = endpoints[2].clone();
    // 3 delivered; 1 failing with its retry an hour away; 3 failing to one endpoint, which
    // opens its breaker (their retries are an hour away too); 1 answered 410, failed at once.
    for (event_type, n) in [("ok", 3), ("retry", 1), ("trip", 3), ("gone", 1)] {
        for i in 0..n {
            app.send_message(&app_id, &format!("{event_type}.event"), json!({ "i": i }))
                .await;
        }
    }

    let status = eventually("every attempt to show in the status", DEADLINE, || async {
        let (code, body) = app.get("/api/v1/status").await;
        assert_eq!(code, reqwest::StatusCode::OK, "{body}");
        let settled = (
            &body["lastMinute"]["delivered"],
            &body["lastMinute"]["failed"],
        ) == (&json!(3), &json!(5))
            && body["queue"]["delayed"] == 4
            && body["openBreakers"]
                .as_array()
                .is_some_and(|b| !b.is_empty());
        settled.then_some(body)
    })
    .await;
    let now = Utc::now();
    assert_eq!(
        keys(&status),
        BTreeSet::from(["queue", "lastMinute", "throughput", "openBreakers"])
    );
    assert_eq!(
        status["queue"],
        json!({ "due": 0, "delayed": 4, "sending": 0, "failed": 1, "oldestDueSeconds": null })
    );

    // The last minute is the last six buckets: from the start of the oldest of them to now.
    let seconds = status["lastMinute"]["seconds"]
        .as_f64()
        .expect("lastMinute.seconds");
    assert!((50.0..=60.0).contains(&seconds), "{seconds}");

    let buckets = status["throughput"].as_array().expect("throughput buckets");
    assert_eq!(buckets.len(), 30);
    let ten = chrono::Duration::seconds(10);
    for pair in buckets.windows(2) {
        assert_eq!(time(&pair[1]["at"]) - time(&pair[0]["at"]), ten, "{pair:?}");
    }
    let last = time(&buckets[29]["at"]);
    assert!(
        last <= now && now < last + ten + chrono::Duration::seconds(1),
        "the last bucket ({last}) holds now ({now})"
    );
    for b in buckets {
        assert_eq!(keys(b), BTreeSet::from(["at", "delivered", "failed"]));
    }
    let total = |field: &str| {
        buckets
            .iter()
            .map(|b| b[field].as_i64().expect("count"))
            .sum::<i64>()
    };
    assert_eq!((total("delivered"), total("failed")), (3, 5));

    let breakers = status["openBreakers"].as_array().expect("open breakers");
    assert_eq!(
        breakers.len(),
        1,
        "only the endpoint that failed 3 times: {breakers:?}"
    );
    let b = &breakers[0];
    assert_eq!(
        keys(b),
        BTreeSet::from([
            "appId",
            "endpointId",
            "url",
            "state",
            "since",
            "nextProbeAt"
        ])
    );
    assert_eq!(
        (&b["appId"], &b["endpointId"], &b["url"], &b["state"]),
        (
            &json!(app_id),
            &json!(trip),
            &json!(rx.url("/trip")),
            &json!("open")
        )
    );
    let since = time(&b["since"]);
    assert!(since >= started - chrono::Duration::seconds(1) && since <= now);
    assert_eq!(
        time(&b["nextProbeAt"]) - since,
        chrono::Duration::seconds(60)
    );

    // The same fleet in /metrics: one open breaker, with a series for that endpoint only.
    let m = eventually("the gauges to show the scenario", DEADLINE, || async {
        let m = scrape(&app).await;
        (m.get("hookline_breakers_open", &[("state", "open")]) == Some(1.0)).then_some(m)
    })
    .await;
    assert_eq!(
        m.get("hookline_breakers_open", &[("state", "half-open")]),
        Some(0.0)
    );
    let series = m.series("hookline_endpoint_breaker_open_seconds");
    assert_eq!(series.len(), 1, "{series:?}");
    let age = m.get(
        "hookline_endpoint_breaker_open_seconds",
        &[
            ("app_id", &app_id),
            ("endpoint_id", &trip),
            ("state", "open"),
        ],
    );
    assert!(
        age.is_some_and(|s| (0.0..60.0).contains(&s)),
        "{series:?}: {age:?}"
    );
    assert_eq!(
        m.get("hookline_queue_deliveries", &[("state", "delayed")]),
        Some(4.0)
    );
    assert_eq!(
        m.get("hookline_queue_deliveries", &[("state", "failed")]),
        Some(1.0)
    );
}
