//! Sharing under pressure: small claims take turns between endpoints, an application's
//! rate budget is shared by its endpoints, and only the probe decides a half-open breaker.

use super::*;
use hookline::delivery::gate::BreakerState;

store_tests!(
    small_claims_do_not_all_go_to_the_endpoint_with_the_oldest_backlog,
    an_application_rate_budget_is_shared_by_its_endpoints,
    a_result_sent_before_the_trip_does_not_decide_the_probe,
);

/// A saturated worker claims one or two at a time (`want` is its free permits): successive
/// claims of one must take turns, not all go to the endpoint whose oldest due delivery is
/// oldest, or another endpoint would wait until that backlog is drained.
pub async fn small_claims_do_not_all_go_to_the_endpoint_with_the_oldest_backlog(store: DynStore) {
    let policy = bulkhead(1000);
    let app = new_app(&store, None).await;
    endpoint_for(&store, &app.id, "deep").await;
    let fresh = endpoint_for(&store, &app.id, "fresh").await;
    post_n(&store, &app.id, "deep", 20).await;
    post(&store, message(&app.id, "fresh", None)).await;

    let mut served_fresh_at = None;
    for n in 1..=21 {
        let c = claim_with(&store, WORKER_A, 1, LONG_LEASE, &policy)
            .await
            .remove(0);
        if c.endpoint_id == fresh.id {
            served_fresh_at = Some(n);
            break;
        }
        let done = outcome(&c, WORKER_A, 200, NextStep::Delivered);
        record_with(&store, vec![done], &policy).await;
    }
    assert!(
        served_fresh_at.is_some_and(|n| n <= 2),
        "the fresh endpoint was served by claim {served_fresh_at:?} of 21 claims of one"
    );
}

/// Under an application `throttleRate`, the application's slots are shared by its
/// endpoints: the one with a deep backlog must not take the whole budget at every claim.
pub async fn an_application_rate_budget_is_shared_by_its_endpoints(store: DynStore) {
    let policy = bulkhead(1000);
    let app = new_app(&store, None).await;
    let mut fields = app_fields("Acme", None);
    fields.throttle_rate = Some(5);
    store
        .update_application(&app.id, &fields)
        .await
        .expect("set the application's throttle rate");
    let deep = endpoint_for(&store, &app.id, "deep").await;
    let fresh = endpoint_for(&store, &app.id, "fresh").await;
    post_n(&store, &app.id, "deep", 30).await;
    post(&store, message(&app.id, "fresh", None)).await;

    let mut per_claim = Vec::new();
    for _ in 0..4 {
        let c = claim_with(&store, WORKER_A, 100, LONG_LEASE, &policy).await;
        per_claim.push((on(&c, &deep), on(&c, &fresh)));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        per_claim.iter().any(|&(_, fresh)| fresh == 1),
        "(deep, fresh) slots per claim over 2 s: {per_claim:?}"
    );
}

/// Only the probe decides a half-open breaker: a request sent before the trip that fails
/// after the cooldown must not reopen it (with a doubled cooldown), nor may the probe's
/// success that follows be lost.
pub async fn a_result_sent_before_the_trip_does_not_decide_the_probe(store: DynStore) {
    let cooldown = Duration::from_millis(200);
    let policy = gated(10, 1, cooldown);
    let app = new_app(&store, None).await;
    let sick = endpoint_for(&store, &app.id, "sick").await;
    post_n(&store, &app.id, "sick", 5).await;
    let burst = claim_with(&store, WORKER_A, 2, LONG_LEASE, &policy).await;
    let sent_at = Utc::now();
    let tripping = outcome(&burst[0], WORKER_A, 500, retry_now());
    record_with(&store, vec![tripping], &policy).await;
    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    let probe = claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy).await;
    assert_eq!(probe.len(), 1);

    // The other request of the burst, sent before the trip, times out only now.
    let mut straggler = outcome(&burst[1], WORKER_A, 0, retry_now());
    straggler.attempt.created_at = sent_at;
    record_with(&store, vec![straggler], &policy).await;
    let good = outcome(&probe[0], WORKER_B, 200, NextStep::Delivered);
    record_with(&store, vec![good], &policy).await;
    let gate = gate_of(&store, &app.id, &sick).await;
    assert_eq!(
        gate.breaker,
        BreakerState::Closed,
        "the probe succeeded: {gate:?}"
    );
}
