//! `/metrics` as Prometheus sees it: it parses, it needs the token, and its counters,
//! histograms and queue gauges follow what happened to real deliveries.

use super::{exposition::Exposition, scrape};
use crate::helpers::{
    DEADLINE, FAIL, Receiver, SUCCESS, StoreKind, assert_error_shape, eventually, parse_body,
    per_store, spawn_app, spawn_app_with,
};
use serde_json::json;
use std::time::Duration;

per_store!(metrics_follow_deliveries_that_succeed_and_deliveries_that_fail);

/// The counters and histogram counts this test moves, in one comparable snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Moved {
    accepted: f64,
    ok_attempts: f64,
    failed_attempts: f64,
    latency_count: f64,
    delivered: f64,
    retried: f64,
    exhausted: f64,
    leased: f64,
}

impl Moved {
    fn of(m: &Exposition) -> Self {
        let finished = |outcome| {
            m.counter(
                "hookline_deliveries_finished_total",
                &[("outcome", outcome)],
            )
        };
        Self {
            accepted: m.counter("hookline_messages_accepted_total", &[]),
            ok_attempts: m.counter(
                "hookline_attempts_total",
                &[("status_class", "2xx"), ("error_class", "none")],
            ),
            failed_attempts: m.counter(
                "hookline_attempts_total",
                &[("status_class", "5xx"), ("error_class", "http status")],
            ),
            latency_count: m.counter("hookline_attempt_duration_seconds_count", &[]),
            delivered: finished("delivered"),
            retried: finished("retry_scheduled"),
            exhausted: finished("exhausted"),
            leased: m.counter("hookline_claim_batch_size_sum", &[]),
        }
    }

    fn minus(self, before: Self) -> Self {
        Self {
            accepted: self.accepted - before.accepted,
            ok_attempts: self.ok_attempts - before.ok_attempts,
            failed_attempts: self.failed_attempts - before.failed_attempts,
            latency_count: self.latency_count - before.latency_count,
            delivered: self.delivered - before.delivered,
            retried: self.retried - before.retried,
            exhausted: self.exhausted - before.exhausted,
            leased: self.leased - before.leased,
        }
    }
}

fn queue(m: &Exposition, state: &str) -> Option<f64> {
    m.get("hookline_queue_deliveries", &[("state", state)])
}

async fn metrics_follow_deliveries_that_succeed_and_deliveries_that_fail(store: StoreKind) {
    const MESSAGES: usize = 3;
    let rx = Receiver::start().await;
    rx.always("/bad", 500);
    let app = spawn_app_with(store, |c| {
        // Two retries: three attempts per failing delivery, then it is failed.
        c.retry_schedule = vec![Duration::from_millis(100); 2];
        c.breaker_failures = 1000;
    })
    .await;
    let before = scrape(&app).await;
    for family in [
        "hookline_messages_accepted_total",
        "hookline_deliveries_finished_total",
        "hookline_attempts_total",
        "hookline_attempt_duration_seconds",
        "hookline_worker_in_flight_deliveries",
        "hookline_claim_batch_size",
        "hookline_claim_duration_seconds",
        "hookline_queue_deliveries",
        "hookline_queue_oldest_due_age_seconds",
        "hookline_breakers_open",
        "hookline_store_up",
    ] {
        assert!(
            before.types.contains_key(family),
            "{family} is exposed: {:?}",
            before.types.keys()
        );
    }
    assert!(
        before
            .series("hookline_endpoint_breaker_open_seconds")
            .is_empty(),
        "no per-endpoint breaker series while every breaker is closed"
    );
    assert_eq!(
        before.get(
            "hookline_deliveries_finished_total",
            &[("outcome", "delivered")]
        ),
        Some(0.0),
        "outcome series start at 0"
    );
    let base = Moved::of(&before);

    let app_id = app.create_app("Metrics").await;
    let ok = app
        .create_endpoint_id(&app_id, &rx.url("/ok"), json!({}))
        .await;
    let bad = app
        .create_endpoint_id(&app_id, &rx.url("/bad"), json!({}))
        .await;
    let mut msgs = Vec::new();
    for n in 0..MESSAGES {
        msgs.push(
            app.send_message(&app_id, "order.created", json!({ "n": n }))
                .await,
        );
    }
    for msg in &msgs {
        app.wait_for_delivery_status(&app_id, msg, &ok, SUCCESS)
            .await;
        app.wait_for_delivery_status(&app_id, msg, &bad, FAIL).await;
    }
    assert_eq!(rx.count("/bad"), 3 * MESSAGES, "three attempts each");

    // The queue gauges are read from the store at most once a second.
    let after = eventually(
        "the queue gauges to show the drained queue",
        DEADLINE,
        || async {
            let m = scrape(&app).await;
            (queue(&m, "failed") == Some(MESSAGES as f64)).then_some(m)
        },
    )
    .await;
    let moved = Moved::of(&after).minus(base);
    let n = MESSAGES as f64;
    assert_eq!(
        moved,
        Moved {
            accepted: n,
            ok_attempts: n,
            failed_attempts: 3.0 * n,
            latency_count: 4.0 * n,
            delivered: n,
            retried: 2.0 * n,
            exhausted: n,
            leased: 4.0 * n,
        },
        "every attempt counted once, by class and outcome"
    );
    for state in ["due", "delayed", "sending"] {
        assert_eq!(queue(&after, state), Some(0.0), "{state} after the drain");
    }
    let gauge = |name| after.get(name, &[]);
    assert_eq!(gauge("hookline_queue_oldest_due_age_seconds"), Some(0.0));
    assert_eq!(gauge("hookline_worker_in_flight_deliveries"), Some(0.0));
    assert_eq!(gauge("hookline_store_up"), Some(1.0));
    assert!(
        gauge("hookline_attempt_duration_seconds_sum").is_some_and(|s| s > 0.0),
        "latencies add up to something"
    );
    assert_eq!(
        after.get("hookline_breakers_open", &[("state", "open")]),
        Some(0.0)
    );
    let claims = after.counter("hookline_claim_batch_size_count", &[])
        - before.counter("hookline_claim_batch_size_count", &[]);
    let timed = after.counter("hookline_claim_duration_seconds_count", &[])
        - before.counter("hookline_claim_duration_seconds_count", &[]);
    assert!(
        claims >= 1.0 && claims == timed,
        "{claims} claims, {timed} timed"
    );
}

#[tokio::test]
async fn metrics_and_status_refuse_requests_without_a_valid_token() {
    let app = spawn_app(StoreKind::Sqlite).await;
    for path in ["/metrics", "/api/v1/status"] {
        for token in [None, Some("not-the-token-0123456789")] {
            let mut req = app.client.get(app.url(path));
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            let response = req.send().await.expect("the API answers");
            assert_eq!(
                response.status(),
                reqwest::StatusCode::UNAUTHORIZED,
                "{path}"
            );
            let body = parse_body(&response.bytes().await.expect("a body"));
            assert_error_shape(&body, path);
            assert_eq!(body["code"], "authentication_failed");
        }
        let authorized = app.get(path).await;
        assert_eq!(
            authorized.0,
            reqwest::StatusCode::OK,
            "{path} with the token"
        );
    }
}
