//! Recording attempts: what each outcome does to a delivery and its endpoint.

use super::*;
use hookline::store::ATTEMPT_BUCKET;

store_tests!(
    delivered_outcome_finishes_the_delivery_and_logs_the_attempt,
    retry_outcome_makes_the_delivery_due_at_the_given_time,
    failed_outcome_fails_the_delivery,
    outcome_after_a_lost_lease_is_logged_but_leaves_the_delivery_alone,
    late_outcome_applies_while_no_other_worker_has_leased_the_delivery,
    manual_attempts_do_not_spend_scheduled_retries,
    gone_receiver_disables_its_endpoint,
    deleting_an_endpoint_takes_its_queue_and_log_even_mid_attempt,
);

pub async fn delivered_outcome_finishes_the_delivery_and_logs_the_attempt(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let (msg, _) = post(&store, message(&app.id, "a", None)).await;
    let c = claim(&store, WORKER_A, 1).await.remove(0);
    let o = outcome(&c, WORKER_A, 200, NextStep::Delivered);
    let attempt_id = o.attempt.id.clone();
    record(&store, vec![o.clone()]).await;
    // A recorder that retries a batch it is unsure about does not log the attempt twice,
    // nor count it twice.
    let made = o.attempt.created_at;
    record(&store, vec![o]).await;
    let width = i64::try_from(ATTEMPT_BUCKET.as_millis()).expect("a bucket width in ms");
    let bucket =
        DateTime::from_timestamp_millis(made.timestamp_millis() / width * width).expect("a time");
    let counted = store
        .attempt_counts(bucket, ATTEMPT_BUCKET)
        .await
        .expect("counting attempts");
    assert_eq!(
        counted
            .iter()
            .map(|c| (c.bucket, c.delivered, c.failed))
            .collect::<Vec<_>>(),
        [(0, 1, 0)]
    );

    let state = state_of(&store, &app.id, &msg, &ep.id).await;
    assert_eq!(
        (state.status, state.next_attempt),
        (DeliveryStatus::Success, None)
    );
    let log = attempt_log(&store, &app.id, &ep).await;
    assert_eq!(log.len(), 1);
    let a = &log[0];
    assert_eq!(
        (&a.id, &a.msg_id, a.status),
        (&attempt_id, &msg, DeliveryStatus::Success)
    );
    assert_eq!(
        (a.response_status_code, a.response.as_str()),
        (200, "answered 200")
    );
    assert_eq!(
        (a.response_duration_ms, a.trigger_type, a.error_class),
        (12, SCHEDULED, None)
    );
    assert_eq!(a.url, ep.url);
    assert!(claim(&store, WORKER_B, 10).await.is_empty());
    store
        .record_outcomes(&[], &open_policy().breaker)
        .await
        .expect("an empty batch is fine");
}

pub async fn retry_outcome_makes_the_delivery_due_at_the_given_time(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let (later, _) = post(&store, message(&app.id, "a", None)).await;
    let (now, _) = post(&store, message(&app.id, "a", None)).await;
    let claimed = claim(&store, WORKER_A, 10).await;
    assert_eq!(claimed.len(), 2);
    let retry_at = Utc::now() + chrono::Duration::hours(1);
    let outcomes = claimed
        .iter()
        .map(|c| {
            let at = if c.msg_id == later {
                retry_at
            } else {
                Utc::now() - chrono::Duration::seconds(1)
            };
            outcome(c, WORKER_A, 503, NextStep::RetryAt(at))
        })
        .collect();
    record(&store, outcomes).await;

    let state = state_of(&store, &app.id, &later, &ep.id).await;
    assert_eq!(state.status, DeliveryStatus::Pending);
    assert_eq!(
        state.next_attempt.map(|t| t.timestamp_millis()),
        Some(retry_at.timestamp_millis())
    );
    let again = claim(&store, WORKER_B, 10).await;
    assert_eq!(again.len(), 1, "only the delivery already due");
    assert_eq!((&again[0].msg_id, again[0].attempts_made), (&now, 1));
}

pub async fn failed_outcome_fails_the_delivery(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let (msg, _) = post(&store, message(&app.id, "a", None)).await;
    let c = claim(&store, WORKER_A, 1).await.remove(0);
    record(&store, vec![outcome(&c, WORKER_A, 0, NextStep::Failed)]).await;

    let state = state_of(&store, &app.id, &msg, &ep.id).await;
    assert_eq!(
        (state.status, state.next_attempt),
        (DeliveryStatus::Fail, None)
    );
    let log = attempt_log(&store, &app.id, &ep).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].error_class, Some(ErrorClass::Timeout));
    assert_eq!(
        (log[0].status, log[0].response_status_code),
        (DeliveryStatus::Fail, 0)
    );
    assert!(claim(&store, WORKER_A, 10).await.is_empty());
}

pub async fn outcome_after_a_lost_lease_is_logged_but_leaves_the_delivery_alone(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let (msg, _) = post(&store, message(&app.id, "a", None)).await;
    let slow = claim_for(&store, WORKER_A, 1, SHORT_LEASE).await.remove(0);
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(50)).await;
    let fresh = claim(&store, WORKER_B, 1).await.remove(0);
    assert_eq!(fresh.delivery_id, slow.delivery_id);

    record(
        &store,
        vec![outcome(&slow, WORKER_A, 200, NextStep::Delivered)],
    )
    .await;
    let state = state_of(&store, &app.id, &msg, &ep.id).await;
    assert_eq!(
        state.status,
        DeliveryStatus::Sending,
        "B still holds the lease"
    );
    assert_eq!(
        attempt_log(&store, &app.id, &ep).await.len(),
        1,
        "A's attempt happened"
    );

    let past = Utc::now() - chrono::Duration::seconds(1);
    record(
        &store,
        vec![outcome(&fresh, WORKER_B, 500, NextStep::RetryAt(past))],
    )
    .await;
    assert_eq!(attempt_log(&store, &app.id, &ep).await.len(), 2);
    let next = claim(&store, WORKER_A, 1).await;
    assert_eq!(next.len(), 1);
    assert_eq!(
        next[0].attempts_made, 1,
        "only the lease holder's attempt counts"
    );
}

pub async fn late_outcome_applies_while_no_other_worker_has_leased_the_delivery(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let (msg, _) = post(&store, message(&app.id, "a", None)).await;
    let slow = claim_for(&store, WORKER_A, 1, SHORT_LEASE).await.remove(0);
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(150)).await;
    // A claim that may find the expired lease but takes nothing.
    assert!(claim(&store, WORKER_B, 0).await.is_empty());

    record(
        &store,
        vec![outcome(&slow, WORKER_A, 200, NextStep::Delivered)],
    )
    .await;
    let state = state_of(&store, &app.id, &msg, &ep.id).await;
    assert_eq!(
        (state.status, state.next_attempt),
        (DeliveryStatus::Success, None),
        "nobody else took the delivery, so the slow worker's answer stands"
    );
    assert!(claim(&store, WORKER_B, 10).await.is_empty());
}

pub async fn manual_attempts_do_not_spend_scheduled_retries(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let (msg, _) = post(&store, message(&app.id, "a", None)).await;
    let past = || Utc::now() - chrono::Duration::seconds(1);

    let c = claim(&store, WORKER_A, 1).await.remove(0);
    record(
        &store,
        vec![outcome(&c, WORKER_A, 500, NextStep::RetryAt(past()))],
    )
    .await;
    let c = claim(&store, WORKER_A, 1).await.remove(0);
    assert_eq!((c.attempts_made, c.trigger_type), (1, SCHEDULED));
    record(&store, vec![outcome(&c, WORKER_A, 500, NextStep::Failed)]).await;

    store.resend(&app.id, &msg, &ep.id).await.expect("resend");
    let c = claim(&store, WORKER_A, 1).await.remove(0);
    assert_eq!((c.attempts_made, c.trigger_type), (2, MANUAL));
    record(
        &store,
        vec![outcome(&c, WORKER_A, 500, NextStep::RetryAt(past()))],
    )
    .await;

    let c = claim(&store, WORKER_A, 1).await.remove(0);
    assert_eq!(
        (c.attempts_made, c.trigger_type),
        (2, SCHEDULED),
        "after the manual attempt the schedule resumes where it was"
    );
    let log = attempt_log(&store, &app.id, &ep).await;
    let manual = log.iter().filter(|a| a.trigger_type == MANUAL).count();
    assert_eq!((log.len(), manual), (3, 1));
}

pub async fn gone_receiver_disables_its_endpoint(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    post(&store, message(&app.id, "a", None)).await;
    let c = claim(&store, WORKER_A, 1).await.remove(0);
    let mut gone = outcome(&c, WORKER_A, 410, NextStep::Failed);
    gone.disable_endpoint = true;
    record(&store, vec![gone]).await;

    let read = store
        .get_endpoint(&app.id, ep.id.as_str())
        .await
        .expect("get")
        .expect("the endpoint exists");
    assert!(read.disabled);
    assert!(read.updated_at >= ep.updated_at);
    let (_, n) = post(&store, message(&app.id, "a", None)).await;
    assert_eq!(n, 0, "a disabled endpoint gets no new deliveries");
}

pub async fn deleting_an_endpoint_takes_its_queue_and_log_even_mid_attempt(store: DynStore) {
    let app = new_app(&store, None).await;
    let gone = plain_endpoint(&store, &app.id).await;
    let kept = plain_endpoint(&store, &app.id).await;
    let (msg, fanned) = post(&store, message(&app.id, "a", None)).await;
    assert_eq!(fanned, 2);
    // One attempt each is logged, then both are leased again.
    let first = claim(&store, WORKER_A, 10).await;
    let soon = Utc::now() - chrono::Duration::seconds(1);
    record(
        &store,
        first
            .iter()
            .map(|c| outcome(c, WORKER_A, 503, NextStep::RetryAt(soon)))
            .collect(),
    )
    .await;
    let second = claim(&store, WORKER_A, 10).await;
    assert_eq!(second.len(), 2);

    store
        .delete_endpoint(&app.id, &gone.id)
        .await
        .expect("delete");
    // The attempt in flight to the deleted endpoint finishes after it is gone.
    record_delivered(&store, &second).await;

    let filter = AttemptFilter {
        msg_id: Some(msg.clone()),
        ..no_filter()
    };
    let log = store
        .list_attempts(&app.id, &filter, &first_page(50, Order::Ascending))
        .await
        .expect("list");
    let endpoints: Vec<&EndpointId> = log.items.iter().map(|a| &a.endpoint_id).collect();
    assert_eq!(
        endpoints,
        [&kept.id, &kept.id],
        "only the kept endpoint's log is left"
    );
    let destinations = store
        .list_attempted_destinations(&app.id, &msg, &first_page(50, Order::Ascending))
        .await
        .expect("destinations");
    let routed: Vec<&EndpointId> = destinations.items.iter().map(|(e, _)| &e.id).collect();
    assert_eq!(routed, [&kept.id]);
    let depth = store.queue_depth().await.expect("depth");
    assert_eq!(
        (depth.due, depth.delayed, depth.sending, depth.failed),
        (0, 0, 0, 0),
        "the deleted endpoint's delivery left the queue"
    );
    assert!(claim(&store, WORKER_B, 10).await.is_empty());
}
