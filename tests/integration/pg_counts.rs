//! Attempt counts in Postgres, kept per 10-second bucket and recording worker: the retention
//! sweep drops those older than an hour.

use crate::pg_support::fresh_pg_store;
use hookline::store::Sealer;
use sqlx::{Connection, PgConnection};

#[tokio::test]
async fn the_sweep_drops_attempt_counts_older_than_an_hour() {
    let (store, db) = fresh_pg_store(Sealer::new(None)).await;
    let mut admin = PgConnection::connect(db.url())
        .await
        .expect("connecting to the test database");
    sqlx::query(
        "INSERT INTO attempt_counts (bucket, writer, delivered, failed) VALUES
             (to_timestamp(floor(extract(epoch FROM now() - interval '61 minutes') / 10) * 10),
              'old', 5, 1),
             (to_timestamp(floor(extract(epoch FROM now() - interval '59 minutes') / 10) * 10),
              'recent', 7, 2)",
    )
    .execute(&mut admin)
    .await
    .expect("writing counts");

    store
        .sweep_expired(chrono::Utc::now(), 1000)
        .await
        .expect("sweeping");

    let writers: Vec<String> =
        sqlx::query_scalar("SELECT writer FROM attempt_counts ORDER BY writer")
            .fetch_all(&mut admin)
            .await
            .expect("reading counts");
    assert_eq!(writers, ["recent"]);
}
