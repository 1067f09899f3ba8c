//! The delivery queue: claims under a lease, outcomes, releases and manual re-queues.
//!
//! A delivery is claimable when `status IN (1, 3) AND due_at <= now()`: pending and due, or
//! sending with an expired lease (its worker died). Claiming sets `status = 3`,
//! `due_at = now() + lease` and `locked_by`; an outcome or release only applies while
//! `locked_by` still names the worker and the status is still 3. Queue times (`due_at`,
//! leases) use the database clock, so workers on machines with skewed clocks agree on
//! which leases have expired.

use super::PostgresStore;
use super::codec::{
    affected, col, duration_ms, json_col, limit_param, live_retired, ms, now_ms, parse_secret,
    time_col, trigger_col,
};
use super::notify;
use crate::domain::{AppId, EndpointId, EndpointUrl, MessageId};
use crate::store::{
    Attempt, ClaimedDelivery, DeliveryStatus, NextStep, Outcome, StoreError, StoreResult,
    TriggerType,
};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use std::time::Duration;

/// Leases due deliveries and fails those whose endpoint is disabled, in one statement.
///
/// `FOR UPDATE OF d SKIP LOCKED` makes concurrent claimers take disjoint rows without
/// waiting for each other (only delivery rows are locked, never their endpoints). Every
/// candidate is returned with its `disabled` flag so the caller can tell a short batch
/// (the queue is drained) from one thinned out by disabled endpoints. The lock lasts only
/// as long as the statement: the lease, not a transaction, protects the delivery afterwards.
const CLAIM: &str = "
WITH due AS (
    SELECT d.id, e.disabled
    FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
    WHERE d.status IN (1, 3) AND d.due_at <= now()
    ORDER BY d.due_at, d.id
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
), leased AS (
    UPDATE deliveries d
    SET status = CASE WHEN due.disabled THEN 2 ELSE 3 END,
        due_at = CASE WHEN due.disabled THEN NULL
                      ELSE now() + $2 * interval '1 millisecond' END,
        locked_by = CASE WHEN due.disabled THEN NULL ELSE $3 END,
        updated_at = now()
    FROM due
    WHERE d.id = due.id
    RETURNING d.id, d.msg_id, d.app_id, d.endpoint_id, d.attempts, d.trigger_type, d.due_at,
              due.disabled
)
SELECT l.id, l.msg_id, l.app_id, l.endpoint_id, l.attempts, l.trigger_type,
       l.due_at AS locked_until, l.disabled,
       CASE WHEN l.disabled THEN NULL ELSE m.payload END AS payload,
       e.url, e.headers::text AS headers, e.secret, e.retired_secrets::text AS retired_secrets
FROM leased l
JOIN messages m ON m.id = l.msg_id
JOIN endpoints e ON e.id = l.endpoint_id
ORDER BY l.id";

/// Leases up to `limit` due deliveries, oldest due first.
///
/// Candidates whose endpoint is disabled are failed instead of leased and the batch is
/// topped up with another statement, as the SQLite store does, so a short batch always
/// means the queue is drained. Each statement commits on its own; no transaction outlives
/// the call.
pub(super) async fn claim(
    db: &PostgresStore,
    worker_id: &str,
    limit: usize,
    lease: Duration,
) -> StoreResult<Vec<ClaimedDelivery>> {
    // At least 1 ms, so a claimed row is never a candidate again within this claim.
    let lease_ms = duration_ms(lease).max(1);
    let mut claimed = Vec::new();
    while claimed.len() < limit {
        let want = limit - claimed.len();
        let rows = sqlx::query(CLAIM)
            .bind(limit_param(want))
            .bind(lease_ms)
            .bind(worker_id)
            .fetch_all(&db.pool)
            .await?;
        let exhausted = rows.len() < want;
        let now = now_ms();
        for row in &rows {
            if !col::<bool>(row, "disabled")? {
                claimed.push(claimed_delivery(row, now)?);
            }
        }
        if exhausted {
            break;
        }
    }
    Ok(claimed)
}

/// Decodes a row of [`CLAIM`]: the current key and the retired ones still valid at `now`.
fn claimed_delivery(row: &PgRow, now: DateTime<Utc>) -> StoreResult<ClaimedDelivery> {
    let mut secrets = vec![parse_secret(&col::<String>(row, "secret")?)?];
    secrets.extend(
        live_retired(row, now)?
            .into_iter()
            .map(|(secret, _)| secret),
    );
    let attempts: i32 = col(row, "attempts")?;
    Ok(ClaimedDelivery {
        delivery_id: col(row, "id")?,
        msg_id: MessageId::from_trusted(col(row, "msg_id")?),
        app_id: AppId::from_trusted(col(row, "app_id")?),
        endpoint_id: EndpointId::from_trusted(col(row, "endpoint_id")?),
        url: EndpointUrl::from_trusted(col(row, "url")?),
        headers: json_col(row, "headers")?,
        secrets,
        payload: col(row, "payload")?,
        attempts_made: u32::try_from(attempts).map_err(|_| {
            StoreError::Corrupt(format!("attempt count {attempts} is out of range"))
        })?,
        trigger_type: trigger_col(row, "trigger_type")?,
        locked_until: time_col(row, "locked_until")?,
    })
}

/// Appends every attempt, then moves each delivery whose lease the worker still holds, in
/// one transaction of three statements whatever the batch size (rows travel as arrays).
///
/// An attempt is recorded even when the lease was lost (the request was made); it is
/// dropped only if its endpoint or message has been deleted meanwhile, since the log of a
/// deleted endpoint is deleted with it. An attempt id already recorded is skipped, so a
/// batch retried after a commit whose acknowledgement was lost does not fail forever.
pub(super) async fn record_outcomes(db: &PostgresStore, outcomes: &[Outcome]) -> StoreResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let attempts: Vec<&Attempt> = outcomes.iter().map(|o| &o.attempt).collect();
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status,
             response_status_code, response, response_duration_ms, trigger_type, error_class,
             created_at)
         SELECT u.id, u.app_id, u.msg_id, u.endpoint_id, u.url, u.status,
                u.response_status_code, u.response, u.response_duration_ms, u.trigger_type,
                u.error_class, u.created_at
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::smallint[], $7::smallint[], $8::text[], $9::bigint[],
                     $10::smallint[], $11::text[], $12::timestamptz[])
              AS u(id, app_id, msg_id, endpoint_id, url, status, response_status_code,
                   response, response_duration_ms, trigger_type, error_class, created_at)
         WHERE EXISTS (SELECT 1 FROM endpoints e WHERE e.id = u.endpoint_id)
           AND EXISTS (SELECT 1 FROM messages m WHERE m.id = u.msg_id)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(column(&attempts, |a| a.id.as_str()))
    .bind(column(&attempts, |a| a.app_id.as_str()))
    .bind(column(&attempts, |a| a.msg_id.as_str()))
    .bind(column(&attempts, |a| a.endpoint_id.as_str()))
    .bind(column(&attempts, |a| a.url.as_str()))
    .bind(column(&attempts, |a| a.status as i16))
    .bind(column(&attempts, |a| a.response_status_code))
    .bind(column(&attempts, |a| storable_text(&a.response)))
    .bind(column(&attempts, |a| a.response_duration_ms))
    .bind(column(&attempts, |a| a.trigger_type as i16))
    .bind(column(&attempts, |a| a.error_class.map(|c| c.as_str())))
    .bind(column(&attempts, |a| ms(a.created_at)))
    .execute(&mut *tx)
    .await?;

    let mut statuses = Vec::with_capacity(outcomes.len());
    let mut due_ats = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        let (status, due_at) = match o.next {
            NextStep::Delivered => (DeliveryStatus::Success, None),
            NextStep::RetryAt(at) => (DeliveryStatus::Pending, Some(ms(at))),
            NextStep::Failed => (DeliveryStatus::Fail, None),
        };
        statuses.push(status as i16);
        due_ats.push(due_at);
    }
    // Manual attempts spend no retry; either way the next attempt is a scheduled one.
    sqlx::query(
        "UPDATE deliveries d
         SET status = u.status, due_at = u.due_at, attempts = d.attempts + u.spent,
             locked_by = NULL, trigger_type = 0, updated_at = now()
         FROM UNNEST($1::bigint[], $2::smallint[], $3::timestamptz[], $4::integer[],
                     $5::text[]) AS u(id, status, due_at, spent, worker)
         WHERE d.id = u.id AND d.locked_by = u.worker AND d.status = 3",
    )
    .bind(column(outcomes, |o| o.delivery_id))
    .bind(statuses)
    .bind(due_ats)
    .bind(column(outcomes, |o| {
        i32::from(o.attempt.trigger_type == TriggerType::Scheduled)
    }))
    .bind(column(outcomes, |o| o.worker_id.as_str()))
    .execute(&mut *tx)
    .await?;

    // Sorted and unique, so concurrent batches lock endpoint rows in the same order.
    let mut gone: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.disable_endpoint)
        .map(|o| o.attempt.endpoint_id.as_str())
        .collect();
    gone.sort_unstable();
    gone.dedup();
    if !gone.is_empty() {
        sqlx::query("UPDATE endpoints SET disabled = true, updated_at = $1 WHERE id = ANY($2)")
            .bind(now_ms())
            .bind(gone)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One field of every row, as an array parameter for `UNNEST`.
fn column<'a, R, T>(rows: &'a [R], field: impl Fn(&'a R) -> T) -> Vec<T> {
    rows.iter().map(field).collect()
}

/// Postgres `text` cannot hold U+0000, which a receiver's body may contain (SQLite keeps
/// it); it is replaced by U+FFFD so one odd response cannot fail a whole batch forever.
fn storable_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}").into()
    } else {
        s.into()
    }
}

/// Puts the deliveries still leased to `worker_id` back in the queue, due now, without
/// spending an attempt, and wakes idle workers if any was released. Returns how many.
pub(super) async fn release(db: &PostgresStore, worker_id: &str, ids: &[i64]) -> StoreResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut tx = db.pool.begin().await?;
    let released = sqlx::query(
        "UPDATE deliveries SET status = 1, locked_by = NULL, due_at = now(), updated_at = now()
         WHERE id = ANY($1) AND status = 3 AND locked_by = $2",
    )
    .bind(ids)
    .bind(worker_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if released > 0 {
        notify::work_available(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(released)
}

/// Queues a manual attempt of the message to the endpoint, creating the delivery if the
/// message was never routed there, and wakes idle workers. `NotFound` if either is not in
/// the application.
///
/// An attempt in flight loses its lease (`locked_by` is cleared), so its outcome will not
/// overwrite the state the resend sets up.
pub(super) async fn resend(
    db: &PostgresStore,
    app_id: &AppId,
    msg_id: &MessageId,
    endpoint_id: &EndpointId,
) -> StoreResult<()> {
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query(
        "INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, attempts, trigger_type,
                                 due_at, locked_by, created_at, updated_at)
         SELECT m.app_id, m.id, e.id, 1, 0, 1, now(), NULL, now(), now()
         FROM messages m JOIN endpoints e ON e.app_id = m.app_id
         WHERE m.app_id = $1 AND m.id = $2 AND e.id = $3
         ON CONFLICT (msg_id, endpoint_id) DO UPDATE
         SET status = 1, trigger_type = 1, due_at = now(), locked_by = NULL, updated_at = now()",
    )
    .bind(app_id.as_str())
    .bind(msg_id.as_str())
    .bind(endpoint_id.as_str())
    .execute(&mut *tx)
    .await?;
    affected(done.rows_affected())?;
    notify::work_available(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Re-queues, as manual attempts, the endpoint's failed deliveries of messages created in
/// `[since, until)`, and wakes idle workers if any was queued. `NotFound` if the endpoint is
/// not in the application.
pub(super) async fn recover(
    db: &PostgresStore,
    app_id: &AppId,
    endpoint_id: &EndpointId,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> StoreResult<u64> {
    let mut tx = db.pool.begin().await?;
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM endpoints WHERE app_id = $1 AND id = $2")
            .bind(app_id.as_str())
            .bind(endpoint_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    affected(u64::from(exists.is_some()))?;
    let queued = sqlx::query(
        "UPDATE deliveries d
         SET status = 1, trigger_type = 1, due_at = now(), locked_by = NULL, updated_at = now()
         FROM messages m
         WHERE m.id = d.msg_id AND d.endpoint_id = $1 AND d.status = 2
           AND m.created_at >= $2 AND ($3::timestamptz IS NULL OR m.created_at < $3)",
    )
    .bind(endpoint_id.as_str())
    .bind(ms(since))
    .bind(until.map(ms))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if queued > 0 {
        notify::work_available(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(queued)
}
