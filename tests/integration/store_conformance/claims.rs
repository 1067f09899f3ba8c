//! Claims under a lease, releases and waking idle workers.

use super::*;
use std::time::Instant;

store_tests!(
    claimed_delivery_is_not_claimed_again_until_its_lease_expires,
    an_expired_lease_comes_back_while_other_deliveries_are_due,
    a_retry_due_before_the_rest_of_its_endpoints_queue_is_claimed_first,
    claim_takes_at_most_the_batch_limit,
    deliveries_to_a_disabled_endpoint_are_failed_not_claimed,
    released_deliveries_are_due_again_without_spending_an_attempt,
    waiting_worker_wakes_when_a_message_is_created,
    concurrent_workers_never_claim_the_same_delivery,
);

pub async fn claimed_delivery_is_not_claimed_again_until_its_lease_expires(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let (msg, _) = post(&store, message(&app.id, "a", None)).await;

    let before = Utc::now();
    let claimed = claim_for(&store, WORKER_A, 10, SHORT_LEASE).await;
    assert_eq!(claimed.len(), 1);
    let c = &claimed[0];
    assert_eq!(
        (&c.msg_id, &c.endpoint_id, &c.app_id),
        (&msg, &ep.id, &app.id)
    );
    assert_eq!(c.url, ep.url);
    assert_eq!(c.headers.get("x-tenant").map(String::as_str), Some("acme"));
    assert_eq!(c.secrets, std::slice::from_ref(&ep.secret));
    assert_eq!((c.attempts_made, c.trigger_type), (0, SCHEDULED));
    assert!(c.locked_until > before);
    assert!(c.locked_until <= Utc::now() + chrono::Duration::seconds(1));

    assert!(claim(&store, WORKER_B, 10).await.is_empty(), "leased to A");
    let state = state_of(&store, &app.id, &msg, &ep.id).await;
    assert_eq!(
        (state.status, state.next_attempt),
        (DeliveryStatus::Sending, None)
    );

    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(50)).await;
    let reclaimed = claim(&store, WORKER_B, 10).await;
    assert_eq!(reclaimed.len(), 1, "an expired lease is due again");
    assert_eq!(reclaimed[0].delivery_id, c.delivery_id);
    assert_eq!(
        reclaimed[0].attempts_made, 0,
        "a lost lease is not an attempt"
    );
}

pub async fn an_expired_lease_comes_back_while_other_deliveries_are_due(store: DynStore) {
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    let (stale, _) = post(&store, message(&app.id, "a", None)).await;
    let leased = claim_for(&store, WORKER_A, 10, SHORT_LEASE).await;
    assert_eq!(leased.len(), 1);
    let (fresh, _) = post(&store, message(&app.id, "a", None)).await;

    // Past the lease, and past the second within which claims that keep finding work
    // still look for expired leases.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut claimed = claim(&store, WORKER_B, 10).await;
    claimed.sort_by(|a, b| a.msg_id.as_str().cmp(b.msg_id.as_str()));
    let got: Vec<(&str, u32)> = claimed
        .iter()
        .map(|c| (c.msg_id.as_str(), c.attempts_made))
        .collect();
    let mut want = vec![(stale.as_str(), 0), (fresh.as_str(), 0)];
    want.sort_unstable();
    assert_eq!(
        got, want,
        "the expired lease is claimed with the fresh delivery"
    );
}

/// A claim reads an endpoint's queue from where its oldest due delivery was a moment ago;
/// one that becomes due ahead of that point is still the next one claimed.
pub async fn a_retry_due_before_the_rest_of_its_endpoints_queue_is_claimed_first(store: DynStore) {
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    let mut posted = Vec::new();
    for _ in 0..3 {
        posted.push(post(&store, message(&app.id, "a", None)).await.0);
    }
    let first = claim(&store, WORKER_A, 1).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].msg_id, posted[0]);
    let overdue = NextStep::RetryAt(Utc::now() - chrono::Duration::hours(1));
    record(&store, vec![outcome(&first[0], WORKER_A, 500, overdue)]).await;

    let next = claim(&store, WORKER_B, 1).await;
    assert_eq!(next.len(), 1);
    assert_eq!(
        (&next[0].msg_id, next[0].attempts_made),
        (&posted[0], 1),
        "the retry is due before the two waiting deliveries"
    );
    let rest: Vec<MessageId> = claim(&store, WORKER_B, 10)
        .await
        .into_iter()
        .map(|c| c.msg_id)
        .collect();
    assert_eq!(rest, posted[1..]);
}

pub async fn claim_takes_at_most_the_batch_limit(store: DynStore) {
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    for _ in 0..5 {
        post(&store, message(&app.id, "a", None)).await;
    }
    assert!(claim(&store, WORKER_A, 0).await.is_empty());
    let mut seen = Vec::new();
    for expected in [2, 2, 1, 0] {
        let batch = claim(&store, WORKER_A, 2).await;
        assert_eq!(batch.len(), expected);
        seen.extend(batch.into_iter().map(|c| c.delivery_id));
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 5, "each delivery is claimed once");
}

pub async fn deliveries_to_a_disabled_endpoint_are_failed_not_claimed(store: DynStore) {
    let app = new_app(&store, None).await;
    let off = plain_endpoint(&store, &app.id).await;
    let on = plain_endpoint(&store, &app.id).await;
    let mut msgs = Vec::new();
    for _ in 0..3 {
        msgs.push(post(&store, message(&app.id, "a", None)).await.0);
    }
    let mut fields = endpoint_fields(off.url.as_str());
    fields.disabled = true;
    store
        .update_endpoint(&app.id, &off.id, &fields)
        .await
        .expect("disable");

    let first = claim(&store, WORKER_A, 2).await;
    assert_eq!(
        first.len(),
        2,
        "the batch is topped up past failed deliveries"
    );
    let second = claim(&store, WORKER_A, 2).await;
    assert_eq!(second.len(), 1);
    assert!(first.iter().chain(&second).all(|c| c.endpoint_id == on.id));
    for msg in &msgs {
        let state = state_of(&store, &app.id, msg, &off.id).await;
        assert_eq!(
            (state.status, state.next_attempt),
            (DeliveryStatus::Fail, None)
        );
    }
    assert!(
        attempt_log(&store, &app.id, &off).await.is_empty(),
        "no attempt was made"
    );
}

pub async fn released_deliveries_are_due_again_without_spending_an_attempt(store: DynStore) {
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    post(&store, message(&app.id, "a", None)).await;
    post(&store, message(&app.id, "a", None)).await;
    let claimed = claim(&store, WORKER_A, 10).await;
    let ids: Vec<i64> = claimed.iter().map(|c| c.delivery_id).collect();

    store.release(WORKER_B, &ids).await.expect("release");
    assert!(
        claim(&store, WORKER_B, 10).await.is_empty(),
        "B holds no lease on them"
    );

    store.release(WORKER_A, &ids[..1]).await.expect("release");
    let again = claim(&store, WORKER_B, 10).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].delivery_id, again[0].attempts_made), (ids[0], 0));
    store
        .release(WORKER_A, &[])
        .await
        .expect("an empty release is fine");
}

pub async fn waiting_worker_wakes_when_a_message_is_created(store: DynStore) {
    let start = Instant::now();
    store.wait_for_work(Duration::from_millis(100)).await;
    assert!(
        start.elapsed() >= Duration::from_millis(90),
        "no work: waits the timeout"
    );

    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move { store.wait_for_work(Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    post(&store, message(&app.id, "a", None)).await;
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter woke up")
        .expect("the waiter did not panic");
    assert!(start.elapsed() < Duration::from_secs(5));
}

pub async fn concurrent_workers_never_claim_the_same_delivery(store: DynStore) {
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    plain_endpoint(&store, &app.id).await;
    for _ in 0..15 {
        post(&store, message(&app.id, "a", None)).await;
    }
    let workers: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let worker = format!("worker-{n}");
                let mut mine = Vec::new();
                loop {
                    let batch = claim(&store, &worker, 3).await;
                    if batch.is_empty() {
                        return mine;
                    }
                    assert!(batch.len() <= 3);
                    mine.extend(batch.into_iter().map(|c| c.delivery_id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.expect("the worker did not panic"));
    }
    let claimed = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        (claimed, all.len()),
        (30, 30),
        "every delivery claimed exactly once"
    );
}
