//! SIGTERM to a busy worker: it stops claiming, finishes and records what it has in flight,
//! exits 0 within the request timeout, and a restarted worker delivers the rest.

use super::{Fleet, REQUEST_TIMEOUT, app_with_endpoints};
use crate::helpers::{DEADLINE, Receiver, TOKEN, TestApp, eventually};
use nix::sys::signal::Signal;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long the receiver thinks before answering 200, so requests are in flight.
const ANSWER_AFTER: Duration = Duration::from_millis(300);
/// Worker concurrency: the stream outpaces it (8 / 300 ms ≈ 27/s), so work is left over.
const CONCURRENCY: usize = 8;
/// A message every this often, until the worker has exited.
const STREAM_EVERY: Duration = Duration::from_millis(25);
/// Allowed on top of the request timeout for the process to wind down.
const EXIT_MARGIN: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_worker_records_every_request_it_made_and_a_restart_delivers_the_rest() {
    let fleet = Fleet::exclusive().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let rx = Receiver::start_with_delay(ANSWER_AFTER, ANSWER_AFTER).await;
    let api = fleet.start_api().await;
    let (app_id, endpoints) = app_with_endpoints(&api.client, &rx, &["/drain".to_owned()]).await;
    let worker_env = [("HOOKLINE_WORKER_CONCURRENCY", CONCURRENCY.to_string())];
    let worker = fleet.start_worker(&worker_env).await;

    let stop = CancellationToken::new();
    let stream = tokio::spawn(stream_messages(api.port, app_id.clone(), stop.clone()));
    eventually("a full worker in steady state", DEADLINE, || async {
        (rx.total() >= 2 * CONCURRENCY && rx.in_flight() >= CONCURRENCY / 2).then_some(())
    })
    .await;
    let in_flight = rx.in_flight();
    let terminated = Instant::now();
    worker.process.signal(Signal::SIGTERM);
    let finished = worker
        .process
        .wait_exit_within(REQUEST_TIMEOUT + EXIT_MARGIN)
        .await;
    let took = terminated.elapsed();
    stop.cancel();
    let posted = stream.await.expect("the stream did not panic");
    println!(
        "drain: SIGTERM with {in_flight} requests in flight; exited with {} after {took:?}",
        finished.status
    );
    assert!(
        finished.status.success(),
        "the worker exits 0 after draining: {}\n{}",
        finished.status,
        finished.stderr
    );
    eventually("every request to be answered", DEADLINE, || async {
        (rx.in_flight() == 0).then_some(())
    })
    .await;
    assert_eq!(
        rx.abandoned(),
        0,
        "no request was cut off before its answer"
    );

    // Every request the receiver saw has its attempt recorded, and each one got its 200.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for request in rx.requests("/drain") {
        *seen
            .entry(request.header("webhook-id").to_owned())
            .or_default() += 1;
    }
    let attempts = api
        .client
        .list_all(&format!(
            "/api/v1/app/{app_id}/attempt/endpoint/{}",
            endpoints[0]
        ))
        .await;
    let mut recorded: BTreeMap<String, usize> = BTreeMap::new();
    for attempt in &attempts {
        let msg = attempt["msgId"].as_str().expect("attempt msgId").to_owned();
        *recorded.entry(msg).or_default() += 1;
        assert_eq!(
            attempt["responseStatusCode"], 200,
            "an attempt in flight at SIGTERM was finished, not cut off: {attempt}"
        );
    }
    assert_eq!(
        recorded, seen,
        "the recorded attempts are exactly the requests the receiver saw"
    );
    let statuses = fleet.delivery_statuses().await;
    assert_eq!(
        statuses.get(&3),
        None,
        "no delivery is left `sending`: {statuses:?}"
    );
    assert!(
        statuses.get(&1).is_some_and(|n| *n > 0),
        "the stream left work for the restart: {statuses:?}"
    );

    let restarted = fleet.start_worker(&worker_env).await;
    let total = i64::try_from(posted.len()).expect("small");
    fleet.wait_all_delivered(total, deadline).await;
    let delivered: BTreeSet<String> = rx
        .requests("/drain")
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    let posted_ids: BTreeSet<String> = posted.iter().cloned().collect();
    assert_eq!(delivered, posted_ids, "every posted message was delivered");
    assert_eq!(
        rx.count("/drain"),
        posted.len(),
        "a graceful restart delivers nothing twice"
    );
    let finished = restarted.process.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
}

/// Posts a message every [`STREAM_EVERY`] until `stop`, returning the ids posted.
async fn stream_messages(port: u16, app_id: String, stop: CancellationToken) -> Vec<String> {
    let client = TestApp::external(port, TOKEN);
    let mut ticks = tokio::time::interval(STREAM_EVERY);
    let mut posted = Vec::new();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return posted,
        }
        let n = posted.len();
        posted.push(
            client
                .send_message(&app_id, "order.created", json!({ "n": n }))
                .await,
        );
    }
}
