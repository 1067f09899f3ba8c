//! Rate-limit send slots for endpoints and applications, and automatic disabling.

use super::*;
use hookline::delivery::gate::breaker::DISABLED_GONE;

store_tests!(
    an_endpoint_throttle_rate_spaces_its_send_slots_across_workers,
    an_application_throttle_rate_caps_the_sum_over_its_endpoints,
    an_endpoint_failing_for_the_disable_period_is_disabled_with_a_reason,
    a_gone_receiver_is_disabled_with_the_410_reason_until_re_enabled,
);

/// Asserts the slots are at least `gap` apart and returns them sorted.
fn spaced(mut slots: Vec<DateTime<Utc>>, gap_ms: i64) -> Vec<DateTime<Utc>> {
    slots.sort_unstable();
    for pair in slots.windows(2) {
        assert!(
            millis(pair[1] - pair[0]) >= gap_ms,
            "slots {} ms apart, expected at least {gap_ms}: {slots:?}",
            millis(pair[1] - pair[0])
        );
    }
    slots
}

pub async fn an_endpoint_throttle_rate_spaces_its_send_slots_across_workers(store: DynStore) {
    let policy = bulkhead(100);
    let app = new_app(&store, None).await;
    let slow = endpoint_for(&store, &app.id, "slow").await;
    let mut fields = fields_of(&slow);
    fields.throttle_rate = Some(5);
    store
        .update_endpoint(&app.id, &slow.id, &fields)
        .await
        .expect("set the throttle rate");
    post_n(&store, &app.id, "slow", 20).await;

    let start = Utc::now();
    let first = claim_with(&store, WORKER_A, 20, LONG_LEASE, &policy).await;
    let slots = spaced(first.iter().map(|c| c.not_before).collect(), 200);
    assert!(
        (5..=6).contains(&slots.len()),
        "5/s over a 1 s lookahead is 6 slots at most, got {}",
        slots.len()
    );
    assert!(millis(slots[0] - start) < 200, "the first slot is now");
    assert!(millis(slots[slots.len() - 1] - slots[0]) <= 1000);
    let second = claim_with(&store, WORKER_B, 20, LONG_LEASE, &policy).await;
    assert!(
        second.is_empty(),
        "another worker finds no slot left in the lookahead: {:?}",
        second.iter().map(|c| c.not_before).collect::<Vec<_>>()
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    let third = claim_with(&store, WORKER_B, 20, LONG_LEASE, &policy).await;
    assert!(
        (1..=3).contains(&third.len()),
        "half a second later, slots up to 1 s ahead: {}",
        third.len()
    );
    let all = spaced(
        first.iter().chain(&third).map(|c| c.not_before).collect(),
        200,
    );
    for (i, from) in all.iter().enumerate() {
        let within = all[i..]
            .iter()
            .take_while(|t| millis(**t - *from) < 1000)
            .count();
        assert!(within <= 5, "{within} slots within 1 s from {from}");
    }
}

pub async fn an_application_throttle_rate_caps_the_sum_over_its_endpoints(store: DynStore) {
    let policy = bulkhead(100);
    let app = new_app(&store, None).await;
    let mut fields = app_fields("Acme", None);
    fields.throttle_rate = Some(4);
    store
        .update_application(&app.id, &fields)
        .await
        .expect("set the application's throttle rate");
    plain_endpoint(&store, &app.id).await;
    plain_endpoint(&store, &app.id).await;
    post_n(&store, &app.id, "a", 10).await;

    let first = claim_with(&store, WORKER_A, 100, LONG_LEASE, &policy).await;
    assert!(
        (4..=5).contains(&first.len()),
        "4/s over 1 s for both endpoints together, got {}",
        first.len()
    );
    spaced(first.iter().map(|c| c.not_before).collect(), 250);
    assert!(
        claim_with(&store, WORKER_B, 100, LONG_LEASE, &policy)
            .await
            .is_empty(),
        "the application's budget is spent"
    );
}

pub async fn an_endpoint_failing_for_the_disable_period_is_disabled_with_a_reason(store: DynStore) {
    let mut policy = bulkhead(10);
    policy.breaker.disable_after = Duration::from_secs(3600);
    let app = new_app(&store, None).await;
    let dead = plain_endpoint(&store, &app.id).await;
    let msgs = post_n(&store, &app.id, "a", 2).await;

    // Its first failure an hour and a minute ago, and nothing but failures since.
    let c = claim_with(&store, WORKER_A, 1, LONG_LEASE, &policy)
        .await
        .remove(0);
    let mut long_ago = outcome(&c, WORKER_A, 500, retry_now());
    long_ago.attempt.created_at = Utc::now() - chrono::Duration::minutes(61);
    record_with(&store, vec![long_ago], &policy).await;
    let read = reread(&store, &app.id, &dead).await;
    assert!(read.disabled, "an hour of failures disables");
    let reason = read.disabled_reason.clone().unwrap_or_default();
    assert!(reason.contains("no successful delivery"), "{reason:?}");
    assert!(
        claim_with(&store, WORKER_A, 10, LONG_LEASE, &policy)
            .await
            .is_empty()
    );
    for msg in &msgs {
        let state = state_of(&store, &app.id, msg, &dead.id).await;
        assert_eq!(state.status, DeliveryStatus::Fail, "nothing left to send");
    }

    let mut fields = fields_of(&read);
    fields.disabled = false;
    let enabled = store
        .update_endpoint(&app.id, &dead.id, &fields)
        .await
        .expect("re-enable");
    assert_eq!((enabled.disabled, enabled.disabled_reason), (false, None));
    // The failing clock restarted: one fresh failure is not an hour of them.
    let (_, n) = post(&store, message(&app.id, "a", None)).await;
    assert_eq!(n, 1);
    let c = claim_with(&store, WORKER_A, 1, LONG_LEASE, &policy)
        .await
        .remove(0);
    record_with(
        &store,
        vec![outcome(&c, WORKER_A, 500, retry_now())],
        &policy,
    )
    .await;
    let read = reread(&store, &app.id, &dead).await;
    assert_eq!((read.disabled, read.disabled_reason), (false, None));
}

pub async fn a_gone_receiver_is_disabled_with_the_410_reason_until_re_enabled(store: DynStore) {
    let policy = bulkhead(10);
    let app = new_app(&store, None).await;
    let gone = plain_endpoint(&store, &app.id).await;
    post_n(&store, &app.id, "a", 2).await;
    let c = claim_with(&store, WORKER_A, 1, LONG_LEASE, &policy)
        .await
        .remove(0);
    let mut answered = outcome(&c, WORKER_A, 410, NextStep::Failed);
    answered.disable_endpoint = true;
    record_with(&store, vec![answered], &policy).await;

    let read = reread(&store, &app.id, &gone).await;
    assert!(read.disabled);
    assert_eq!(read.disabled_reason.as_deref(), Some(DISABLED_GONE));
    let health = store
        .endpoint_health(&app.id, &gone.id)
        .await
        .expect("health");
    assert_eq!(
        (health.disabled, health.disabled_reason.as_deref()),
        (true, Some(DISABLED_GONE))
    );

    let mut fields = fields_of(&read);
    fields.disabled = false;
    let enabled = store
        .update_endpoint(&app.id, &gone.id, &fields)
        .await
        .expect("re-enable");
    assert_eq!((enabled.disabled, enabled.disabled_reason), (false, None));
    // A person disabling an endpoint gives no engine reason.
    fields.disabled = true;
    let off = store
        .update_endpoint(&app.id, &gone.id, &fields)
        .await
        .expect("disable by hand");
    assert_eq!((off.disabled, off.disabled_reason), (true, None));
}
