//! Postgres plans on a queue that grew after the hot statements were first run. Without
//! statistics (a new database, or a server with autovacuum off) the planner takes a table
//! for as small as it was when it last looked, and a prepared statement keeps the plan it
//! settled on then; a plan that scans `deliveries`, or every pending row of it, costs a
//! pass over the whole queue on every call once it is large.
//!
//! Scans are read from `pg_stat_user_tables` and `pg_stat_user_indexes`, which a backend
//! updates shortly after each transaction. The store's queries run on one connection, so a
//! marker written through it (an application renamed) shows when everything it did before
//! has been counted; its ingest writer has a connection of its own, waited for by the
//! messages it inserted.

use crate::pg_support::{PgDatabaseGuard, fresh_pg_database};
use crate::store_conformance::{
    WORKER_A, app_fields, claim, first_page, message, new_app, no_filter, plain_endpoint, post,
    record_delivered, state_of,
};
use hookline::domain::{AppId, EventTypeName};
use hookline::store::postgres::PostgresStore;
use hookline::store::{AttemptFilter, DeliveryStatus, DynStore, MessageFilter, Order, Sealer};
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Row};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Finished deliveries of other messages added once the statements have been planned, and
/// as many pending ones that are not due for an hour.
const GROWN_BY: i64 = 50_000;

/// Outcomes recorded in one batch on the grown queue, about what a busy recorder writes.
const BATCH: usize = 200;

/// Endpoints each message goes to: with several per claim, Postgres soon settles on a
/// generic plan of the claim's statements, made for the queue as small as it was then.
const ENDPOINTS: usize = 10;

/// Endpoints of another application added with the grown queue: a claim's plan must still
/// look up its candidates' rows, not walk every endpoint's.
const OTHER_ENDPOINTS: i64 = 20_000;

/// What the database's backends have read, counted from when the database was created.
#[derive(Clone, Copy, Debug)]
struct Scans {
    /// Scans of the whole table.
    seq: i64,
    /// Scans of the (endpoint, message) key.
    by_key: i64,
    /// Entries read from `deliveries_ready`, the index of pending rows.
    ready_entries: i64,
    /// Rows of `endpoint_claims` read, by any scan.
    claim_rows: i64,
    /// Rows of `endpoints` read, by any scan.
    endpoint_rows: i64,
}

/// [`Scans`] once the store's backend has reported what it did before renaming the
/// application for the `marker`th time.
async fn scans(store: &DynStore, admin: &mut PgConnection, app: &AppId, marker: i64) -> Scans {
    marked(
        store,
        admin,
        app,
        marker,
        "SELECT a.n_tup_upd, d.seq_scan, k.idx_scan, r.idx_tup_read,
                c.seq_tup_read + coalesce(c.idx_tup_fetch, 0) AS claim_rows,
                e.seq_tup_read + coalesce(e.idx_tup_fetch, 0) AS endpoint_rows
         FROM pg_stat_user_tables a, pg_stat_user_tables d, pg_stat_user_indexes k,
              pg_stat_user_indexes r, pg_stat_user_tables c, pg_stat_user_tables e
         WHERE a.relname = 'applications' AND d.relname = 'deliveries'
           AND k.indexrelname = 'deliveries_endpoint_id_msg_id_key'
           AND r.indexrelname = 'deliveries_ready' AND c.relname = 'endpoint_claims'
           AND e.relname = 'endpoints'",
        |row| Scans {
            seq: row.get("seq_scan"),
            by_key: row.get("idx_scan"),
            ready_entries: row.get("idx_tup_read"),
            claim_rows: row.get("claim_rows"),
            endpoint_rows: row.get("endpoint_rows"),
        },
    )
    .await
}

/// What `read` takes from the row of statistics `query` returns, once the store's backend
/// has reported what it did before renaming the application for the `marker`th time.
/// `query` returns the application's update count (`n_tup_upd`) with the figures wanted,
/// so that both come from one snapshot.
async fn marked<T>(
    store: &DynStore,
    admin: &mut PgConnection,
    app: &AppId,
    marker: i64,
    query: &str,
    read: impl Fn(&PgRow) -> T,
) -> T {
    store
        .update_application(app, &app_fields(&format!("marker {marker}"), None))
        .await
        .expect("renaming the application");
    fresh_stats(
        admin,
        "the store's statistics",
        async |admin: &mut PgConnection| {
            // A backend reports at the end of a transaction at most once a second (else after
            // ten idle seconds): keep it busy with reads that touch no delivery.
            store
                .get_application(app.as_str())
                .await
                .expect("reading the application");
            let row = sqlx::query(query)
                .fetch_one(admin)
                .await
                .expect("reading table statistics");
            (row.get::<i64, _>("n_tup_upd") >= marker).then(|| read(&row))
        },
    )
    .await
}

/// Waits until the statistics count at least `rows` inserted into `table`: a backend reports
/// what it did within a second of its transactions, or about ten seconds once it is idle.
async fn inserts_counted(admin: &mut PgConnection, table: &str, rows: i64) {
    let what = format!("{rows} inserts into {table}");
    fresh_stats(admin, &what, async |admin: &mut PgConnection| {
        let inserted: i64 =
            sqlx::query_scalar("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = $1")
                .bind(table)
                .fetch_one(admin)
                .await
                .expect("reading table statistics");
        (inserted >= rows).then_some(())
    })
    .await;
}

/// Reads the statistics with `read`, on a new snapshot each time, until it returns `Some`;
/// fails if `what` has not arrived within 30 s.
async fn fresh_stats<T>(
    admin: &mut PgConnection,
    what: &str,
    mut read: impl AsyncFnMut(&mut PgConnection) -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut *admin)
            .await
            .expect("clearing the statistics snapshot");
        if let Some(found) = read(&mut *admin).await {
            return found;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not arrive within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The store on `db`, migrated, with one pooled connection (so a marker written through it
/// follows everything it did before), set up by `prepare`; and an admin connection.
async fn open(
    db: &PgDatabaseGuard,
    prepare: impl FnOnce(&PostgresStore),
) -> (DynStore, PgConnection) {
    let store = PostgresStore::connect_with_pool_size(db.url(), 1, Sealer::new(None))
        .await
        .expect("opening the store");
    prepare(&store);
    let store: DynStore = Arc::new(store);
    store.migrate().await.expect("migrating the store");
    let admin = PgConnection::connect(db.url())
        .await
        .expect("connecting to the test database");
    (store, admin)
}

#[tokio::test]
async fn claims_and_outcomes_on_a_grown_queue_do_not_scan_it() {
    let db = fresh_pg_database().await;
    // Both ways of finding the endpoints' heads run, not only the cheaper one.
    let (store, mut admin) = open(&db, PostgresStore::always_probe_heads).await;
    let app = new_app(&store, None).await;
    let mut endpoints = Vec::new();
    for _ in 0..ENDPOINTS {
        endpoints.push(plain_endpoint(&store, &app.id).await);
    }

    // Enough rounds on a small queue for Postgres to settle on its plans.
    for _ in 0..8 {
        post(&store, message(&app.id, "a", None)).await;
        let claimed = claim(&store, WORKER_A, 2 * ENDPOINTS).await;
        assert_eq!(claimed.len(), ENDPOINTS);
        record_delivered(&store, &claimed).await;
    }
    let ids: Vec<&str> = endpoints.iter().map(|e| e.id.as_str()).collect();
    sqlx::query(
        "INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, attempts, trigger_type,
                                 due_at, created_at, updated_at)
         SELECT $1, 'msg_grown_' || s.status || '_' || i, $2[1 + i % cardinality($2)], s.status, 1, 0,
                CASE WHEN s.status = 1 THEN now() + interval '1 hour' END, now(), now()
         FROM generate_series(1, $3) AS i, (VALUES (0), (1)) AS s(status)",
    )
    .bind(app.id.as_str())
    .bind(&ids)
    .bind(GROWN_BY)
    .execute(&mut admin)
    .await
    .expect("growing the queue");
    sqlx::raw_sql(&format!(
        "INSERT INTO applications (id, name, metadata, created_at, updated_at)
         VALUES ('app_other', 'other', '{{}}', now(), now());
         INSERT INTO endpoints (id, app_id, url, description, metadata, headers, secret,
                                created_at, updated_at)
         SELECT 'ep_other_' || i, 'app_other', 'https://receiver.example/hook', '', '{{}}',
                '{{}}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(), now()
         FROM generate_series(1, {OTHER_ENDPOINTS}) AS i;
         INSERT INTO endpoint_claims (endpoint_id, app_id)
         SELECT id, app_id FROM endpoints WHERE app_id = 'app_other'"
    ))
    .execute(&mut admin)
    .await
    .expect("adding endpoints");
    // The rows these statements read must be counted before the posts are measured.
    inserts_counted(&mut admin, "endpoint_claims", OTHER_ENDPOINTS).await;

    let before_posts = scans(&store, &mut admin, &app.id, 1).await;
    let mut posted = Vec::new();
    for _ in 0..BATCH / ENDPOINTS {
        posted.push(post(&store, message(&app.id, "a", None)).await.0);
    }
    // The ingest writer has a connection of its own, which the marker does not wait for.
    let settled = i64::try_from(8 + posted.len()).expect("a small count");
    inserts_counted(&mut admin, "messages", settled).await;
    let before_claim = scans(&store, &mut admin, &app.id, 2).await;
    // Each message's endpoints are found among its application's, not among all.
    let read = before_claim.endpoint_rows - before_posts.endpoint_rows;
    assert!(
        read < OTHER_ENDPOINTS / 10,
        "posting {} messages read {read} rows of endpoints",
        posted.len()
    );
    let claimed = claim(&store, WORKER_A, BATCH + 1).await;
    assert_eq!(claimed.len(), BATCH, "only the new messages are due");
    let before = scans(&store, &mut admin, &app.id, 3).await;
    assert_eq!(
        before.seq - before_claim.seq,
        0,
        "claiming a batch scanned the whole deliveries table"
    );
    // Each endpoint's due rows are read from its head; the rows due later are not.
    let read = before.ready_entries - before_claim.ready_entries;
    assert!(
        read < GROWN_BY / 10,
        "claiming a batch read {read} entries of the pending index"
    );
    let read = before.claim_rows - before_claim.claim_rows;
    assert!(
        read < OTHER_ENDPOINTS / 10,
        "claiming a batch read {read} rows of endpoint_claims"
    );
    record_delivered(&store, &claimed).await;
    let after = scans(&store, &mut admin, &app.id, 4).await;

    assert_eq!(
        after.seq - before.seq,
        0,
        "recording a batch of outcomes scanned the whole deliveries table"
    );
    // Each outcome finds its row by the version its lease wrote, not by its key.
    assert_eq!(
        after.by_key - before.by_key,
        0,
        "recording a batch of outcomes looked rows up by key"
    );
    for msg in &posted {
        for ep in &endpoints {
            let state = state_of(&store, &app.id, msg, &ep.id).await;
            assert_eq!(state.status, DeliveryStatus::Success);
        }
    }
}

/// Messages of the listing test, each delivered to its one endpoint in one attempt: more
/// than a page by far.
const LOGGED: i64 = 20_000;

/// Every `ODD_EVERY`th message of the listing test is of another event type, and its
/// delivery and attempt failed.
const ODD_EVERY: i64 = 100;

#[tokio::test]
async fn pages_read_about_a_page_without_statistics() {
    let db = fresh_pg_database().await;
    let (store, mut admin) = open(&db, |_| ()).await;
    let app = new_app(&store, None).await;
    let endpoint = plain_endpoint(&store, &app.id).await;
    // No statistics for the planner while the test runs, as on a server that has not
    // analysed these tables yet.
    sqlx::raw_sql(
        "ALTER TABLE messages SET (autovacuum_enabled = false);
         ALTER TABLE deliveries SET (autovacuum_enabled = false);
         ALTER TABLE attempts SET (autovacuum_enabled = false)",
    )
    .execute(&mut admin)
    .await
    .expect("turning autovacuum off");
    sqlx::query(
        "WITH logged AS (
             SELECT i, lpad(i::text, 8, '0') AS n, i % $4 = 0 AS odd
             FROM generate_series(1, $3) AS i
         ), messages_in AS (
             INSERT INTO messages (id, app_id, event_type, payload, created_at)
             SELECT 'msg_' || n, $1, CASE WHEN odd THEN 'other' ELSE 'usual' END, '{}', now()
             FROM logged
         ), deliveries_in AS (
             INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, attempts,
                                     created_at, updated_at)
             SELECT $1, 'msg_' || n, $2, CASE WHEN odd THEN 2 ELSE 0 END, 1, now(), now()
             FROM logged
         )
         INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status,
                               response_status_code, response, response_duration_ms,
                               trigger_type, created_at)
         SELECT 'atmpt_' || n, $1, 'msg_' || n, $2, 'https://receiver.example/hook',
                CASE WHEN odd THEN 1 ELSE 0 END, CASE WHEN odd THEN 500 ELSE 200 END, '', 1,
                0, now()
         FROM logged",
    )
    .bind(app.id.as_str())
    .bind(endpoint.id.as_str())
    .bind(LOGGED)
    .bind(ODD_EVERY)
    .execute(&mut admin)
    .await
    .expect("logging messages, deliveries and attempts");
    inserts_counted(&mut admin, "attempts", LOGGED).await;

    // Rows and index entries read from each table by whole-table and index scans.
    let reads = "SELECT a.n_tup_upd,
                        sum(r.n) FILTER (WHERE r.relname = 'messages')::bigint AS messages,
                        sum(r.n) FILTER (WHERE r.relname = 'deliveries')::bigint AS deliveries,
                        sum(r.n) FILTER (WHERE r.relname = 'attempts')::bigint AS attempts
                 FROM pg_stat_user_tables a,
                      (SELECT relname, seq_tup_read AS n FROM pg_stat_user_tables
                       UNION ALL
                       SELECT relname, idx_tup_read FROM pg_stat_user_indexes) r
                 WHERE a.relname = 'applications'
                 GROUP BY a.n_tup_upd";
    let read = |row: &PgRow| ["messages", "deliveries", "attempts"].map(|t| row.get::<i64, _>(t));
    let before = marked(&store, &mut admin, &app.id, 1, reads, read).await;
    let newest = |prefix: &str| -> Vec<String> {
        (1..=LOGGED)
            .rev()
            .filter(|i| i % ODD_EVERY != 0)
            .take(50)
            .map(|i| format!("{prefix}_{i:08}"))
            .collect()
    };
    let page = first_page(50, Order::Descending);

    let messages = MessageFilter {
        event_types: Some(vec![EventTypeName::parse("usual").expect("a name")]),
        ..MessageFilter::default()
    };
    let listed = store
        .list_messages(&app.id, &messages, &page)
        .await
        .expect("listing messages");
    let ids: Vec<&str> = listed.items.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, newest("msg"), "the newest messages of the event type");

    let delivered = MessageFilter {
        status: Some(DeliveryStatus::Success),
        ..MessageFilter::default()
    };
    let listed = store
        .list_attempted_messages(&app.id, &endpoint.id, &delivered, &page)
        .await
        .expect("listing the endpoint's messages");
    let ids: Vec<&str> = listed.items.iter().map(|(m, _)| m.id.as_str()).collect();
    assert_eq!(
        ids,
        newest("msg"),
        "the endpoint's newest delivered messages"
    );

    let succeeded = AttemptFilter {
        endpoint_id: Some(endpoint.id.clone()),
        status: Some(DeliveryStatus::Success),
        ..no_filter()
    };
    let listed = store
        .list_attempts(&app.id, &succeeded, &page)
        .await
        .expect("listing attempts");
    let ids: Vec<&str> = listed.items.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        newest("atmpt"),
        "the endpoint's newest successful attempts"
    );

    let after = marked(&store, &mut admin, &app.id, 2, reads, read).await;
    let read: Vec<(&str, i64)> = ["messages", "deliveries", "attempts"]
        .into_iter()
        .zip(
            after
                .iter()
                .zip(before)
                .map(|(after, before)| after - before),
        )
        .collect();
    assert!(
        read.iter().all(|(_, n)| *n < 500),
        "three pages of 50 read these rows and index entries ({LOGGED} in each table): {read:?}"
    );
}
