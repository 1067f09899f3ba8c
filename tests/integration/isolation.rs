//! Receiver isolation end to end: a hanging, a failing or a deep-backlogged receiver does
//! not delay anybody else, and a tripped breaker lets exactly one probe through. The
//! fleet-wide rate limit, with several `hookline worker` processes, is in `fleet.rs`.

mod behaving;
mod fleet;

use crate::helpers::{
    DEADLINE, SUCCESS, StoreKind, TestApp, eventually, per_store, spawn_app_with, test_config,
};
use crate::stores::TestDatabase;
use behaving::{Behaving, Behaviour};
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

per_store!(
    a_hanging_and_a_failing_receiver_neither_delay_nor_starve_healthy_endpoints,
    an_open_breaker_holds_deliveries_until_a_single_probe_succeeds,
    a_fresh_message_overtakes_another_endpoints_deep_backlog,
    a_fresh_message_overtakes_a_backlog_even_on_a_worker_with_one_slot,
);

/// `GET …/endpoint/{ep}/health`, asserting 200.
async fn health(app: &TestApp, app_id: &str, ep: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/app/{app_id}/endpoint/{ep}/health"))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "endpoint health: {body}");
    body
}

/// Waits until the endpoint's breaker reports `state`, and returns the health report.
async fn breaker_becomes(
    app: &TestApp,
    app_id: &str,
    ep: &str,
    state: &str,
    within: Duration,
) -> Value {
    eventually(&format!("breaker of {ep} {state}"), within, || async {
        let h = health(app, app_id, ep).await;
        (h["breaker"]["state"] == state).then_some(h)
    })
    .await
}

/// Posts `n` messages of `event_type`, `parallel` at a time, and returns their ids.
async fn post_many(
    app: &TestApp,
    app_id: &str,
    event_type: &str,
    n: usize,
    parallel: usize,
) -> BTreeSet<String> {
    futures::stream::iter(0..n)
        .map(|i| app.send_message(app_id, event_type, json!({ "n": i })))
        .buffer_unordered(parallel)
        .collect()
        .await
}

async fn a_hanging_and_a_failing_receiver_neither_delay_nor_starve_healthy_endpoints(
    store: StoreKind,
) {
    const MESSAGES: usize = 100;
    const BULKHEAD: usize = 4;
    const FAILURES: usize = 5;
    let rx = Behaving::start().await;
    rx.set("/hang", Behaviour::Hang(Duration::from_secs(30)));
    rx.set("/fail", Behaviour::status(500));
    let app = spawn_app_with(store, |c| {
        c.request_timeout = Duration::from_secs(3);
        c.endpoint_concurrency = BULKHEAD;
        // Without the bulkhead the hanging receiver alone would hold every slot.
        c.worker_concurrency = 16;
        c.breaker_failures = FAILURES as u32;
        // No probe within the test: every request counted below is before the trip.
        c.breaker_cooldown = Duration::from_secs(60);
        c.breaker_max_cooldown = Duration::from_secs(60);
    })
    .await;
    let app_id = app.create_app("Isolation").await;
    let hang = app
        .create_endpoint_id(&app_id, &rx.url("/hang"), json!({}))
        .await;
    let fail = app
        .create_endpoint_id(&app_id, &rx.url("/fail"), json!({}))
        .await;
    let healthy: Vec<String> = (1..=4).map(|n| format!("/ok{n}")).collect();
    for path in &healthy {
        app.create_endpoint_id(&app_id, &rx.url(path), json!({}))
            .await;
    }

    let start = Instant::now();
    let sent = post_many(&app, &app_id, "order.created", MESSAGES, 4).await;
    eventually(
        "every healthy endpoint gets every message",
        Duration::from_secs(20),
        || async { healthy.iter().all(|p| rx.ids(p) == sent).then_some(()) },
    )
    .await;
    let healthy_done = start.elapsed();
    let hang_meanwhile = rx.count("/hang");
    for path in &healthy {
        assert_eq!(rx.count(path), MESSAGES, "{path} got each message once");
    }

    let hang_health = breaker_becomes(&app, &app_id, &hang, "open", Duration::from_secs(20)).await;
    let fail_health = health(&app, &app_id, &fail).await;
    let (hangs, fails) = (rx.count("/hang"), rx.count("/fail"));
    eprintln!(
        "healthy endpoints done after {healthy_done:?} while /hang had {hang_meanwhile} \
         requests; /hang breaker open after {:?} with {hangs} requests (at most {} open at \
         once); /fail {fails} requests",
        start.elapsed(),
        rx.most_open("/hang"),
    );
    assert_eq!(
        fail_health["breaker"]["state"], "open",
        "the failing endpoint's breaker: {fail_health}"
    );
    assert!(
        rx.most_open("/hang") <= BULKHEAD,
        "at most {BULKHEAD} requests hang at once, saw {}",
        rx.most_open("/hang")
    );
    // Up to the bulkhead in flight when the last allowed failure trips the breaker.
    let allowed = FAILURES + BULKHEAD - 1;
    assert!(
        hangs <= allowed,
        "{hangs} requests to the hanging receiver, bulkhead and breaker allow {allowed}"
    );
    assert!(
        fails <= allowed,
        "{fails} of {MESSAGES} requests to the failing receiver, allowed {allowed}"
    );
    assert_eq!(hang_health["concurrencyLimit"], BULKHEAD);
    assert!(
        hang_health["inFlight"]
            .as_i64()
            .is_some_and(|n| n <= BULKHEAD as i64),
        "{hang_health}"
    );
}

async fn an_open_breaker_holds_deliveries_until_a_single_probe_succeeds(store: StoreKind) {
    const MESSAGES: usize = 10;
    const BULKHEAD: usize = 4;
    const FAILURES: usize = 3;
    let cooldown = Duration::from_secs(1);
    let rx = Behaving::start().await;
    rx.set("/flaky", Behaviour::status(500));
    let app = spawn_app_with(store, |c| {
        c.endpoint_concurrency = BULKHEAD;
        c.breaker_failures = FAILURES as u32;
        c.breaker_cooldown = cooldown;
        c.breaker_max_cooldown = Duration::from_secs(10);
        c.retry_schedule = vec![Duration::from_millis(200); 5];
    })
    .await;
    let app_id = app.create_app("Breaker").await;
    let ep = app
        .create_endpoint_id(&app_id, &rx.url("/flaky"), json!({}))
        .await;
    let sent = post_many(&app, &app_id, "order.created", MESSAGES, 1).await;

    breaker_becomes(&app, &app_id, &ep, "open", DEADLINE).await;
    // Let requests leased just before the trip land, then watch the cooldown.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let burst = rx.hits("/flaky");
    assert!(
        (FAILURES..FAILURES + BULKHEAD).contains(&burst.len()),
        "{} requests before the breaker opened",
        burst.len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count("/flaky"), burst.len(), "nothing sent while open");
    let logged = app.list_attempts_by_endpoint(&app_id, &ep).await;
    assert_eq!(logged.len(), burst.len(), "no attempts while open");
    for msg in &sent {
        let dests = app.attempted_destinations(&app_id, msg).await;
        assert_eq!(dests[0]["status"], 1, "{msg} is held, pending: {dests:?}");
    }

    rx.set(
        "/flaky",
        Behaviour::Answer {
            status: 200,
            after: Duration::from_millis(300),
        },
    );
    for msg in &sent {
        app.wait_for_delivery_status(&app_id, msg, &ep, SUCCESS)
            .await;
    }
    let hits = rx.hits("/flaky");
    let probe = &hits[burst.len()];
    let gap = probe.at.duration_since(burst[FAILURES - 1].at);
    assert!(
        gap >= cooldown - Duration::from_millis(10),
        "the probe came {gap:?} after the tripping failure, cooldown {cooldown:?}"
    );
    let answered = probe.answered.expect("the probe was answered");
    let during_probe = hits[burst.len() + 1..]
        .iter()
        .filter(|h| h.at < answered)
        .count();
    assert_eq!(during_probe, 0, "one probe, alone, until it succeeded");
    eprintln!(
        "burst of {} failures; probe {gap:?} after the third; {} requests in all",
        burst.len(),
        hits.len()
    );
    assert_eq!(hits.len(), burst.len() + MESSAGES, "each message once more");

    let mut failed_per_msg: BTreeMap<&str, usize> = BTreeMap::new();
    for h in &burst {
        *failed_per_msg.entry(h.msg_id.as_str()).or_default() += 1;
    }
    for msg in &sent {
        let attempts = app.list_attempts_by_msg(&app_id, msg).await;
        let failed = failed_per_msg.get(msg.as_str()).copied().unwrap_or(0);
        assert_eq!(
            attempts.len(),
            failed + 1,
            "{msg}: its burst failures and one success, nothing while held: {attempts:?}"
        );
        let ok = attempts.iter().filter(|a| a["status"] == SUCCESS).count();
        assert_eq!(ok, 1);
    }
}

/// The order in which the receiver saw the deep endpoint's requests and the fresh one.
struct Backlog {
    /// Requests to the deep endpoint before the fresh one arrived.
    deep_before_fresh: usize,
    /// Requests to the deep endpoint when the fresh message was posted.
    deep_at_post: usize,
}

/// A backlog of `depth` messages to `/deep` (answering after 50 ms), posted before any
/// worker runs; once the workers are busy with it, one message to `/fresh`.
async fn backlog_then_one(store: StoreKind, depth: usize, worker_concurrency: usize) -> Backlog {
    let rx = Behaving::start().await;
    rx.set(
        "/deep",
        Behaviour::Answer {
            status: 200,
            after: Duration::from_millis(50),
        },
    );
    let db = TestDatabase::create(store).await;
    let database_url = db.url();

    // The API alone first, so the whole backlog is waiting when delivery starts.
    let api = hookline::Application::build(test_config(db.url()), hookline::Role::Api)
        .await
        .expect("the API builds");
    let port = api.port().expect("the API listens");
    let stop = CancellationToken::new();
    let running = tokio::spawn(api.run_until_stopped(stop.clone()));
    let client = TestApp::external(port, crate::helpers::TOKEN);
    let app_id = client.create_app("Backlog").await;
    client
        .create_endpoint_id(
            &app_id,
            &rx.url("/deep"),
            json!({ "eventTypes": ["deep.work"] }),
        )
        .await;
    let fresh = client
        .create_endpoint_id(
            &app_id,
            &rx.url("/fresh"),
            json!({ "eventTypes": ["fresh.work"] }),
        )
        .await;
    post_many(&client, &app_id, "deep.work", depth, 8).await;
    stop.cancel();
    running
        .await
        .expect("the API task")
        .expect("the API stops cleanly");

    let app = spawn_app_with(store, |c| {
        c.database_url = database_url;
        c.worker_concurrency = worker_concurrency;
        c.endpoint_concurrency = worker_concurrency;
    })
    .await;
    rx.wait_for_hits("/deep", 2 * worker_concurrency).await;
    let deep_at_post = rx.count("/deep");
    let msg = app.send_message(&app_id, "fresh.work", json!({})).await;
    eventually(
        "the fresh message arrives",
        Duration::from_secs(20),
        || async { (rx.count("/fresh") == 1).then_some(()) },
    )
    .await;
    app.wait_for_delivery_status(&app_id, &msg, &fresh, SUCCESS)
        .await;
    let deep_before_fresh = rx
        .all_hits()
        .iter()
        .take_while(|h| h.path != "/fresh")
        .filter(|h| h.path == "/deep")
        .count();
    Backlog {
        deep_before_fresh,
        deep_at_post,
    }
}

async fn a_fresh_message_overtakes_another_endpoints_deep_backlog(store: StoreKind) {
    const DEPTH: usize = 2000;
    let seen = backlog_then_one(store, DEPTH, 8).await;
    eprintln!(
        "/deep had {} of {DEPTH} when the fresh message was posted, {} when it arrived",
        seen.deep_at_post, seen.deep_before_fresh
    );
    assert!(
        seen.deep_before_fresh < seen.deep_at_post + 100,
        "the fresh message waited behind {} of the backlog",
        seen.deep_before_fresh - seen.deep_at_post
    );
    assert!(DEPTH - seen.deep_before_fresh > 1000, "far from drained");
}

async fn a_fresh_message_overtakes_a_backlog_even_on_a_worker_with_one_slot(store: StoreKind) {
    const DEPTH: usize = 150;
    let seen = backlog_then_one(store, DEPTH, 1).await;
    assert!(
        seen.deep_before_fresh < seen.deep_at_post + 10,
        "the fresh message waited behind {} of the {DEPTH} backlog",
        seen.deep_before_fresh - seen.deep_at_post
    );
}
