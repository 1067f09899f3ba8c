//! The retention sweep: expired payloads are expunged, old idempotency keys forgotten,
//! and nothing else is touched.

use super::*;
use hookline::store::IdempotencyState;

store_tests!(
    the_sweep_expunges_expired_payloads_and_keeps_the_rest,
    the_sweep_forgets_idempotency_keys_older_than_the_cutoff,
);

pub async fn the_sweep_expunges_expired_payloads_and_keeps_the_rest(store: DynStore) {
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    let mut old = message_at(&app.id, "a", None, Utc::now() - chrono::Duration::days(6));
    old.retention = chrono::Duration::days(5);
    let (expired, _) = post(&store, old).await;
    let (kept, _) = post(&store, message(&app.id, "a", None)).await;

    let report = store
        .sweep_expired(Utc::now() - chrono::Duration::days(1), 100)
        .await
        .expect("sweeping");
    assert_eq!(report.payloads, 1);

    let get = |id: MessageId| {
        let store = store.clone();
        let app = app.id.clone();
        async move {
            store
                .get_message(&app, id.as_str())
                .await
                .expect("reading a message")
                .expect("the message still exists")
        }
    };
    assert_eq!(
        get(expired).await.payload,
        None,
        "the expired payload is gone"
    );
    assert_eq!(
        get(kept).await.payload.as_deref(),
        Some(r#"{"type":"test"}"#)
    );

    let again = store
        .sweep_expired(Utc::now() - chrono::Duration::days(1), 100)
        .await
        .expect("sweeping again");
    assert_eq!(again.payloads, 0, "a second sweep finds nothing new");
}

pub async fn the_sweep_forgets_idempotency_keys_older_than_the_cutoff(store: DynStore) {
    let begin = |key: &'static str| {
        let store = store.clone();
        async move { store.idempotency_begin(key, "fp").await.expect("begin") }
    };
    assert_eq!(begin("k1").await, IdempotencyState::Started);

    let kept = store
        .sweep_expired(Utc::now() - chrono::Duration::hours(1), 100)
        .await
        .expect("sweeping");
    assert_eq!(kept.idempotency_keys, 0);
    assert_eq!(
        begin("k1").await,
        IdempotencyState::InProgress,
        "a fresh key is kept"
    );

    let swept = store
        .sweep_expired(Utc::now() + chrono::Duration::seconds(1), 100)
        .await
        .expect("sweeping");
    assert_eq!(swept.idempotency_keys, 1);
    assert_eq!(
        begin("k1").await,
        IdempotencyState::Started,
        "a forgotten key is new again"
    );
}
