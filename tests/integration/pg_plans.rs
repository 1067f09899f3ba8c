//! Postgres plans on a queue that grew after the hot statements were first run. Without
//! statistics (a new database, or a server with autovacuum off) the planner takes a table
//! for as small as it was when it last looked, and a prepared statement keeps the plan it
//! settled on then; a plan that scans `deliveries` costs a pass over the whole queue on
//! every call once it is large.
//!
//! Scans are read from `pg_stat_user_tables`, which a backend updates shortly after each
//! transaction. The store runs on one connection, so a marker written through it (an
//! application renamed) shows when everything it did before has been counted.

use crate::pg_support::fresh_pg_database;
use crate::store_conformance::{
    WORKER_A, app_fields, claim, message, new_app, plain_endpoint, post, record_delivered, state_of,
};
use hookline::domain::AppId;
use hookline::store::postgres::PostgresStore;
use hookline::store::{DeliveryStatus, DynStore, Sealer};
use sqlx::{Connection, PgConnection};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Finished deliveries of other messages added once the statements have been planned.
const GROWN_BY: i64 = 50_000;

/// Outcomes recorded in one batch on the grown queue, about what a busy recorder writes.
const BATCH: usize = 200;

/// Scans of `deliveries` that read the whole table, and scans of its (endpoint, message)
/// key, once the store's backend has reported what it did before renaming the application
/// for the `marker`th time.
async fn deliveries_scans(
    store: &DynStore,
    admin: &mut PgConnection,
    app: &AppId,
    marker: i64,
) -> (i64, i64) {
    store
        .update_application(app, &app_fields(&format!("marker {marker}"), None))
        .await
        .expect("renaming the application");
    let start = Instant::now();
    loop {
        // A backend reports at the end of a transaction at most once a second (else after
        // ten idle seconds): keep it busy with reads that touch no delivery.
        store
            .get_application(app.as_str())
            .await
            .expect("reading the application");
        // A new snapshot of the statistics on each read.
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut *admin)
            .await
            .expect("clearing the statistics snapshot");
        let (updates, seq_scans, key_scans): (i64, i64, i64) = sqlx::query_as(
            "SELECT a.n_tup_upd, d.seq_scan, k.idx_scan
             FROM pg_stat_user_tables a, pg_stat_user_tables d, pg_stat_user_indexes k
             WHERE a.relname = 'applications' AND d.relname = 'deliveries'
               AND k.indexrelname = 'deliveries_endpoint_id_msg_id_key'",
        )
        .fetch_one(&mut *admin)
        .await
        .expect("reading table statistics");
        if updates >= marker {
            return (seq_scans, key_scans);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the store's statistics did not arrive within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn claims_and_outcomes_on_a_grown_queue_do_not_scan_it() {
    let db = fresh_pg_database().await;
    let store = PostgresStore::connect_with_pool_size(db.url(), 1, Sealer::new(None))
        .await
        .expect("opening the store");
    // Both ways of finding the endpoints' heads run, not only the cheaper one.
    store.always_probe_heads();
    let store: DynStore = Arc::new(store);
    store.migrate().await.expect("migrating the store");
    let mut admin = PgConnection::connect(db.url())
        .await
        .expect("connecting to the test database");
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;

    // Enough rounds on a small queue for Postgres to settle on its plans.
    for _ in 0..8 {
        post(&store, message(&app.id, "a", None)).await;
        let claimed = claim(&store, WORKER_A, 10).await;
        assert_eq!(claimed.len(), 1);
        record_delivered(&store, &claimed).await;
    }
    sqlx::query(
        "INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, attempts, trigger_type,
                                 created_at, updated_at)
         SELECT $1, 'msg_grown_' || i, $2, 0, 1, 0, now(), now()
         FROM generate_series(1, $3) AS i",
    )
    .bind(app.id.as_str())
    .bind(ep.id.as_str())
    .bind(GROWN_BY)
    .execute(&mut admin)
    .await
    .expect("growing the queue");

    let mut posted = Vec::new();
    for _ in 0..BATCH {
        posted.push(post(&store, message(&app.id, "a", None)).await.0);
    }
    let before_claim = deliveries_scans(&store, &mut admin, &app.id, 1).await;
    let claimed = claim(&store, WORKER_A, BATCH + 1).await;
    assert_eq!(claimed.len(), BATCH, "only the new messages are due");
    let before = deliveries_scans(&store, &mut admin, &app.id, 2).await;
    assert_eq!(
        before.0 - before_claim.0,
        0,
        "claiming a batch scanned the whole deliveries table"
    );
    record_delivered(&store, &claimed).await;
    let after = deliveries_scans(&store, &mut admin, &app.id, 3).await;

    assert_eq!(
        after.0 - before.0,
        0,
        "recording a batch of outcomes scanned the whole deliveries table"
    );
    // Each outcome finds its row by the version its lease wrote, not by its key.
    assert_eq!(
        after.1 - before.1,
        0,
        "recording a batch of outcomes looked rows up by key"
    );
    for msg in &posted {
        let state = state_of(&store, &app.id, msg, &ep.id).await;
        assert_eq!(state.status, DeliveryStatus::Success);
    }
}
