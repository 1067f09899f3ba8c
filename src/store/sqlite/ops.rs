//! Fleet-wide views in SQLite: queue depth, attempt throughput, breakers not closed.
//!
//! Each query is a range scan of one index of the `operability` migration, run on a read
//! connection beside the writer. Every `WHERE` repeats its index's predicate word for word
//! (`status IN (1, 2, 3)`, `breaker_state <> 0 AND disabled = 0`), which is how SQLite
//! recognises that a partial index applies.

use super::SqliteStore;
use super::codec::{col, duration_ms, from_ms, ms, now_ms};
use crate::delivery::gate::BreakerState;
use crate::domain::{AppId, EndpointId, EndpointUrl};
use crate::store::{AttemptCount, OpenBreaker, OpenBreakers, QueueDepth, StoreResult};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Counts by state over `deliveries_by_state`; each subquery is one index range, and the
/// index covers status and due_at, so no table page is read. The oldest due delivery is the
/// smaller of the two states' minimum `due_at`, if that is not in the future.
const QUEUE: &str = "SELECT
    (SELECT count(*) FROM deliveries
         WHERE status IN (1, 2, 3) AND status = 1 AND due_at <= ?1)
  + (SELECT count(*) FROM deliveries
         WHERE status IN (1, 2, 3) AND status = 3 AND due_at <= ?1) AS due,
    (SELECT count(*) FROM deliveries
         WHERE status IN (1, 2, 3) AND status = 1 AND due_at > ?1) AS delayed,
    (SELECT count(*) FROM deliveries
         WHERE status IN (1, 2, 3) AND status = 3 AND due_at > ?1) AS sending,
    (SELECT count(*) FROM deliveries WHERE status IN (1, 2, 3) AND status = 2) AS failed,
    (SELECT min(due_at) FROM deliveries WHERE status IN (1, 2, 3) AND status = 1) AS pending_head,
    (SELECT min(due_at) FROM deliveries WHERE status IN (1, 2, 3) AND status = 3) AS lease_head";

pub(super) async fn queue_depth(db: &SqliteStore) -> StoreResult<QueueDepth> {
    let now = now_ms();
    let row = sqlx::query(QUEUE).bind(now).fetch_one(&db.read).await?;
    let heads = [
        col::<Option<i64>>(&row, "pending_head")?,
        col::<Option<i64>>(&row, "lease_head")?,
    ];
    let oldest = heads.into_iter().flatten().min().filter(|&t| t <= now);
    Ok(QueueDepth {
        due: col(&row, "due")?,
        delayed: col(&row, "delayed")?,
        sending: col(&row, "sending")?,
        failed: col(&row, "failed")?,
        oldest_due: oldest.map(from_ms).transpose()?,
    })
}

/// One pass over the `attempts_recent` range since `since` (index-only: it holds
/// created_at and status).
pub(super) async fn attempt_counts(
    db: &SqliteStore,
    since: DateTime<Utc>,
    width: Duration,
) -> StoreResult<Vec<AttemptCount>> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT (created_at - ?1) / ?2 AS bucket,
                sum(status = 0) AS delivered, sum(status <> 0) AS failed
         FROM attempts WHERE created_at >= ?1
         GROUP BY bucket ORDER BY bucket",
    )
    .bind(ms(since))
    .bind(duration_ms(width).max(1))
    .fetch_all(&db.read)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(bucket, delivered, failed)| AttemptCount {
            bucket,
            delivered,
            failed,
        })
        .collect())
}

/// Counts and the longest-standing breakers, both from `endpoints_open_breakers`.
pub(super) async fn open_breakers(db: &SqliteStore, limit: usize) -> StoreResult<OpenBreakers> {
    let mut conn = db.read.acquire().await?;
    let counts: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT breaker_state, count(*) FROM endpoints
         WHERE breaker_state <> 0 AND disabled = 0 GROUP BY breaker_state",
    )
    .fetch_all(&mut *conn)
    .await?;
    let rows = sqlx::query(
        "SELECT id, app_id, url, breaker_state, breaker_since, created_at, open_until
         FROM endpoints WHERE breaker_state <> 0 AND disabled = 0
         ORDER BY breaker_since, id LIMIT ?",
    )
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;
    let count = |state: BreakerState| {
        counts
            .iter()
            .filter(|(s, _)| BreakerState::from_i64(*s) == state)
            .map(|(_, n)| n)
            .sum()
    };
    let longest = rows
        .iter()
        .map(|row| {
            let since = col::<Option<i64>>(row, "breaker_since")?
                .map_or_else(|| col(row, "created_at"), Ok)?;
            Ok(OpenBreaker {
                app_id: AppId::from_trusted(col(row, "app_id")?),
                endpoint_id: EndpointId::from_trusted(col(row, "id")?),
                url: EndpointUrl::from_trusted(col(row, "url")?),
                state: BreakerState::from_i64(col(row, "breaker_state")?),
                since: from_ms(since)?,
                open_until: col::<Option<i64>>(row, "open_until")?
                    .map(from_ms)
                    .transpose()?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(OpenBreakers {
        open: count(BreakerState::Open),
        half_open: count(BreakerState::HalfOpen),
        longest,
    })
}
