//! The attempt log and the attempted-destinations / attempted-messages views.

use super::*;
use hookline::store::{DeliveryState, MessageFilter, StoreError};

store_tests!(
    attempts_are_filtered_by_status_code_class_channel_event_type_and_time,
    attempts_are_paged_forwards_and_backwards,
    attempt_is_found_within_its_message_and_its_response_can_be_expunged,
    attempted_destinations_show_the_state_of_each_delivery,
    attempted_messages_of_an_endpoint_are_filtered_and_paged,
);

async fn attempt_ids(store: &DynStore, app: &AppId, filter: AttemptFilter) -> Vec<AttemptId> {
    let mut ids: Vec<_> = store
        .list_attempts(app, &filter, &first_page(100, Order::Ascending))
        .await
        .expect("listing attempts")
        .items
        .into_iter()
        .map(|a| a.id)
        .collect();
    ids.sort();
    ids
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

pub async fn attempts_are_filtered_by_status_code_class_channel_event_type_and_time(
    store: DynStore,
) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let (eu, _) = post(&store, message(&app.id, "invoice.paid", Some(&["eu"]))).await;
    post(&store, message(&app.id, "user.created", Some(&["us"]))).await;
    let t0 = Utc::now() - chrono::Duration::minutes(10);
    let minutes = |m: i64| t0 + chrono::Duration::minutes(m);
    let past = Utc::now() - chrono::Duration::seconds(1);

    // Round one: eu answers 503 (at t0+1m), us times out (t0+2m); both retry.
    let mut ids = BTreeMap::new();
    let round = |claimed: Vec<ClaimedDelivery>, eu_code: i16, us_code: i16, times: (i64, i64)| {
        claimed
            .iter()
            .map(|c| {
                let (code, at) = if c.msg_id == eu {
                    (eu_code, times.0)
                } else {
                    (us_code, times.1)
                };
                let next = if (200..300).contains(&code) {
                    NextStep::Delivered
                } else {
                    NextStep::RetryAt(past)
                };
                let mut o = outcome(c, WORKER_A, code, next);
                o.attempt.created_at = minutes(at);
                o
            })
            .collect::<Vec<_>>()
    };
    let first = round(claim(&store, WORKER_A, 10).await, 503, 0, (1, 2));
    // Round two: eu answers 200 (t0+3m), us 404 (t0+4m).
    record(&store, first.clone()).await;
    let second = round(claim(&store, WORKER_A, 10).await, 200, 404, (3, 4));
    record(&store, second.clone()).await;
    for o in first.iter().chain(&second) {
        ids.insert(o.attempt.response_status_code, o.attempt.id.clone());
    }
    let id = |code: i16| ids[&code].clone();

    let of_ep = AttemptFilter {
        endpoint_id: Some(ep.id.clone()),
        ..no_filter()
    };
    let all = sorted(vec![id(0), id(200), id(404), id(503)]);
    assert_eq!(attempt_ids(&store, &app.id, of_ep.clone()).await, all);
    assert_eq!(attempt_ids(&store, &app.id, no_filter()).await, all);
    let of_msg = AttemptFilter {
        msg_id: Some(eu.clone()),
        ..no_filter()
    };
    assert_eq!(
        attempt_ids(&store, &app.id, of_msg).await,
        sorted(vec![id(200), id(503)])
    );
    let succeeded = AttemptFilter {
        status: Some(DeliveryStatus::Success),
        ..of_ep.clone()
    };
    assert_eq!(attempt_ids(&store, &app.id, succeeded).await, [id(200)]);
    for (class, code) in [(0, 0), (200, 200), (400, 404), (500, 503)] {
        let filter = AttemptFilter {
            status_code_class: Some(class),
            ..of_ep.clone()
        };
        assert_eq!(
            attempt_ids(&store, &app.id, filter).await,
            [id(code)],
            "class {class}"
        );
    }
    let none = AttemptFilter {
        status_code_class: Some(100),
        ..of_ep.clone()
    };
    assert!(attempt_ids(&store, &app.id, none).await.is_empty());
    let on_us = AttemptFilter {
        channel: Some(ch("us")),
        ..of_ep.clone()
    };
    assert_eq!(
        attempt_ids(&store, &app.id, on_us).await,
        sorted(vec![id(0), id(404)])
    );
    let invoices = AttemptFilter {
        event_types: Some(vec![ty("invoice.paid")]),
        ..of_ep.clone()
    };
    assert_eq!(
        attempt_ids(&store, &app.id, invoices).await,
        sorted(vec![id(200), id(503)])
    );
    let window = AttemptFilter {
        after: Some(minutes(1)),
        before: Some(minutes(3)),
        ..of_ep.clone()
    };
    assert_eq!(
        attempt_ids(&store, &app.id, window).await,
        [id(0)],
        "strict bounds"
    );
    let other_app = new_app(&store, None).await;
    assert!(attempt_ids(&store, &other_app.id, of_ep).await.is_empty());
}

pub async fn attempts_are_paged_forwards_and_backwards(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    for _ in 0..5 {
        post(&store, message(&app.id, "a", None)).await;
    }
    let outcomes: Vec<_> = claim(&store, WORKER_A, 10)
        .await
        .iter()
        .map(|c| outcome(c, WORKER_A, 200, NextStep::Delivered))
        .collect();
    let ids = sorted(outcomes.iter().map(|o| o.attempt.id.clone()).collect());
    record(&store, outcomes).await;
    let filter = AttemptFilter {
        endpoint_id: Some(ep.id.clone()),
        ..no_filter()
    };
    let list = |request: PageRequest| {
        let (store, app, filter) = (store.clone(), app.id.clone(), filter.clone());
        async move {
            let page = store
                .list_attempts(&app, &filter, &request)
                .await
                .expect("list");
            (
                page.items.into_iter().map(|a| a.id).collect::<Vec<_>>(),
                page.more,
            )
        }
    };
    let desc = Order::Descending;
    let (page, more) = list(first_page(2, desc)).await;
    assert_eq!((page, more), (vec![ids[4].clone(), ids[3].clone()], true));
    let (page, more) = list(page_from(2, desc, ids[3].as_str(), false)).await;
    assert_eq!((page, more), (vec![ids[2].clone(), ids[1].clone()], true));
    let (page, more) = list(page_from(2, desc, ids[1].as_str(), false)).await;
    assert_eq!((page, more), (vec![ids[0].clone()], false));
    let (page, more) = list(page_from(2, desc, ids[1].as_str(), true)).await;
    assert_eq!((page, more), (vec![ids[3].clone(), ids[2].clone()], true));
}

pub async fn attempt_is_found_within_its_message_and_its_response_can_be_expunged(store: DynStore) {
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    let (msg, _) = post(&store, message(&app.id, "a", None)).await;
    let (other_msg, _) = post(&store, message(&app.id, "a", None)).await;
    let claimed = claim(&store, WORKER_A, 10).await;
    let c = claimed.iter().find(|c| c.msg_id == msg).expect("claimed");
    let o = outcome(c, WORKER_A, 200, NextStep::Delivered);
    let id = o.attempt.id.clone();
    record(&store, vec![o]).await;

    let found = store.get_attempt(&app.id, &msg, &id).await.expect("get");
    assert_eq!(found.map(|a| a.response), Some("answered 200".to_owned()));
    assert!(
        store
            .get_attempt(&app.id, &other_msg, &id)
            .await
            .expect("get")
            .is_none()
    );

    store
        .expunge_attempt_content(&app.id, &msg, &id)
        .await
        .expect("expunge");
    let found = store.get_attempt(&app.id, &msg, &id).await.expect("get");
    assert_eq!(
        found.map(|a| (a.response, a.response_status_code)),
        Some((String::new(), 200))
    );
    let missing = store
        .expunge_attempt_content(&app.id, &other_msg, &id)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn attempted_destinations_show_the_state_of_each_delivery(store: DynStore) {
    let app = new_app(&store, None).await;
    let a = plain_endpoint(&store, &app.id).await;
    let b = plain_endpoint(&store, &app.id).await;
    let (msg, _) = post(&store, message(&app.id, "a", None)).await;
    let [first, second] =
        <[EndpointId; 2]>::try_from(sorted(vec![a.id.clone(), b.id.clone()])).expect("two ids");

    let list = |request: PageRequest| {
        let (store, app, msg) = (store.clone(), app.id.clone(), msg.clone());
        async move {
            let page = store
                .list_attempted_destinations(&app, &msg, &request)
                .await
                .expect("list");
            let items: Vec<(EndpointId, DeliveryState)> =
                page.items.into_iter().map(|(e, s)| (e.id, s)).collect();
            (items, page.more)
        }
    };
    let (items, more) = list(first_page(10, Order::Ascending)).await;
    assert!(!more);
    assert_eq!(
        items.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        [first.clone(), second.clone()]
    );
    assert!(
        items
            .iter()
            .all(|(_, s)| s.status == DeliveryStatus::Pending
                && s.next_attempt.is_some_and(|t| t <= Utc::now()))
    );

    let retry_at = Utc::now() + chrono::Duration::minutes(5);
    let outcomes = claim(&store, WORKER_A, 10)
        .await
        .iter()
        .map(|c| {
            let next = if c.endpoint_id == a.id {
                NextStep::Delivered
            } else {
                NextStep::RetryAt(retry_at)
            };
            outcome(c, WORKER_A, 200, next)
        })
        .collect();
    record(&store, outcomes).await;
    let sa = state_of(&store, &app.id, &msg, &a.id).await;
    assert_eq!(
        (sa.status, sa.next_attempt),
        (DeliveryStatus::Success, None)
    );
    let sb = state_of(&store, &app.id, &msg, &b.id).await;
    assert_eq!(sb.status, DeliveryStatus::Pending);
    assert_eq!(
        sb.next_attempt.map(|t| t.timestamp_millis()),
        Some(retry_at.timestamp_millis())
    );

    let (items, more) = list(first_page(1, Order::Ascending)).await;
    assert_eq!((items.len(), more), (1, true));
    assert_eq!(items[0].0, first);
    let (items, more) = list(page_from(1, Order::Ascending, first.as_str(), false)).await;
    assert_eq!((items.len(), more), (1, false));
    assert_eq!(items[0].0, second);

    let other_app = new_app(&store, None).await;
    let foreign = store
        .list_attempted_destinations(&other_app.id, &msg, &first_page(10, Order::Ascending))
        .await
        .expect("list");
    assert!(foreign.items.is_empty());
}

pub async fn attempted_messages_of_an_endpoint_are_filtered_and_paged(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let (paid, _) = post(&store, message(&app.id, "invoice.paid", Some(&["eu"]))).await;
    let (user, _) = post(&store, message(&app.id, "user.created", None)).await;
    let outcomes = claim(&store, WORKER_A, 10)
        .await
        .iter()
        .filter(|c| c.msg_id == paid)
        .map(|c| outcome(c, WORKER_A, 200, NextStep::Delivered))
        .collect();
    record(&store, outcomes).await;

    let list = |filter: MessageFilter, request: PageRequest| {
        let (store, app, ep) = (store.clone(), app.id.clone(), ep.id.clone());
        async move {
            let page = store
                .list_attempted_messages(&app, &ep, &filter, &request)
                .await
                .expect("list");
            let items: Vec<(MessageId, DeliveryStatus)> = page
                .items
                .into_iter()
                .map(|(m, s)| (m.id, s.status))
                .collect();
            (items, page.more)
        }
    };
    let asc = || first_page(10, Order::Ascending);
    let (items, _) = list(MessageFilter::default(), asc()).await;
    let mut want = vec![
        (paid.clone(), DeliveryStatus::Success),
        (user.clone(), DeliveryStatus::Sending),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(items, want);
    let done = MessageFilter {
        status: Some(DeliveryStatus::Success),
        ..Default::default()
    };
    assert_eq!(
        list(done, asc()).await.0,
        [(paid.clone(), DeliveryStatus::Success)]
    );
    let users = MessageFilter {
        event_types: Some(vec![ty("user.created")]),
        ..Default::default()
    };
    assert_eq!(
        list(users, asc()).await.0,
        [(user.clone(), DeliveryStatus::Sending)]
    );
    let on_eu = MessageFilter {
        channel: Some(ch("eu")),
        ..Default::default()
    };
    assert_eq!(
        list(on_eu, asc()).await.0,
        [(paid, DeliveryStatus::Success)]
    );

    let (items, more) = list(MessageFilter::default(), first_page(1, Order::Descending)).await;
    assert_eq!((items.len(), more), (1, true));
    assert_eq!(items[0], want[1]);
    let cursor = page_from(1, Order::Descending, want[1].0.as_str(), false);
    let (items, more) = list(MessageFilter::default(), cursor).await;
    assert_eq!((items, more), (vec![want[0].clone()], false));
}
