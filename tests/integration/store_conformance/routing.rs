//! Messages: storage, eventId dedup, fan-out and message listings.

use super::*;
use hookline::store::{MessageFilter, StoreError};

store_tests!(
    message_payload_is_returned_byte_for_byte_until_expunged,
    claimed_deliveries_carry_their_own_messages_payloads,
    event_id_is_unique_within_an_application,
    message_fans_out_to_enabled_endpoints_whose_filters_match,
    example_message_goes_to_its_one_endpoint_as_a_manual_attempt,
    messages_are_paged_forwards_and_backwards,
    message_listing_applies_channel_event_type_and_time_filters,
    concurrent_messages_each_get_their_own_answer,
);

/// Many messages posted at once (which a store may write together): each is answered for
/// itself — its own delivery count, or a conflict for a taken `eventId` — whatever else was
/// in flight, including a message for an application that does not exist.
pub async fn concurrent_messages_each_get_their_own_answer(store: DynStore) {
    let busy = new_app(&store, None).await;
    for _ in 0..3 {
        plain_endpoint(&store, &busy.id).await;
    }
    new_endpoint(
        &store,
        &busy.id,
        EndpointFields {
            channels: Some(vec![ch("eu")]),
            ..endpoint_fields("https://example.com/eu")
        },
    )
    .await;
    let quiet = new_app(&store, None).await;
    let missing = hookline::domain::AppId::generate();

    let mut posts = Vec::new();
    for n in 0..120 {
        let (app, channels): (&AppId, Option<&[&str]>) = match n % 4 {
            0 => (&busy.id, Some(&["eu"])),
            1 => (&busy.id, None),
            2 => (&quiet.id, None),
            _ => (&busy.id, Some(&[])),
        };
        let mut msg = message(app, "order.created", channels);
        if n % 10 == 0 {
            msg.message.event_id = Some(uid("same-event"));
            msg.message.app_id = busy.id.clone();
            msg.message.channels = None;
        }
        posts.push(msg);
    }
    posts.push(message(&missing, "order.created", None));
    let store_ref = &store;
    let answers = futures::future::join_all(
        posts
            .iter()
            .map(|m| async move { (m, store_ref.create_message(m).await) }),
    )
    .await;

    let mut dedup_winners = 0;
    for (msg, answer) in &answers {
        let m = &msg.message;
        if m.app_id == missing {
            assert!(matches!(answer, Err(StoreError::NotFound)), "{answer:?}");
            continue;
        }
        if m.event_id.is_some() {
            match answer {
                Ok(4 | 3) => dedup_winners += 1,
                Err(StoreError::Conflict(_)) => {}
                other => panic!("a message with a shared eventId: {other:?}"),
            }
            continue;
        }
        let want = if m.app_id == quiet.id {
            0
        } else if m
            .channels
            .as_ref()
            .is_some_and(|c| c.iter().any(|c| c.as_str() == "eu"))
        {
            4
        } else {
            3
        };
        assert_eq!(
            answer.as_ref().ok(),
            Some(&want),
            "{:?} on {:?}",
            m.id,
            m.channels
        );
        assert!(
            store
                .get_message(&m.app_id, m.id.as_str())
                .await
                .expect("get")
                .is_some()
        );
    }
    assert_eq!(
        dedup_winners, 1,
        "exactly one message keeps the shared eventId"
    );
}

/// One claim of several messages, each fanned out to several endpoints (a store may read
/// each message's payload once for all its deliveries): every delivery carries its own
/// message's payload, and an expunged message's deliveries carry none.
pub async fn claimed_deliveries_carry_their_own_messages_payloads(store: DynStore) {
    let app = new_app(&store, None).await;
    for _ in 0..3 {
        plain_endpoint(&store, &app.id).await;
    }
    let mut payloads = std::collections::HashMap::new();
    for n in 0..4 {
        let payload = format!("{{\"n\": {n}, \"pad\": \"{}\"}}", "x".repeat(3000 * n));
        let mut msg = message(&app.id, "invoice.paid", None);
        msg.message.payload = Some(payload.clone());
        let (id, routed) = post(&store, msg).await;
        assert_eq!(routed, 3);
        payloads.insert(id, payload);
    }
    let expunged = payloads.keys().next().expect("a message").clone();
    store
        .expunge_message_content(&app.id, &expunged)
        .await
        .expect("expunge");

    let claimed = claim(&store, WORKER_A, 100).await;
    assert_eq!(claimed.len(), 12, "four messages to three endpoints each");
    for delivery in &claimed {
        let expected = (delivery.msg_id != expunged).then(|| payloads[&delivery.msg_id].as_bytes());
        assert_eq!(
            delivery.payload.as_deref(),
            expected,
            "the payload of {} to {}",
            delivery.msg_id,
            delivery.endpoint_id
        );
    }
}

pub async fn message_payload_is_returned_byte_for_byte_until_expunged(store: DynStore) {
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    let payload = "{ \"z\": 1,\n  \"a\": [1.50, \"é\\u00e9\"] , \"big\": 12345678901234567890 }";
    let mut msg = message(&app.id, "invoice.paid", Some(&["eu", "us"]));
    msg.message.payload = Some(payload.to_owned());
    msg.message.event_id = Some(uid("evt-1"));
    let (id, _) = post(&store, msg).await;

    let read = store
        .get_message(&app.id, id.as_str())
        .await
        .expect("get")
        .expect("the message exists");
    assert_eq!(read.payload.as_deref(), Some(payload));
    assert_eq!(read.event_type, ty("invoice.paid"));
    assert_eq!(read.channels, Some(vec![ch("eu"), ch("us")]));
    let by_event_id = store.get_message(&app.id, "evt-1").await.expect("get");
    assert_eq!(by_event_id.map(|m| m.id), Some(id.clone()));
    let other_app = new_app(&store, None).await;
    assert!(
        store
            .get_message(&other_app.id, id.as_str())
            .await
            .expect("get")
            .is_none()
    );

    let claimed = claim(&store, WORKER_A, 10).await;
    assert_eq!(claimed[0].payload.as_deref(), Some(payload.as_bytes()));
    store
        .release(WORKER_A, &[claimed[0].delivery_id])
        .await
        .expect("release");

    store
        .expunge_message_content(&app.id, &id)
        .await
        .expect("expunge");
    let read = store.get_message(&app.id, "evt-1").await.expect("get");
    assert!(read.is_some_and(|m| m.payload.is_none()));
    let claimed = claim(&store, WORKER_A, 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].payload, None, "an expunged payload is not sent");
    let missing = store
        .expunge_message_content(&app.id, &MessageId::generate())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn event_id_is_unique_within_an_application(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let mut first = message(&app.id, "a", None);
    first.message.event_id = Some(uid("order-7"));
    post(&store, first).await;

    let mut again = message(&app.id, "a", None);
    again.message.event_id = Some(uid("order-7"));
    let again_id = again.message.id.clone();
    let err = store
        .create_message(&again)
        .await
        .expect_err("a duplicate eventId");
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("eventId")),
        "{err:?}"
    );
    assert!(
        store
            .get_message(&app.id, again_id.as_str())
            .await
            .expect("get")
            .is_none()
    );
    let err = store
        .create_message_for_endpoint(&again, &ep.id)
        .await
        .expect_err("a duplicate eventId");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        claim(&store, WORKER_A, 10).await.len(),
        1,
        "no delivery for the refused one"
    );

    let other_app = new_app(&store, None).await;
    let mut elsewhere = message(&other_app.id, "a", None);
    elsewhere.message.event_id = Some(uid("order-7"));
    store
        .create_message(&elsewhere)
        .await
        .expect("same eventId in another application");

    let orphan = message(&AppId::generate(), "a", None);
    let missing = store.create_message(&orphan).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn message_fans_out_to_enabled_endpoints_whose_filters_match(store: DynStore) {
    let app = new_app(&store, None).await;
    let all = plain_endpoint(&store, &app.id).await;
    let mut f = endpoint_fields("https://paid.example/");
    f.event_types = Some(vec![ty("invoice.paid"), ty("invoice.void")]);
    let paid = new_endpoint(&store, &app.id, f).await;
    let mut f = endpoint_fields("https://users.example/");
    f.event_types = Some(vec![ty("user.created")]);
    let users = new_endpoint(&store, &app.id, f).await;
    let mut f = endpoint_fields("https://eu.example/");
    f.channels = Some(vec![ch("eu")]);
    let eu = new_endpoint(&store, &app.id, f).await;
    let mut f = endpoint_fields("https://off.example/");
    f.disabled = true;
    let off = new_endpoint(&store, &app.id, f).await;
    // Another application's endpoint never gets this application's messages.
    let other_app = new_app(&store, None).await;
    plain_endpoint(&store, &other_app.id).await;

    let (_, n) = post(
        &store,
        message(&app.id, "invoice.paid", Some(&["us", "eu"])),
    )
    .await;
    assert_eq!(n, 3);
    let (_, n) = post(&store, message(&app.id, "invoice.paid", None)).await;
    assert_eq!(n, 2, "the channel filter needs a shared channel");
    let (_, n) = post(&store, message(&app.id, "user.created", Some(&["us"]))).await;
    assert_eq!(n, 2);

    let mut got: Vec<EndpointId> = claim(&store, WORKER_A, 100)
        .await
        .into_iter()
        .map(|c| c.endpoint_id)
        .collect();
    got.sort();
    // Every message reaches `all`; both invoices reach `paid`; only the one on "eu" reaches `eu`.
    let mut want = vec![
        all.id.clone(),
        all.id.clone(),
        all.id,
        paid.id.clone(),
        paid.id,
        eu.id,
        users.id,
    ];
    want.sort();
    assert_eq!(got, want);
    assert!(!got.contains(&off.id));
}

pub async fn example_message_goes_to_its_one_endpoint_as_a_manual_attempt(store: DynStore) {
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    let mut f = endpoint_fields("https://picky.example/");
    f.event_types = Some(vec![ty("invoice.paid")]);
    let picky = new_endpoint(&store, &app.id, f).await;

    let msg = message(&app.id, "webhook.example", None);
    store
        .create_message_for_endpoint(&msg, &picky.id)
        .await
        .expect("send example");
    let claimed = claim(&store, WORKER_A, 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].endpoint_id, picky.id);
    assert_eq!(claimed[0].msg_id, msg.message.id);
    assert_eq!(claimed[0].trigger_type, MANUAL);

    let missing = store
        .create_message_for_endpoint(&message(&app.id, "a", None), &EndpointId::generate())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn messages_are_paged_forwards_and_backwards(store: DynStore) {
    let app = new_app(&store, None).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(post(&store, message(&app.id, "a", None)).await.0);
    }
    ids.sort();
    let [m1, m2, m3, m4, m5] = <[MessageId; 5]>::try_from(ids).expect("five ids");
    let list = |request: PageRequest| {
        let store = store.clone();
        let app = app.id.clone();
        async move {
            let page = store
                .list_messages(&app, &MessageFilter::default(), &request)
                .await
                .expect("list");
            (
                page.items.into_iter().map(|m| m.id).collect::<Vec<_>>(),
                page.more,
            )
        }
    };
    let desc = Order::Descending;
    assert_eq!(
        list(first_page(2, desc)).await,
        (vec![m5.clone(), m4.clone()], true)
    );
    let (page, more) = list(page_from(2, desc, m4.as_str(), false)).await;
    assert_eq!((page, more), (vec![m3.clone(), m2.clone()], true));
    let (page, more) = list(page_from(2, desc, m2.as_str(), false)).await;
    assert_eq!((page, more), (vec![m1.clone()], false));
    // Backwards from the second page's first item: the first page again, nothing before it.
    let (page, more) = list(page_from(2, desc, m3.as_str(), true)).await;
    assert_eq!((page, more), (vec![m5.clone(), m4.clone()], false));
    let (page, more) = list(page_from(2, desc, m2.as_str(), true)).await;
    assert_eq!((page, more), (vec![m4.clone(), m3.clone()], true));

    let asc = Order::Ascending;
    assert_eq!(
        list(first_page(3, asc)).await,
        (vec![m1.clone(), m2.clone(), m3.clone()], true)
    );
    let (page, more) = list(page_from(3, asc, m3.as_str(), false)).await;
    assert_eq!((page, more), (vec![m4.clone(), m5], false));
    let (page, more) = list(page_from(3, asc, m4.as_str(), true)).await;
    assert_eq!((page, more), (vec![m1, m2, m3], false));
}

pub async fn message_listing_applies_channel_event_type_and_time_filters(store: DynStore) {
    let app = new_app(&store, None).await;
    let t0 = Utc::now() - chrono::Duration::hours(3);
    let hour = chrono::Duration::hours(1);
    // Ids order by creation to the millisecond; the pauses keep these three in order.
    let (old, _) = post(
        &store,
        message_at(&app.id, "invoice.paid", Some(&["eu"]), t0),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let (mid, _) = post(
        &store,
        message_at(&app.id, "user.created", Some(&["us"]), t0 + hour),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let (new, _) = post(
        &store,
        message_at(&app.id, "invoice.void", None, t0 + hour * 2),
    )
    .await;
    let other_app = new_app(&store, None).await;
    post(
        &store,
        message_at(&other_app.id, "invoice.paid", Some(&["eu"]), t0),
    )
    .await;

    let ids = |filter: MessageFilter| {
        let store = store.clone();
        let app = app.id.clone();
        async move {
            let page = store
                .list_messages(&app, &filter, &first_page(10, Order::Ascending))
                .await
                .expect("list");
            page.items.into_iter().map(|m| m.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(MessageFilter::default()).await,
        [old.clone(), mid.clone(), new.clone()]
    );
    let on_eu = MessageFilter {
        channel: Some(ch("eu")),
        ..Default::default()
    };
    assert_eq!(ids(on_eu).await, std::slice::from_ref(&old));
    let invoices = MessageFilter {
        event_types: Some(vec![ty("invoice.paid"), ty("invoice.void")]),
        ..Default::default()
    };
    assert_eq!(ids(invoices).await, [old.clone(), new.clone()]);
    let window = MessageFilter {
        after: Some(t0),
        before: Some(t0 + hour * 2),
        ..Default::default()
    };
    assert_eq!(ids(window).await, [mid], "before and after are strict");
    let none = MessageFilter {
        event_types: Some(vec![]),
        ..Default::default()
    };
    assert!(ids(none).await.is_empty());
}
