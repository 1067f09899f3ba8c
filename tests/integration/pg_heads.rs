//! Claims on Postgres remember where each endpoint's queue starts and, between full scans,
//! may probe only from there (see `store::postgres::heads`); these stores always do.
//! Deliveries that become pending behind a remembered place, or at an endpoint the claims
//! do not know yet, are still claimed by the very next claim, not at the next full scan a
//! second later. Every check here runs well within that second of the scan before it.

use crate::pg_support::{PgDatabaseGuard, fresh_pg_database};
use crate::store_conformance::{
    WORKER_A, claim, endpoint_fields, message, new_app, new_endpoint, outcome, plain_endpoint,
    post, record, ty,
};
use chrono::Utc;
use hookline::domain::{EndpointId, MessageId};
use hookline::store::postgres::PostgresStore;
use hookline::store::{ClaimedDelivery, DynStore, NextStep, Sealer};
use sqlx::{Connection, PgConnection};
use std::sync::Arc;

/// A store on a fresh database whose claims probe from the remembered heads whenever they
/// may.
async fn probing_store() -> (DynStore, PgDatabaseGuard) {
    let db = fresh_pg_database().await;
    let store = PostgresStore::connect(db.url(), Sealer::new(None))
        .await
        .expect("opening the store");
    store.always_probe_heads();
    let store: DynStore = Arc::new(store);
    store.migrate().await.expect("migrating the store");
    (store, db)
}

fn messages_of(claimed: &[ClaimedDelivery]) -> Vec<&MessageId> {
    claimed.iter().map(|c| &c.msg_id).collect()
}

#[tokio::test]
async fn a_delivery_committed_after_claims_read_past_its_place_is_claimed_by_the_next() {
    let (store, db) = probing_store().await;
    let mut admin = PgConnection::connect(db.url())
        .await
        .expect("connecting to the test database");
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    post(&store, message(&app.id, "a", None)).await;
    assert_eq!(claim(&store, WORKER_A, 10).await.len(), 1);

    // A writer whose transaction starts before the claims below and commits after them:
    // its delivery is due at its transaction's start, ahead of everything they lease.
    let late = MessageId::generate();
    let mut writer = admin.begin().await.expect("beginning the late transaction");
    sqlx::query(
        "INSERT INTO messages (id, app_id, event_type, payload, created_at)
         VALUES ($1, $2, 'a', '{}', now())",
    )
    .bind(late.as_str())
    .bind(app.id.as_str())
    .execute(&mut *writer)
    .await
    .expect("inserting the late message");
    sqlx::query(
        "INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, attempts, trigger_type,
                                 due_at, created_at, updated_at)
         VALUES ($1, $2, $3, 1, 0, 0, now(), now(), now())",
    )
    .bind(app.id.as_str())
    .bind(late.as_str())
    .bind(ep.id.as_str())
    .execute(&mut *writer)
    .await
    .expect("inserting the late delivery");

    for _ in 0..3 {
        let (msg, _) = post(&store, message(&app.id, "a", None)).await;
        let claimed = claim(&store, WORKER_A, 10).await;
        assert_eq!(messages_of(&claimed), [&msg], "only the visible delivery");
    }
    writer.commit().await.expect("committing the late delivery");

    let claimed = claim(&store, WORKER_A, 10).await;
    assert_eq!(messages_of(&claimed), [&late]);
}

#[tokio::test]
async fn endpoints_with_new_work_below_between_and_above_known_ones_are_claimed_at_once() {
    let (store, _db) = probing_store().await;
    let app = new_app(&store, None).await;
    let mut ids: Vec<(EndpointId, String)> = Vec::new();
    for n in 0..5 {
        let event_type = format!("e{n}");
        let mut fields = endpoint_fields("https://receiver.example/hook");
        fields.event_types = Some(vec![ty(&event_type)]);
        ids.push((new_endpoint(&store, &app.id, fields).await.id, event_type));
    }
    ids.sort();
    let to = |n: usize| message(&app.id, &ids[n].1, None);

    // The claims come to know endpoints 1 and 3.
    post(&store, to(1)).await;
    post(&store, to(3)).await;
    assert_eq!(claim(&store, WORKER_A, 10).await.len(), 2);

    for n in [0, 2, 4] {
        let (msg, _) = post(&store, to(n)).await;
        let claimed = claim(&store, WORKER_A, 10).await;
        assert_eq!(messages_of(&claimed), [&msg], "endpoint {n} of 0..5");
        assert_eq!(claimed[0].endpoint_id, ids[n].0);
    }
    let (msg, _) = post(&store, to(3)).await;
    assert_eq!(messages_of(&claim(&store, WORKER_A, 10).await), [&msg]);
}

#[tokio::test]
async fn a_retry_due_before_the_remembered_head_is_claimed_by_the_next_claim() {
    let (store, _db) = probing_store().await;
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    let (first, _) = post(&store, message(&app.id, "a", None)).await;
    let sent = claim(&store, WORKER_A, 10).await;
    assert_eq!(messages_of(&sent), [&first]);
    // Claims that move the endpoint's remembered head past the first delivery's place.
    for _ in 0..2 {
        let (msg, _) = post(&store, message(&app.id, "a", None)).await;
        assert_eq!(messages_of(&claim(&store, WORKER_A, 10).await), [&msg]);
    }

    let overdue = NextStep::RetryAt(Utc::now() - chrono::Duration::hours(1));
    record(&store, vec![outcome(&sent[0], WORKER_A, 500, overdue)]).await;
    let retried = claim(&store, WORKER_A, 10).await;
    assert_eq!(messages_of(&retried), [&first]);
    assert_eq!(retried[0].attempts_made, 1);
}

#[tokio::test]
async fn with_more_endpoints_than_are_remembered_every_endpoint_is_still_served() {
    let (store, _db) = probing_store().await;
    let app = new_app(&store, None).await;
    // One more endpoint than a process remembers, and than a claim considers.
    for _ in 0..1001 {
        plain_endpoint(&store, &app.id).await;
    }
    let (msg, fanned) = post(&store, message(&app.id, "a", None)).await;
    assert_eq!(fanned, 1001);

    let first = claim(&store, WORKER_A, 2000).await;
    assert_eq!(first.len(), 1000, "at most one claim's worth of endpoints");
    let second = claim(&store, WORKER_A, 2000).await;
    assert_eq!(messages_of(&second), [&msg]);
    let mut served: Vec<&EndpointId> = first
        .iter()
        .chain(&second)
        .map(|c| &c.endpoint_id)
        .collect();
    served.sort();
    served.dedup();
    assert_eq!(served.len(), 1001);
    assert!(claim(&store, WORKER_A, 2000).await.is_empty());
}
