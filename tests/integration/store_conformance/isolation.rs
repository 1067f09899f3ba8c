//! Receiver isolation as the store enforces it at claim time: the bulkhead, the circuit
//! breaker, rate-limit slots, fair claims across endpoints and automatic disabling.
//!
//! Each check builds its own [`ClaimPolicy`]; the clock-dependent ones use cooldowns of a
//! few hundred milliseconds and leave wide margins either side of every boundary.

use super::*;
use hookline::delivery::gate::{EndpointGate, Sending};

mod breaker;
mod limits;
mod sharing;

store_tests!(
    the_bulkhead_holds_an_endpoint_to_its_concurrency_across_workers,
    a_worker_counts_its_own_requests_as_it_tracks_them_and_others_by_their_leases,
    an_endpoint_concurrency_limit_overrides_the_default_bulkhead,
    a_deep_backlog_on_one_endpoint_leaves_room_in_a_claim_for_another,
);

/// A policy with a bulkhead of `concurrency`, a breaker tripping after `failures` in a row
/// (never on the failure rate) with a first cooldown of `cooldown`, and no auto-disable.
fn gated(concurrency: u32, failures: u32, cooldown: Duration) -> ClaimPolicy {
    ClaimPolicy {
        endpoint_concurrency: concurrency,
        rate_lookahead: Duration::from_secs(1),
        breaker: BreakerPolicy {
            consecutive_failures: failures,
            failure_rate: 2.0,
            min_volume: u32::MAX,
            window: Duration::from_secs(60),
            cooldown,
            max_cooldown: Duration::from_secs(60),
            disable_after: Duration::from_secs(3650 * 24 * 3600),
        },
        sending: None,
    }
}

/// No breaker to speak of, a bulkhead of `concurrency`.
fn bulkhead(concurrency: u32) -> ClaimPolicy {
    gated(concurrency, u32::MAX, Duration::from_secs(60))
}

async fn claim_with(
    store: &DynStore,
    worker: &str,
    limit: usize,
    lease: Duration,
    policy: &ClaimPolicy,
) -> Vec<ClaimedDelivery> {
    store
        .claim(worker, limit, lease, policy)
        .await
        .expect("claiming deliveries")
}

async fn record_with(store: &DynStore, outcomes: Vec<Outcome>, policy: &ClaimPolicy) {
    store
        .record_outcomes(&outcomes, &policy.breaker)
        .await
        .expect("recording outcomes");
}

/// A retry that is due at once, so only the gate can hold it back.
fn retry_now() -> NextStep {
    NextStep::RetryAt(Utc::now() - chrono::Duration::seconds(1))
}

/// The writable fields of `ep` as they are now.
fn fields_of(ep: &Endpoint) -> EndpointFields {
    EndpointFields {
        uid: ep.uid.clone(),
        url: ep.url.clone(),
        description: ep.description.clone(),
        disabled: ep.disabled,
        concurrency_limit: ep.concurrency_limit,
        event_types: ep.event_types.clone(),
        channels: ep.channels.clone(),
        throttle_rate: ep.throttle_rate,
        metadata: ep.metadata.clone(),
    }
}

/// An endpoint that only receives messages of `event_type`.
async fn endpoint_for(store: &DynStore, app: &AppId, event_type: &str) -> Endpoint {
    let mut fields = endpoint_fields(&format!("https://{event_type}.example/hook"));
    fields.event_types = Some(vec![ty(event_type)]);
    new_endpoint(store, app, fields).await
}

async fn post_n(store: &DynStore, app: &AppId, event_type: &str, n: usize) -> Vec<MessageId> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(post(store, message(app, event_type, None)).await.0);
    }
    ids
}

async fn gate_of(store: &DynStore, app: &AppId, ep: &Endpoint) -> EndpointGate {
    store
        .endpoint_health(app, &ep.id)
        .await
        .expect("reading endpoint health")
        .gate
}

async fn reread(store: &DynStore, app: &AppId, ep: &Endpoint) -> Endpoint {
    store
        .get_endpoint(app, ep.id.as_str())
        .await
        .expect("get endpoint")
        .expect("the endpoint exists")
}

fn on(claimed: &[ClaimedDelivery], ep: &Endpoint) -> usize {
    claimed.iter().filter(|c| c.endpoint_id == ep.id).count()
}

fn millis(d: chrono::Duration) -> i64 {
    d.num_milliseconds()
}

pub async fn the_bulkhead_holds_an_endpoint_to_its_concurrency_across_workers(store: DynStore) {
    let policy = bulkhead(2);
    let app = new_app(&store, None).await;
    let busy = endpoint_for(&store, &app.id, "busy").await;
    let quiet = endpoint_for(&store, &app.id, "quiet").await;
    post_n(&store, &app.id, "busy", 10).await;

    let first = claim_with(&store, WORKER_A, 10, LONG_LEASE, &policy).await;
    assert_eq!(
        (first.len(), on(&first, &busy)),
        (2, 2),
        "10 due, 2 allowed"
    );
    let second = claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy).await;
    assert!(
        second.is_empty(),
        "another worker gets nothing while the bulkhead is full: {second:?}"
    );

    post(&store, message(&app.id, "quiet", None)).await;
    let other = claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy).await;
    assert_eq!(
        (other.len(), on(&other, &quiet)),
        (1, 1),
        "a full endpoint does not hold up another"
    );

    record_with(
        &store,
        vec![outcome(&first[0], WORKER_A, 200, NextStep::Delivered)],
        &policy,
    )
    .await;
    let refill = claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy).await;
    assert_eq!(
        (refill.len(), on(&refill, &busy)),
        (1, 1),
        "one recorded outcome frees one place"
    );
    record_with(
        &store,
        vec![
            outcome(&first[1], WORKER_A, 200, NextStep::Delivered),
            outcome(&refill[0], WORKER_B, 200, NextStep::Delivered),
        ],
        &policy,
    )
    .await;

    // Leases that run out free their places too, and losing one is not an attempt.
    let lost = claim_with(&store, WORKER_A, 10, SHORT_LEASE, &policy).await;
    assert_eq!(lost.len(), 2);
    assert!(
        claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy)
            .await
            .is_empty()
    );
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(100)).await;
    let taken_over = claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy).await;
    assert_eq!(taken_over.len(), 2, "expired leases are not in flight");
    assert!(taken_over.iter().all(|c| c.attempts_made == 0));
}

pub async fn a_worker_counts_its_own_requests_as_it_tracks_them_and_others_by_their_leases(
    store: DynStore,
) {
    let policy = bulkhead(4);
    let app = new_app(&store, None).await;
    let ep = endpoint_for(&store, &app.id, "busy").await;
    post_n(&store, &app.id, "busy", 10).await;
    let mine = claim_with(&store, WORKER_A, 2, LONG_LEASE, &policy).await;
    let theirs = claim_with(&store, WORKER_B, 1, LONG_LEASE, &policy).await;
    assert_eq!((on(&mine, &ep), on(&theirs, &ep)), (2, 1));

    // Both of A's requests were answered; their outcomes are not written yet.
    let sending = Sending::new(1);
    let tracked = ClaimPolicy {
        sending: Some(sending.clone()),
        ..policy.clone()
    };
    let more = claim_with(&store, WORKER_A, 10, LONG_LEASE, &tracked).await;
    assert_eq!(
        on(&more, &ep),
        3,
        "B's lease counts, A's answered ones do not: {more:?}"
    );
    let as_b = ClaimPolicy {
        sending: Some(sending),
        ..policy
    };
    assert!(
        claim_with(&store, WORKER_B, 10, LONG_LEASE, &as_b)
            .await
            .is_empty(),
        "to B, all of A's leases count"
    );
}

pub async fn an_endpoint_concurrency_limit_overrides_the_default_bulkhead(store: DynStore) {
    let policy = bulkhead(3);
    let app = new_app(&store, None).await;
    let narrow = endpoint_for(&store, &app.id, "narrow").await;
    let mut fields = fields_of(&narrow);
    fields.concurrency_limit = Some(1);
    store
        .update_endpoint(&app.id, &narrow.id, &fields)
        .await
        .expect("set the concurrency limit");
    let wide = endpoint_for(&store, &app.id, "wide").await;
    post_n(&store, &app.id, "narrow", 5).await;
    post_n(&store, &app.id, "wide", 5).await;

    let claimed = claim_with(&store, WORKER_A, 10, LONG_LEASE, &policy).await;
    assert_eq!((on(&claimed, &narrow), on(&claimed, &wide)), (1, 3));
    assert!(
        claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy)
            .await
            .is_empty()
    );
}

pub async fn a_deep_backlog_on_one_endpoint_leaves_room_in_a_claim_for_another(store: DynStore) {
    let policy = bulkhead(1000);
    let app = new_app(&store, None).await;
    let deep = endpoint_for(&store, &app.id, "deep").await;
    let fresh = endpoint_for(&store, &app.id, "fresh").await;
    post_n(&store, &app.id, "deep", 500).await;
    post(&store, message(&app.id, "fresh", None)).await;

    let claimed = claim_with(&store, WORKER_A, 10, LONG_LEASE, &policy).await;
    assert_eq!(claimed.len(), 10);
    assert_eq!(
        (on(&claimed, &deep), on(&claimed, &fresh)),
        (9, 1),
        "the newcomer is in the first batch"
    );
}
