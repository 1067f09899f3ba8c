//! Manual re-queues (resend, recover) and per-endpoint delivery statistics.

use super::*;
use hookline::store::{EndpointStats, StoreError};

store_tests!(
    resend_queues_a_manual_attempt_and_refuses_unknown_ids,
    recover_requeues_failed_deliveries_of_messages_in_the_window,
    endpoint_stats_count_deliveries_by_status_within_the_window,
);

pub async fn resend_queues_a_manual_attempt_and_refuses_unknown_ids(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let (msg, _) = post(&store, message(&app.id, "a", None)).await;
    let c = claim(&store, WORKER_A, 1).await.remove(0);
    record(
        &store,
        vec![outcome(&c, WORKER_A, 200, NextStep::Delivered)],
    )
    .await;

    store.resend(&app.id, &msg, &ep.id).await.expect("resend");
    let state = state_of(&store, &app.id, &msg, &ep.id).await;
    assert_eq!(state.status, DeliveryStatus::Pending);
    assert!(
        state.next_attempt.is_some_and(|t| t <= Utc::now()),
        "due now"
    );
    // An endpoint added after the message can be sent it by hand.
    let late = plain_endpoint(&store, &app.id).await;
    store.resend(&app.id, &msg, &late.id).await.expect("resend");
    let mut claimed: Vec<_> = claim(&store, WORKER_A, 10)
        .await
        .into_iter()
        .map(|c| (c.endpoint_id, c.trigger_type))
        .collect();
    claimed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want = vec![(ep.id.clone(), MANUAL), (late.id, MANUAL)];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(claimed, want);

    let other_app = new_app(&store, None).await;
    let foreign = plain_endpoint(&store, &other_app.id).await;
    for (m, e) in [
        (MessageId::generate(), ep.id.clone()),
        (msg.clone(), EndpointId::generate()),
        (msg.clone(), foreign.id),
    ] {
        let missing = store.resend(&app.id, &m, &e).await;
        assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    }
}

pub async fn recover_requeues_failed_deliveries_of_messages_in_the_window(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let now = Utc::now();
    let hours = |h: i64| now - chrono::Duration::hours(h);
    let (h3, _) = post(&store, message_at(&app.id, "a", None, hours(3))).await;
    let (h2, _) = post(&store, message_at(&app.id, "a", None, hours(2))).await;
    let (h1, _) = post(&store, message_at(&app.id, "a", None, hours(1))).await;
    let (ok, _) = post(&store, message_at(&app.id, "a", None, hours(1))).await;
    let fail_all = |claimed: Vec<ClaimedDelivery>| {
        claimed
            .iter()
            .map(|c| {
                let next = if c.msg_id == ok {
                    NextStep::Delivered
                } else {
                    NextStep::Failed
                };
                outcome(c, WORKER_A, 500, next)
            })
            .collect::<Vec<_>>()
    };
    record(&store, fail_all(claim(&store, WORKER_A, 10).await)).await;

    let since = now - chrono::Duration::minutes(150);
    let queued = store
        .recover(&app.id, &ep.id, since, None)
        .await
        .expect("recover");
    assert_eq!(queued, 2);
    let claimed = claim(&store, WORKER_A, 10).await;
    let mut got: Vec<_> = claimed.iter().map(|c| c.msg_id.clone()).collect();
    got.sort();
    let mut want = vec![h2.clone(), h1];
    want.sort();
    assert_eq!(got, want);
    assert!(claimed.iter().all(|c| c.trigger_type == MANUAL));
    record(&store, fail_all(claimed)).await;

    let until = now - chrono::Duration::minutes(90);
    let queued = store
        .recover(&app.id, &ep.id, hours(4), Some(until))
        .await
        .expect("recover");
    assert_eq!(queued, 2, "until is exclusive of later messages");
    let mut got: Vec<_> = claim(&store, WORKER_A, 10)
        .await
        .into_iter()
        .map(|c| c.msg_id)
        .collect();
    got.sort();
    let mut want = vec![h3, h2];
    want.sort();
    assert_eq!(got, want);

    let missing = store
        .recover(&app.id, &EndpointId::generate(), since, None)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn endpoint_stats_count_deliveries_by_status_within_the_window(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let now = Utc::now();
    let (old, _) = post(
        &store,
        message_at(&app.id, "a", None, now - chrono::Duration::hours(2)),
    )
    .await;
    let (failed, _) = post(&store, message(&app.id, "a", None)).await;
    let (waiting, _) = post(&store, message(&app.id, "a", None)).await;
    post(&store, message(&app.id, "a", None)).await;
    // Three attempts recorded; the fourth delivery stays in flight.
    let outcomes = claim(&store, WORKER_A, 10)
        .await
        .iter()
        .filter_map(|c| {
            let next = if c.msg_id == old {
                NextStep::Delivered
            } else if c.msg_id == failed {
                NextStep::Failed
            } else if c.msg_id == waiting {
                NextStep::RetryAt(now + chrono::Duration::hours(1))
            } else {
                return None;
            };
            Some(outcome(c, WORKER_A, 200, next))
        })
        .collect::<Vec<_>>();
    record(&store, outcomes).await;

    let stats = |since, until| {
        let store = store.clone();
        let (app, ep) = (app.id.clone(), ep.id.clone());
        async move {
            store
                .endpoint_stats(&app, &ep, since, until)
                .await
                .expect("stats")
        }
    };
    let one_each = EndpointStats {
        success: 1,
        pending: 1,
        fail: 1,
        sending: 1,
    };
    assert_eq!(stats(None, None).await, one_each);
    let hour_ago = now - chrono::Duration::hours(1);
    let recent = EndpointStats {
        success: 0,
        ..one_each.clone()
    };
    assert_eq!(stats(Some(hour_ago), None).await, recent);
    let early = stats(None, Some(hour_ago)).await;
    assert_eq!(
        early,
        EndpointStats {
            success: 1,
            ..Default::default()
        }
    );
    let missing = store
        .endpoint_stats(&app.id, &EndpointId::generate(), None, None)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}
