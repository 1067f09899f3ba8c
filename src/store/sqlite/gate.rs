//! Isolation state in SQLite: the candidates a claim chooses from, the gate state it
//! writes back, breaker bookkeeping when outcomes are recorded, and the health view.
//!
//! Everything here runs inside the caller's `BEGIN IMMEDIATE` transaction, so the single
//! writer makes every read-decide-write step atomic across processes sharing the file.

use super::SqliteStore;
use super::codec::{col, from_ms, ms};
use crate::delivery::gate::{BreakerPolicy, BreakerState, Candidate, EndpointGate, Plan, breaker};
use crate::domain::{AppId, EndpointId};
use crate::store::{EndpointHealth, Outcome, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

/// Most endpoints considered per claim (those whose oldest due delivery is oldest).
const MAX_CANDIDATES: i64 = 1000;

const GATE_COLS: &str = "e.breaker_state, e.breaker_since, e.open_until, e.breaker_trips, \
    e.consecutive_failures, e.window_start, e.window_total, e.window_failures, \
    e.failing_since, e.rate_tat, e.last_served_at, e.created_at AS e_created_at";

fn opt_time(row: &SqliteRow, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
    col::<Option<i64>>(row, name)?.map(from_ms).transpose()
}

fn count(row: &SqliteRow, name: &str) -> StoreResult<u32> {
    let n: i64 = col(row, name)?;
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{name} {n} is out of range")))
}

fn gate(row: &SqliteRow) -> StoreResult<EndpointGate> {
    let created = from_ms(col(row, "e_created_at")?)?;
    Ok(EndpointGate {
        breaker: BreakerState::from_i64(col(row, "breaker_state")?),
        breaker_since: opt_time(row, "breaker_since")?.unwrap_or(created),
        open_until: opt_time(row, "open_until")?,
        trips: count(row, "breaker_trips")?,
        consecutive_failures: count(row, "consecutive_failures")?,
        window_start: opt_time(row, "window_start")?.unwrap_or(created),
        window_total: count(row, "window_total")?,
        window_failures: count(row, "window_failures")?,
        failing_since: opt_time(row, "failing_since")?,
        rate_tat: opt_time(row, "rate_tat")?,
        last_served: opt_time(row, "last_served_at")?,
    })
}

/// Endpoints with due work, oldest head first. A loose index scan over `deliveries_ready`
/// visits each endpoint with waiting deliveries once, however deep its backlog.
pub(super) async fn candidates(
    conn: &mut SqliteConnection,
    worker_id: &str,
    now: i64,
    limit: usize,
) -> StoreResult<Vec<Candidate>> {
    let sql = format!(
        "WITH RECURSIVE eps(id) AS (
             SELECT (SELECT min(endpoint_id) FROM deliveries WHERE status IN (1, 3))
             UNION ALL
             SELECT (SELECT min(endpoint_id) FROM deliveries
                     WHERE status IN (1, 3) AND endpoint_id > eps.id)
             FROM eps WHERE eps.id IS NOT NULL
         ), heads AS (
             SELECT id, (SELECT min(due_at) FROM deliveries
                         WHERE status IN (1, 3) AND endpoint_id = eps.id) AS head
             FROM eps WHERE id IS NOT NULL
         )
         SELECT e.id, e.app_id, h.head, e.disabled, e.concurrency_limit, e.throttle_rate,
                a.throttle_rate AS app_throttle_rate, a.rate_tat AS app_rate_tat, {GATE_COLS},
                (SELECT count(*) FROM (SELECT 1 FROM deliveries d
                     WHERE d.endpoint_id = e.id AND d.status IN (1, 3) AND d.due_at <= ?1
                     LIMIT ?2)) AS due,
                (SELECT count(*) FROM deliveries d
                     WHERE d.endpoint_id = e.id AND d.status = 3 AND d.due_at > ?1) AS in_flight,
                (SELECT count(*) FROM deliveries d
                     WHERE d.endpoint_id = e.id AND d.status = 3 AND d.due_at > ?1
                       AND d.locked_by = ?4) AS own_in_flight
         FROM heads h
         JOIN endpoints e ON e.id = h.id
         JOIN applications a ON a.id = e.app_id
         WHERE h.head <= ?1
         ORDER BY h.head
         LIMIT ?3"
    );
    let rows = sqlx::query(&sql)
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(MAX_CANDIDATES)
        .bind(worker_id)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                endpoint_id: EndpointId::from_trusted(col(row, "id")?),
                app_id: AppId::from_trusted(col(row, "app_id")?),
                oldest_due: from_ms(col(row, "head")?)?,
                due: count(row, "due")? as usize,
                in_flight: count(row, "in_flight")? as usize,
                own_in_flight: count(row, "own_in_flight")? as usize,
                disabled: col(row, "disabled")?,
                concurrency_limit: col::<Option<i64>>(row, "concurrency_limit")?
                    .and_then(|n| u32::try_from(n).ok()),
                throttle_rate: col::<Option<i64>>(row, "throttle_rate")?
                    .and_then(|n| u16::try_from(n).ok()),
                app_throttle_rate: col::<Option<i64>>(row, "app_throttle_rate")?
                    .and_then(|n| u16::try_from(n).ok()),
                app_rate_tat: opt_time(row, "app_rate_tat")?,
                gate: gate(row)?,
            })
        })
        .collect()
}

/// Writes back what a claim's plan changed: breakers moved to half-open, rate slot times.
pub(super) async fn write_plan(conn: &mut SqliteConnection, plan: &Plan) -> StoreResult<()> {
    for grant in &plan.grants {
        let g = &grant.gate;
        sqlx::query(
            "UPDATE endpoints SET breaker_state = ?, breaker_since = ?, rate_tat = ?,
                 last_served_at = ?
             WHERE id = ?",
        )
        .bind(g.breaker as i64)
        .bind(ms(g.breaker_since))
        .bind(g.rate_tat.map(ms))
        .bind(g.last_served.map(ms))
        .bind(grant.endpoint_id.as_str())
        .execute(&mut *conn)
        .await?;
    }
    for (app_id, tat) in &plan.app_rate_tats {
        sqlx::query("UPDATE applications SET rate_tat = ? WHERE id = ?")
            .bind(ms(*tat))
            .bind(app_id.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Folds recorded attempts into each endpoint's breaker, and disables endpoints that
/// answered 410 or have failed everything for too long.
pub(super) async fn record_breakers(
    conn: &mut SqliteConnection,
    outcomes: &[Outcome],
    policy: &BreakerPolicy,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    for (endpoint_id, (attempts, gone)) in breaker::by_endpoint(outcomes) {
        let Some(row) = sqlx::query(&format!(
            "SELECT {GATE_COLS} FROM endpoints e WHERE e.id = ?"
        ))
        .bind(endpoint_id)
        .fetch_optional(&mut *conn)
        .await?
        else {
            continue; // deleted meanwhile
        };
        let mut g = gate(&row)?;
        let reason = policy.record_batch(&mut g, &attempts, gone, now);
        let mut qb = QueryBuilder::<Sqlite>::new("UPDATE endpoints SET breaker_state = ");
        qb.push_bind(g.breaker as i64)
            .push(", breaker_since = ")
            .push_bind(ms(g.breaker_since))
            .push(", open_until = ")
            .push_bind(g.open_until.map(ms))
            .push(", breaker_trips = ")
            .push_bind(i64::from(g.trips))
            .push(", consecutive_failures = ")
            .push_bind(i64::from(g.consecutive_failures))
            .push(", window_start = ")
            .push_bind(ms(g.window_start))
            .push(", window_total = ")
            .push_bind(i64::from(g.window_total))
            .push(", window_failures = ")
            .push_bind(i64::from(g.window_failures))
            .push(", failing_since = ")
            .push_bind(g.failing_since.map(ms));
        if let Some(reason) = reason {
            qb.push(", disabled = 1, disabled_reason = ")
                .push_bind(reason)
                .push(", updated_at = ")
                .push_bind(ms(now));
        }
        qb.push(" WHERE id = ").push_bind(endpoint_id);
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Attempts looked at for the recent success rate and latency.
const RECENT_ATTEMPTS: i64 = 100;

/// The health view of one endpoint.
pub(super) async fn endpoint_health(
    db: &SqliteStore,
    app_id: &AppId,
    id: &EndpointId,
) -> StoreResult<EndpointHealth> {
    let now = ms(Utc::now());
    let mut conn = db.read.acquire().await?;
    let row = sqlx::query(&format!(
        "SELECT {GATE_COLS}, e.disabled, e.disabled_reason, e.concurrency_limit,
                e.throttle_rate, a.throttle_rate AS app_throttle_rate,
                (SELECT count(*) FROM deliveries d
                     WHERE d.endpoint_id = e.id AND d.status = 3 AND d.due_at > ?1) AS in_flight,
                (SELECT count(*) FROM deliveries d
                     WHERE d.endpoint_id = e.id AND d.status IN (1, 3)) AS backlog
         FROM endpoints e JOIN applications a ON a.id = e.app_id
         WHERE e.app_id = ?2 AND e.id = ?3"
    ))
    .bind(now)
    .bind(app_id.as_str())
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let recent: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT status, response_duration_ms FROM attempts
         WHERE endpoint_id = ? ORDER BY id DESC LIMIT ?",
    )
    .bind(id.as_str())
    .bind(RECENT_ATTEMPTS)
    .fetch_all(&mut *conn)
    .await?;
    Ok(EndpointHealth {
        gate: gate(&row)?,
        in_flight: col(&row, "in_flight")?,
        backlog: col(&row, "backlog")?,
        recent: recent.into_iter().map(|(s, d)| (s == 0, d)).collect(),
        throttle_rate: col::<Option<i64>>(&row, "throttle_rate")?
            .and_then(|n| u16::try_from(n).ok()),
        app_throttle_rate: col::<Option<i64>>(&row, "app_throttle_rate")?
            .and_then(|n| u16::try_from(n).ok()),
        concurrency_limit: col::<Option<i64>>(&row, "concurrency_limit")?
            .and_then(|n| u32::try_from(n).ok()),
        disabled: col(&row, "disabled")?,
        disabled_reason: col(&row, "disabled_reason")?,
    })
}
