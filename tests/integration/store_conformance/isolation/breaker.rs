//! The circuit breaker as claims see it: open after consecutive receiver failures, shut
//! for a cooldown that grows, one probe, closed by a success.

use super::*;
use hookline::delivery::gate::BreakerState;
use hookline::store::MessageFilter;
use std::collections::HashMap;

store_tests!(
    consecutive_failures_open_the_breaker_until_a_single_probe_succeeds,
    a_lost_probe_is_replaced_once_its_lease_expires,
    client_errors_leave_the_breaker_closed_but_timeouts_and_throttling_open_it,
    a_failure_rate_over_the_window_opens_the_breaker_across_batches,
);

pub async fn consecutive_failures_open_the_breaker_until_a_single_probe_succeeds(store: DynStore) {
    let cooldown = Duration::from_millis(400);
    let policy = gated(10, 3, cooldown);
    let app = new_app(&store, None).await;
    let sick = endpoint_for(&store, &app.id, "sick").await;
    let well = endpoint_for(&store, &app.id, "well").await;
    let msgs = post_n(&store, &app.id, "sick", 6).await;
    let mut failed: HashMap<i64, u32> = HashMap::new();

    let burst = claim_with(&store, WORKER_A, 3, LONG_LEASE, &policy).await;
    assert_eq!(on(&burst, &sick), 3);
    for c in &burst {
        *failed.entry(c.delivery_id).or_default() += 1;
    }
    let fails = burst
        .iter()
        .map(|c| outcome(c, WORKER_A, 500, retry_now()))
        .collect();
    record_with(&store, fails, &policy).await;
    let gate = gate_of(&store, &app.id, &sick).await;
    assert_eq!((gate.breaker, gate.trips), (BreakerState::Open, 1));
    let open_for = gate.open_until.map(|t| millis(t - gate.breaker_since));
    assert!(
        open_for.is_some_and(|ms| (399..=401).contains(&ms)),
        "first cooldown {open_for:?} ms"
    );

    post(&store, message(&app.id, "well", None)).await;
    let during = claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy).await;
    assert_eq!(
        (on(&during, &sick), on(&during, &well)),
        (0, 1),
        "an open breaker holds all six due deliveries, and only them"
    );
    let page = store
        .list_attempted_messages(
            &app.id,
            &sick.id,
            &MessageFilter::default(),
            &first_page(50, Order::Ascending),
        )
        .await
        .expect("attempted messages");
    assert_eq!(page.items.len(), msgs.len());
    assert!(
        page.items
            .iter()
            .all(|(_, s)| s.status == DeliveryStatus::Pending),
        "held deliveries stay pending: {:?}",
        page.items.iter().map(|(_, s)| s.status).collect::<Vec<_>>()
    );

    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    let probe = claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy).await;
    assert_eq!(
        (probe.len(), on(&probe, &sick)),
        (1, 1),
        "after the cooldown exactly one probe goes"
    );
    assert_eq!(
        gate_of(&store, &app.id, &sick).await.breaker,
        BreakerState::HalfOpen
    );
    assert!(
        claim_with(&store, WORKER_A, 10, LONG_LEASE, &policy)
            .await
            .is_empty(),
        "no second delivery while the probe is out"
    );

    *failed.entry(probe[0].delivery_id).or_default() += 1;
    record_with(
        &store,
        vec![outcome(&probe[0], WORKER_B, 503, retry_now())],
        &policy,
    )
    .await;
    let gate = gate_of(&store, &app.id, &sick).await;
    assert_eq!((gate.breaker, gate.trips), (BreakerState::Open, 2));
    let open_for = gate.open_until.map(|t| millis(t - gate.breaker_since));
    assert!(
        open_for.is_some_and(|ms| (799..=801).contains(&ms)),
        "a failed probe doubles the cooldown: {open_for:?} ms"
    );
    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    assert!(
        claim_with(&store, WORKER_A, 10, LONG_LEASE, &policy)
            .await
            .is_empty(),
        "the first cooldown's length is not enough the second time"
    );
    tokio::time::sleep(cooldown).await;
    let probe = claim_with(&store, WORKER_A, 10, LONG_LEASE, &policy).await;
    assert_eq!(probe.len(), 1, "the longer cooldown ends with one probe");
    assert_eq!(
        probe[0].attempts_made,
        failed.get(&probe[0].delivery_id).copied().unwrap_or(0)
    );

    record_with(
        &store,
        vec![outcome(&probe[0], WORKER_A, 200, NextStep::Delivered)],
        &policy,
    )
    .await;
    let gate = gate_of(&store, &app.id, &sick).await;
    assert_eq!(
        (gate.breaker, gate.trips, gate.consecutive_failures),
        (BreakerState::Closed, 0, 0)
    );
    let rest = claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy).await;
    assert_eq!(on(&rest, &sick), msgs.len() - 1, "claims flow again");
    for c in &rest {
        assert_eq!(
            c.attempts_made,
            failed.get(&c.delivery_id).copied().unwrap_or(0),
            "a delivery held by the breaker gained no attempt"
        );
    }
    let attempts = attempt_log(&store, &app.id, &sick).await;
    assert_eq!(attempts.len(), 5, "3 failures, a failed and a good probe");
}

pub async fn a_lost_probe_is_replaced_once_its_lease_expires(store: DynStore) {
    let cooldown = Duration::from_millis(200);
    let policy = gated(10, 1, cooldown);
    let app = new_app(&store, None).await;
    let sick = endpoint_for(&store, &app.id, "sick").await;
    post_n(&store, &app.id, "sick", 3).await;
    let first = claim_with(&store, WORKER_A, 1, LONG_LEASE, &policy).await;
    record_with(
        &store,
        vec![outcome(&first[0], WORKER_A, 0, retry_now())],
        &policy,
    )
    .await;
    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;

    let probe = claim_with(&store, WORKER_A, 10, SHORT_LEASE, &policy).await;
    assert_eq!(probe.len(), 1);
    assert!(
        claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy)
            .await
            .is_empty()
    );
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(100)).await;
    let again = claim_with(&store, WORKER_B, 10, LONG_LEASE, &policy).await;
    assert_eq!(
        again.len(),
        1,
        "the worker holding the probe died: one more probe, not the flood"
    );
    assert_eq!(
        gate_of(&store, &app.id, &sick).await.breaker,
        BreakerState::HalfOpen
    );
}

pub async fn client_errors_leave_the_breaker_closed_but_timeouts_and_throttling_open_it(
    store: DynStore,
) {
    let policy = gated(10, 3, Duration::from_secs(60));
    let app = new_app(&store, None).await;
    let refusing = endpoint_for(&store, &app.id, "refusing").await;
    let unwell = endpoint_for(&store, &app.id, "unwell").await;
    post_n(&store, &app.id, "refusing", 5).await;
    post_n(&store, &app.id, "unwell", 3).await;

    let claimed = claim_with(&store, WORKER_A, 20, LONG_LEASE, &policy).await;
    assert_eq!((on(&claimed, &refusing), on(&claimed, &unwell)), (5, 3));
    let mut refusals = vec![400, 401, 403, 404, 422].into_iter();
    let mut signs_of_trouble = vec![408, 429, 0].into_iter();
    let outcomes = claimed
        .iter()
        .map(|c| {
            let codes = if c.endpoint_id == refusing.id {
                &mut refusals
            } else {
                &mut signs_of_trouble
            };
            let code = codes.next().expect("one code per delivery");
            outcome(c, WORKER_A, code, retry_now())
        })
        .collect();
    record_with(&store, outcomes, &policy).await;

    let refused = gate_of(&store, &app.id, &refusing).await;
    assert_eq!(
        (refused.breaker, refused.consecutive_failures),
        (BreakerState::Closed, 0),
        "five 4xx in a row are not the receiver being down"
    );
    assert_eq!(
        gate_of(&store, &app.id, &unwell).await.breaker,
        BreakerState::Open,
        "408, 429 and a timeout are three failures"
    );
    let again = claim_with(&store, WORKER_B, 20, LONG_LEASE, &policy).await;
    assert_eq!((on(&again, &refusing), on(&again, &unwell)), (5, 0));
}

pub async fn a_failure_rate_over_the_window_opens_the_breaker_across_batches(store: DynStore) {
    let mut policy = gated(10, u32::MAX, Duration::from_secs(60));
    policy.breaker.failure_rate = 0.5;
    policy.breaker.min_volume = 10;
    let app = new_app(&store, None).await;
    let mixed = endpoint_for(&store, &app.id, "mixed").await;
    post_n(&store, &app.id, "mixed", 11).await;

    // Never two failures in a row, half of them failures, one outcome per transaction:
    // the window's counts must survive each write.
    for i in 0..11 {
        let c = claim_with(&store, WORKER_A, 1, LONG_LEASE, &policy)
            .await
            .remove(0);
        let o = if i % 2 == 0 {
            outcome(&c, WORKER_A, 502, retry_now())
        } else {
            outcome(&c, WORKER_A, 200, NextStep::Delivered)
        };
        record_with(&store, vec![o], &policy).await;
        let gate = gate_of(&store, &app.id, &mixed).await;
        let expected = if i < 10 {
            BreakerState::Closed
        } else {
            BreakerState::Open
        };
        assert_eq!(gate.breaker, expected, "after {} results: {gate:?}", i + 1);
    }
}
