//! `kill -9` of a worker mid-stream: nothing is lost, and what is delivered twice is bounded
//! by the dead worker's concurrency.

use super::{Fleet, app_with_endpoints};
use crate::helpers::{Receiver, TOKEN, TestApp};
use futures::StreamExt;
use nix::sys::signal::Signal;
use serde_json::json;
use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

const MESSAGES: usize = 2_000;
const ENDPOINTS: usize = 20;
/// Requests in flight per worker.
const CONCURRENCY: usize = 32;
/// The most unrecorded leases a worker can hold (in flight, or answered and waiting for a
/// recorder), hence the duplicate bound.
const LEASES: usize = 2 * CONCURRENCY;
/// Messages posted at once.
const POSTERS: usize = 16;
/// Received requests before the kill, so deliveries are flowing.
const KILL_AFTER: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_nothing_and_duplicates_at_most_its_unrecorded_leases() {
    let fleet = Fleet::exclusive().await;
    let started = Instant::now();
    // 40,000 deliveries take 45–90 s on two busy cores with debug builds; the bound only
    // matters when something hangs.
    let deadline = started + Duration::from_secs(180);
    let rx = Receiver::start_with_delay(Duration::from_millis(5), Duration::from_millis(20)).await;
    let api = fleet.start_api().await;
    let worker_env = [
        ("HOOKLINE_WORKER_CONCURRENCY", CONCURRENCY.to_string()),
        ("HOOKLINE_CLAIM_BATCH", CONCURRENCY.to_string()),
    ];
    let paths: Vec<String> = (0..ENDPOINTS).map(|i| format!("/ep{i}")).collect();
    let (app_id, _) = app_with_endpoints(&api.client, &rx, &paths).await;
    let victim = fleet.start_worker(&worker_env).await;
    let mut survivors = [
        fleet.start_worker(&worker_env).await,
        fleet.start_worker(&worker_env).await,
    ];

    let posting = tokio::spawn(post_messages(api.port, app_id.clone()));
    while rx.total() < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "only {} requests arrived before the deadline",
            rx.total()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Kill it while it holds leases. It is stopped (SIGSTOP) before they are read, so it
    // cannot record them between the read and the kill; one it is between batches is let go
    // on and caught again.
    let orphaned = loop {
        assert!(Instant::now() < deadline, "the worker never held a lease");
        victim.process.signal(Signal::SIGSTOP);
        let leases: HashSet<(String, String)> = sqlx::query_as::<_, (String, String)>(
            "SELECT d.msg_id, e.url FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
             WHERE d.status = 3 AND d.locked_by = $1",
        )
        .bind(&victim.id)
        .fetch_all(&fleet.pool)
        .await
        .expect("reading the worker's leases")
        .into_iter()
        .map(|(msg, url)| (msg, url.trim_start_matches(&rx.url("")).to_owned()))
        .collect();
        if !leases.is_empty() {
            break leases;
        }
        victim.process.signal(Signal::SIGCONT);
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let status = victim.process.kill().await;
    println!(
        "killed worker {} ({status}) after {} requests; it held {} leases",
        victim.id,
        rx.total(),
        orphaned.len()
    );
    assert!(
        orphaned.len() <= LEASES,
        "a worker holds at most twice its concurrency in leases, the dead one held {}",
        orphaned.len()
    );

    let posted = tokio::time::timeout_at(deadline.into(), posting)
        .await
        .expect("all messages were posted before the deadline")
        .expect("the posting task did not panic");
    assert_eq!(posted.len(), MESSAGES);
    println!(
        "crash test: {MESSAGES} messages posted after {:?}",
        started.elapsed()
    );
    let total = i64::try_from(MESSAGES * ENDPOINTS).expect("small");
    fleet.wait_all_delivered(total, deadline).await;
    println!("crash test: all delivered after {:?}", started.elapsed());
    for worker in &mut survivors {
        assert!(
            worker.process.exited().is_none(),
            "worker {} died\n{}",
            worker.id,
            worker.process.output_tail(40)
        );
    }

    let received = rx.per_message_and_path();
    let missing: Vec<_> = posted
        .iter()
        .flat_map(|msg| paths.iter().map(move |p| (msg.clone(), p.clone())))
        .filter(|pair| !received.contains_key(pair))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} pairs were never received, e.g. {:?}",
        missing.len(),
        MESSAGES * ENDPOINTS,
        &missing[..missing.len().min(5)]
    );
    let duplicated: BTreeSet<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    let duplicates: usize = duplicated.iter().map(|(_, n)| **n - 1).sum();
    println!(
        "crash test: {} requests for {} pairs, {duplicates} duplicates ({} pairs) \
         after killing a worker holding {} leases",
        rx.total(),
        received.len(),
        duplicated.len(),
        orphaned.len()
    );
    assert!(
        duplicates <= LEASES,
        "{duplicates} duplicates, more than the killed worker's {LEASES} unrecorded leases"
    );
    let unexplained: Vec<_> = duplicated
        .iter()
        .filter(|(pair, _)| !orphaned.contains(*pair))
        .collect();
    assert!(
        unexplained.is_empty(),
        "only the dead worker's leases may be delivered twice; these were not among them: \
         {unexplained:?}"
    );
    assert_eq!(fleet.sending().await, 0, "no delivery is left `sending`");
    let statuses = fleet.delivery_statuses().await;
    assert_eq!(
        statuses,
        [(0, total)].into_iter().collect(),
        "every delivery succeeded"
    );
    assert_eq!(
        received.len(),
        MESSAGES * ENDPOINTS,
        "nothing was sent that was not posted"
    );
}

/// Posts the messages, [`POSTERS`] at a time, asserting each is accepted; returns their ids.
async fn post_messages(port: u16, app_id: String) -> Vec<String> {
    let client = TestApp::external(port, TOKEN);
    let client = &client;
    let app_id = &app_id;
    futures::stream::iter(0..MESSAGES)
        .map(|n| async move {
            client
                .send_message(app_id, "order.created", json!({ "n": n }))
                .await
        })
        .buffer_unordered(POSTERS)
        .collect()
        .await
}
