//! Fleet-wide views in Postgres: queue depth, attempt throughput, breakers not closed.
//!
//! Each query reads partial indexes only; none takes a lock. Times are the server's
//! `now()`, the clock claims and leases use.

use super::PostgresStore;
use super::codec::{col, duration_ms, limit_param, ms};
use crate::delivery::gate::BreakerState;
use crate::domain::{AppId, EndpointId, EndpointUrl};
use crate::store::{AttemptCount, OpenBreaker, OpenBreakers, QueueDepth, StoreResult};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Counts by state, each over the partial index of its state: pending deliveries over
/// `deliveries_ready` (one pass for both due and delayed), leased ones over
/// `deliveries_sending`, failed ones over `deliveries_failed`. The passes are index-only
/// where the visibility map allows; on a busy queue recently updated pages still cost heap
/// visits, so a scrape of a million pending rows reads about that many index entries and
/// some heap pages; the metrics scrape caches the result for a second. The oldest due
/// delivery is the smaller of the two states' minimum `due_at`, if that is not in the
/// future.
const QUEUE: &str = "SELECT
    p.due + s.due AS due, p.delayed, s.sending,
    (SELECT count(*) FROM deliveries WHERE status = 2) AS failed,
    NULLIF(LEAST(COALESCE(p.head, 'infinity'), COALESCE(s.head, 'infinity')), 'infinity') AS head,
    now() AS now
FROM (SELECT count(*) FILTER (WHERE due_at <= now()) AS due,
             count(*) FILTER (WHERE due_at > now()) AS delayed, min(due_at) AS head
      FROM deliveries WHERE status = 1) p,
     (SELECT count(*) FILTER (WHERE due_at <= now()) AS due,
             count(*) FILTER (WHERE due_at > now()) AS sending, min(due_at) AS head
      FROM deliveries WHERE status = 3) s";

pub(super) async fn queue_depth(db: &PostgresStore) -> StoreResult<QueueDepth> {
    let row = sqlx::query(QUEUE).fetch_one(&db.pool).await?;
    let now: DateTime<Utc> = col(&row, "now")?;
    let head: Option<DateTime<Utc>> = col(&row, "head")?;
    Ok(QueueDepth {
        due: col(&row, "due")?,
        delayed: col(&row, "delayed")?,
        sending: col(&row, "sending")?,
        failed: col(&row, "failed")?,
        oldest_due: head.filter(|&t| t <= now).map(ms),
    })
}

/// How long bucket counts are kept.
pub(super) const COUNTS_KEPT: &str = "1 hour";

/// Sums the bucket counts since `since` into buckets of `width`.
pub(super) async fn attempt_counts(
    db: &PostgresStore,
    since: DateTime<Utc>,
    width: Duration,
) -> StoreResult<Vec<AttemptCount>> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM bucket - $1) * 1000 / $2)::bigint AS b,
                sum(delivered)::bigint, sum(failed)::bigint
         FROM attempt_counts WHERE bucket >= $1
         GROUP BY b ORDER BY b",
    )
    .bind(ms(since))
    .bind(duration_ms(width).max(1))
    .fetch_all(&db.pool)
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
pub(super) async fn open_breakers(db: &PostgresStore, limit: usize) -> StoreResult<OpenBreakers> {
    let counts: Vec<(i16, i64)> = sqlx::query_as(
        "SELECT breaker_state, count(*) FROM endpoints
         WHERE breaker_state <> 0 AND NOT disabled GROUP BY breaker_state",
    )
    .fetch_all(&db.pool)
    .await?;
    let rows = sqlx::query(
        "SELECT id, app_id, url, breaker_state, COALESCE(breaker_since, created_at) AS since,
                open_until
         FROM endpoints WHERE breaker_state <> 0 AND NOT disabled
         ORDER BY since, id LIMIT $1",
    )
    .bind(limit_param(limit))
    .fetch_all(&db.pool)
    .await?;
    let count = |state: BreakerState| {
        counts
            .iter()
            .filter(|(s, _)| BreakerState::from_i64(i64::from(*s)) == state)
            .map(|(_, n)| n)
            .sum()
    };
    let longest = rows
        .iter()
        .map(|row| {
            Ok(OpenBreaker {
                app_id: AppId::from_trusted(col(row, "app_id")?),
                endpoint_id: EndpointId::from_trusted(col(row, "id")?),
                url: EndpointUrl::from_trusted(col(row, "url")?),
                state: BreakerState::from_i64(i64::from(col::<i16>(row, "breaker_state")?)),
                since: ms(col(row, "since")?),
                open_until: col::<Option<DateTime<Utc>>>(row, "open_until")?.map(ms),
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(OpenBreakers {
        open: count(BreakerState::Open),
        half_open: count(BreakerState::HalfOpen),
        longest,
    })
}
