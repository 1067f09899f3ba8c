//! Isolation state in Postgres: the candidates a claim chooses from, the gate state it
//! writes back, breaker bookkeeping when outcomes are recorded, and the health view.
//!
//! A claim locks the `endpoint_claims` rows of the endpoints it considers
//! (`FOR NO KEY UPDATE … SKIP LOCKED`) for the length of its transaction: a second worker
//! skips those endpoints and serves others, so in-flight counts, rate slots and half-open
//! probes are read and advanced by one claimer at a time per endpoint, fleet-wide. No lock
//! outlives the claim. Recorders update breaker state on the `endpoints` rows, so claims and
//! recorders do not wait for each other; `NO KEY UPDATE` there, because inserting a
//! delivery or an attempt takes a `KEY SHARE` lock on its endpoint (the foreign key).

use super::PostgresStore;
use super::codec::{col, column, limit_param, ms};
use super::heads::{Head, Heads, Remembered};
use crate::delivery::gate::{
    BreakerPolicy, BreakerState, Candidate, EndpointGate, Grant, Plan, breaker,
};
use crate::domain::{AppId, EndpointId};
use crate::store::{EndpointHealth, Outcome, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Most endpoints considered per claim (those whose oldest due delivery is oldest).
const MAX_CANDIDATES: usize = 1000;

/// Breaker state from the endpoint row and claim state from its `endpoint_claims` row
/// (aliased `c`), which every query selecting these joins.
const GATE_COLS: &str = "e.breaker_state, e.breaker_since, e.open_until, e.breaker_trips, \
    e.consecutive_failures, e.window_start, e.window_total, e.window_failures, \
    e.failing_since, c.rate_tat, c.last_served_at, e.created_at AS e_created_at";

/// The gate state of the endpoints `$2` (with heads at `$3`, `$6`), locked for this
/// transaction; endpoints another claimer holds are skipped. Due deliveries are counted from
/// the head up to what the claim (`$1`) or the endpoint's bulkhead (its own, or `$4`) could
/// take, whichever is less, or up to one while the breaker is open or half-open (it lets
/// one probe through at most), and unexpired leases are counted, those of the claiming
/// worker (`$5`) apart too. The `due` count is ordered like `deliveries_ready` so that even the
/// generic plan of this prepared statement walks that index: without the order, it could
/// scan the whole queue by `(status, due_at)` for each endpoint (about 400 ms a claim at a
/// million due).
const LOCK: &str = "
SELECT e.id, e.app_id, h.head, e.disabled, e.concurrency_limit, e.throttle_rate,
       a.throttle_rate AS app_throttle_rate, a.rate_tat AS app_rate_tat, GATE_COLS,
       (SELECT count(*) FROM (SELECT 1 FROM deliveries d
            WHERE d.endpoint_id = e.id AND d.status = 1 AND d.due_at <= now()
              AND (d.due_at, d.id) >= (h.head, h.head_id)
            ORDER BY d.due_at, d.id
            -- Breaker open (1) or half-open (2): at most one probe goes.
            LIMIT CASE WHEN e.breaker_state IN (1, 2) THEN 1
                       ELSE LEAST($1, COALESCE(e.concurrency_limit, $4)) END) x) AS due,
       f.in_flight, f.own_in_flight
FROM UNNEST($2::text[], $3::timestamptz[], $6::bigint[]) AS h(endpoint_id, head, head_id)
JOIN endpoint_claims c ON c.endpoint_id = h.endpoint_id
JOIN endpoints e ON e.id = h.endpoint_id
JOIN applications a ON a.id = e.app_id
CROSS JOIN LATERAL (SELECT count(*) AS in_flight,
                           count(*) FILTER (WHERE d.locked_by = $5) AS own_in_flight
                    FROM deliveries d
                    WHERE d.endpoint_id = e.id AND d.status = 3 AND d.due_at > now()) f
ORDER BY h.head
FOR NO KEY UPDATE OF c SKIP LOCKED";

/// [`LOCK`] as sent, built once: every claim sends it.
static LOCK_SQL: LazyLock<String> = LazyLock::new(|| LOCK.replace("GATE_COLS", GATE_COLS));

fn count(row: &PgRow, name: &str) -> StoreResult<usize> {
    let n: i64 = col(row, name)?;
    usize::try_from(n).map_err(|_| StoreError::Corrupt(format!("{name} {n} is out of range")))
}

/// A breaker counter as an `integer` column, capped at its largest value.
fn saturating(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn small(row: &PgRow, name: &str) -> StoreResult<u32> {
    let n: i32 = col(row, name)?;
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{name} {n} is out of range")))
}

fn opt_time(row: &PgRow, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
    Ok(col::<Option<DateTime<Utc>>>(row, name)?.map(ms))
}

fn rate(row: &PgRow, name: &str) -> StoreResult<Option<u16>> {
    Ok(col::<Option<i32>>(row, name)?.and_then(|n| u16::try_from(n).ok()))
}

fn gate(row: &PgRow) -> StoreResult<EndpointGate> {
    let created: DateTime<Utc> = col(row, "e_created_at")?;
    Ok(EndpointGate {
        breaker: BreakerState::from_i64(i64::from(col::<i16>(row, "breaker_state")?)),
        breaker_since: opt_time(row, "breaker_since")?.unwrap_or(created),
        open_until: opt_time(row, "open_until")?,
        trips: small(row, "breaker_trips")?,
        consecutive_failures: small(row, "consecutive_failures")?,
        window_start: opt_time(row, "window_start")?.unwrap_or(created),
        window_total: small(row, "window_total")?,
        window_failures: small(row, "window_failures")?,
        failing_since: opt_time(row, "failing_since")?,
        rate_tat: opt_time(row, "rate_tat")?,
        last_served: opt_time(row, "last_served_at")?,
    })
}

/// What a claim may choose from.
#[derive(Default)]
pub(super) struct Found {
    /// The candidates, with their `endpoint_claims` rows (and the rows of throttled
    /// applications) locked until the transaction ends.
    pub candidates: Vec<Candidate>,
    /// The head of every endpoint with due work, by endpoint id.
    pub heads: HashMap<String, Head>,
    /// Endpoints with due work skipped because another claimer holds them.
    pub skipped: usize,
    /// The database clock (unread if nothing is due).
    pub db_now: DateTime<Utc>,
}

/// The claim's candidates (see [`Found`]), among the endpoints whose heads `remembered`
/// reads.
pub(super) async fn candidates(
    conn: &mut PgConnection,
    remembered: &Remembered,
    worker_id: &str,
    limit: usize,
    endpoint_concurrency: u32,
) -> StoreResult<Found> {
    let Heads { mut heads, db_now } = remembered.read(&mut *conn).await?;
    heads.retain(|(_, (due_at, _))| *due_at <= db_now);
    if heads.is_empty() {
        return Ok(Found::default());
    }
    heads.sort_unstable_by_key(|(_, head)| *head);
    heads.truncate(MAX_CANDIDATES);
    let ids = column(&heads, |h| h.0.as_str());
    let rows = sqlx::query(LOCK_SQL.as_str())
        .bind(limit_param(limit))
        .bind(&ids)
        .bind(column(&heads, |h| h.1.0))
        .bind(i64::from(endpoint_concurrency))
        .bind(worker_id)
        .bind(column(&heads, |h| h.1.1))
        .fetch_all(&mut *conn)
        .await?;
    let mut candidates = rows
        .iter()
        .map(|row| {
            Ok(Candidate {
                endpoint_id: EndpointId::from_trusted(col(row, "id")?),
                app_id: AppId::from_trusted(col(row, "app_id")?),
                oldest_due: ms(col(row, "head")?),
                due: count(row, "due")?,
                in_flight: count(row, "in_flight")?,
                own_in_flight: count(row, "own_in_flight")?,
                disabled: col(row, "disabled")?,
                concurrency_limit: col::<Option<i32>>(row, "concurrency_limit")?
                    .and_then(|n| u32::try_from(n).ok()),
                throttle_rate: rate(row, "throttle_rate")?,
                app_throttle_rate: rate(row, "app_throttle_rate")?,
                app_rate_tat: opt_time(row, "app_rate_tat")?,
                gate: gate(row)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let mut throttled: Vec<&str> = candidates
        .iter()
        .filter(|c| c.app_throttle_rate.is_some())
        .map(|c| c.app_id.as_str())
        .collect();
    if !throttled.is_empty() {
        throttled.sort_unstable();
        throttled.dedup();
        let locked: HashSet<String> = sqlx::query_scalar(
            "SELECT id FROM applications WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED",
        )
        .bind(&throttled)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
        candidates.retain(|c| c.app_throttle_rate.is_none() || locked.contains(c.app_id.as_str()));
    }
    let skipped = ids.len() - candidates.len();
    let heads = heads.into_iter().collect();
    Ok(Found {
        candidates,
        heads,
        skipped,
        db_now,
    })
}

/// Writes back what a claim's plan changed besides the granted endpoints' rate slot times
/// (which the lease writes, see `delivery::LEASE`): breakers moved to half-open, and
/// applications' rate slot times.
pub(super) async fn write_plan(conn: &mut PgConnection, plan: &Plan) -> StoreResult<()> {
    // Only a breaker going half-open changes the endpoint row; that is rare, and the only
    // place a claim waits for a recorder.
    let probing: Vec<&Grant> = plan
        .grants
        .iter()
        .filter(|g| g.gate.breaker == BreakerState::HalfOpen)
        .collect();
    if !probing.is_empty() {
        sqlx::query(
            "UPDATE endpoints e SET breaker_state = u.state, breaker_since = u.since
             FROM UNNEST($1::text[], $2::smallint[], $3::timestamptz[]) AS u(id, state, since)
             WHERE e.id = u.id AND e.breaker_state <> u.state",
        )
        .bind(column(&probing, |g| g.endpoint_id.as_str()))
        .bind(column(&probing, |g| g.gate.breaker as i16))
        .bind(column(&probing, |g| g.gate.breaker_since))
        .execute(&mut *conn)
        .await?;
    }
    if !plan.app_rate_tats.is_empty() {
        sqlx::query(
            "UPDATE applications a SET rate_tat = u.tat
             FROM UNNEST($1::text[], $2::timestamptz[]) AS u(id, tat) WHERE a.id = u.id",
        )
        .bind(column(&plan.app_rate_tats, |a| a.0.as_str()))
        .bind(column(&plan.app_rate_tats, |a| a.1))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Folds recorded attempts into each endpoint's breaker, and disables endpoints that
/// answered 410 or have failed everything for too long. Endpoint rows are locked in id
/// order, so concurrent recorders never deadlock.
pub(super) async fn record_breakers(
    conn: &mut PgConnection,
    outcomes: &[Outcome],
    policy: &BreakerPolicy,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let by_endpoint = breaker::by_endpoint(outcomes);
    let ids: Vec<&str> = by_endpoint.keys().copied().collect();
    let rows = sqlx::query(&format!(
        "SELECT e.id, {GATE_COLS} FROM endpoints e
         LEFT JOIN endpoint_claims c ON c.endpoint_id = e.id
         WHERE e.id = ANY($1) ORDER BY e.id FOR NO KEY UPDATE OF e"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut updated: Vec<(String, EndpointGate, Option<String>)> = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = col(row, "id")?;
        let Some((attempts, gone)) = by_endpoint.get(id.as_str()) else {
            continue;
        };
        let mut g = gate(row)?;
        let reason = policy.record_batch(&mut g, attempts, *gone, now);
        updated.push((id, g, reason));
    }
    if updated.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE endpoints e SET breaker_state = u.state, breaker_since = u.since,
             open_until = u.open_until, breaker_trips = u.trips,
             consecutive_failures = u.consecutive, window_start = u.window_start,
             window_total = u.window_total, window_failures = u.window_failures,
             failing_since = u.failing_since,
             disabled = e.disabled OR u.reason IS NOT NULL,
             disabled_reason = COALESCE(u.reason, e.disabled_reason),
             updated_at = CASE WHEN u.reason IS NULL THEN e.updated_at ELSE now() END
         FROM UNNEST($1::text[], $2::smallint[], $3::timestamptz[], $4::timestamptz[],
                     $5::integer[], $6::integer[], $7::timestamptz[], $8::integer[],
                     $9::integer[], $10::timestamptz[], $11::text[])
              AS u(id, state, since, open_until, trips, consecutive, window_start,
                   window_total, window_failures, failing_since, reason)
         WHERE e.id = u.id",
    )
    .bind(column(&updated, |u| u.0.as_str()))
    .bind(column(&updated, |u| u.1.breaker as i16))
    .bind(column(&updated, |u| u.1.breaker_since))
    .bind(column(&updated, |u| u.1.open_until))
    .bind(column(&updated, |u| saturating(u.1.trips)))
    .bind(column(&updated, |u| saturating(u.1.consecutive_failures)))
    .bind(column(&updated, |u| u.1.window_start))
    .bind(column(&updated, |u| saturating(u.1.window_total)))
    .bind(column(&updated, |u| saturating(u.1.window_failures)))
    .bind(column(&updated, |u| u.1.failing_since))
    .bind(column(&updated, |u| u.2.as_deref()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Attempts looked at for the recent success rate and latency.
const RECENT_ATTEMPTS: i64 = 100;

/// The health view of one endpoint.
pub(super) async fn endpoint_health(
    db: &PostgresStore,
    app_id: &AppId,
    id: &EndpointId,
) -> StoreResult<EndpointHealth> {
    let row = sqlx::query(&format!(
        "SELECT {GATE_COLS}, e.disabled, e.disabled_reason, e.concurrency_limit,
                e.throttle_rate, a.throttle_rate AS app_throttle_rate,
                (SELECT count(*) FROM deliveries d
                     WHERE d.endpoint_id = e.id AND d.status = 3 AND d.due_at > now())
                     AS in_flight,
                (SELECT count(*) FROM deliveries d
                     WHERE d.endpoint_id = e.id AND d.status = 1)
                  + (SELECT count(*) FROM deliveries d
                     WHERE d.endpoint_id = e.id AND d.status = 3) AS backlog
         FROM endpoints e JOIN applications a ON a.id = e.app_id
         LEFT JOIN endpoint_claims c ON c.endpoint_id = e.id
         WHERE e.app_id = $1 AND e.id = $2"
    ))
    .bind(app_id.as_str())
    .bind(id.as_str())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StoreError::NotFound)?;
    let recent: Vec<(i16, i64)> = sqlx::query_as(
        "SELECT status, response_duration_ms FROM attempts
         WHERE endpoint_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(id.as_str())
    .bind(RECENT_ATTEMPTS)
    .fetch_all(&db.pool)
    .await?;
    Ok(EndpointHealth {
        gate: gate(&row)?,
        in_flight: col(&row, "in_flight")?,
        backlog: col(&row, "backlog")?,
        recent: recent.into_iter().map(|(s, d)| (s == 0, d)).collect(),
        throttle_rate: rate(&row, "throttle_rate")?,
        app_throttle_rate: rate(&row, "app_throttle_rate")?,
        concurrency_limit: col::<Option<i32>>(&row, "concurrency_limit")?
            .and_then(|n| u32::try_from(n).ok()),
        disabled: col(&row, "disabled")?,
        disabled_reason: col(&row, "disabled_reason")?,
    })
}
