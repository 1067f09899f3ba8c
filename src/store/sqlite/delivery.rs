//! The delivery queue: claims under a lease, outcomes, releases and manual re-queues.
//!
//! A delivery is claimable when `status IN (1, 3) AND due_at <= now`: pending and due, or
//! sending with an expired lease (its worker died). Claiming sets `status = 3`,
//! `due_at = now + lease` and `locked_by`; an outcome or release only applies while
//! `locked_by` still names the worker and the status is still 3.

use super::codec::{CHUNK, affected, col, duration_ms, from_ms, json_col, ms, now_ms, push_in};
use super::{SqliteStore, gate};
use crate::delivery::gate::{BreakerPolicy, ClaimPolicy};
use crate::domain::{AppId, EndpointId, EndpointUrl, MessageId};
use crate::store::secret_columns::open_retired;
use crate::store::{
    ClaimPayloads, ClaimedDelivery, DeliveryStatus, NextStep, Outcome, Sealer, StoreError,
    StoreResult, TriggerType, skip_unreadable,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::HashMap;
use std::time::Duration;

/// Leases up to `limit` due deliveries in one write transaction, as the claim policy
/// splits them across endpoints (see [`ClaimPolicy::plan`]): due deliveries of disabled
/// endpoints are failed, held-back ones are left as they are.
pub(super) async fn claim(
    db: &SqliteStore,
    worker_id: &str,
    limit: usize,
    lease: Duration,
    policy: &ClaimPolicy,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let now = now_ms();
    // At least 1 ms, so a claimed row is never a candidate again within this claim.
    let until = now.saturating_add(duration_ms(lease).max(1));
    let mut tx = db.write.begin_with("BEGIN IMMEDIATE").await?;
    let candidates = gate::candidates(&mut tx, worker_id, now, limit).await?;
    let plan = policy.plan(&candidates, limit, from_ms(now)?);
    if !plan.disabled.is_empty() {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "UPDATE deliveries SET status = 2, due_at = NULL, locked_by = NULL, updated_at = ",
        );
        qb.push_bind(now)
            .push(" WHERE status IN (1, 3) AND due_at <= ")
            .push_bind(now)
            .push(" AND endpoint_id IN (");
        let mut list = qb.separated(", ");
        for id in &plan.disabled {
            list.push_bind(id.as_str());
        }
        list.push_unseparated(")");
        qb.build().execute(&mut *tx).await?;
    }
    let mut slots = HashMap::new();
    for grant in &plan.grants {
        let mut ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE deliveries SET status = 3, due_at = ?1, locked_by = ?2, updated_at = ?3
             WHERE id IN (SELECT id FROM deliveries
                          WHERE endpoint_id = ?4 AND status IN (1, 3) AND due_at <= ?3
                          ORDER BY due_at LIMIT ?5)
             RETURNING id",
        )
        .bind(until)
        .bind(worker_id)
        .bind(now)
        .bind(grant.endpoint_id.as_str())
        .bind(i64::try_from(grant.slots.len()).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        ids.sort_unstable();
        slots.extend(ids.into_iter().zip(grant.slots.iter().copied()));
    }
    gate::write_plan(&mut tx, &plan).await?;
    let ids: Vec<i64> = slots.keys().copied().collect();
    let mut claimed = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        claimed.extend(load_claimed(&mut tx, &db.sealer, chunk, now, until).await?);
    }
    tx.commit().await?;
    for c in &mut claimed {
        if let Some(at) = slots.get(&c.delivery_id) {
            c.not_before = *at;
        }
    }
    Ok(claimed)
}

/// Appends ` WHERE id IN (…)`.
fn push_ids(qb: &mut QueryBuilder<'_, Sqlite>, ids: impl IntoIterator<Item = i64>) {
    qb.push(" WHERE id IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    list.push_unseparated(")");
}

/// Everything a worker needs to send the deliveries `ids`, which it has just leased: the
/// current key and the retired ones still valid at `now`, opened with `sealer`.
async fn load_claimed(
    conn: &mut SqliteConnection,
    sealer: &Sealer,
    ids: &[i64],
    now: i64,
    until: i64,
) -> StoreResult<Vec<ClaimedDelivery>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = QueryBuilder::new(
        "SELECT d.id, d.msg_id, d.app_id, d.endpoint_id, d.attempts, d.trigger_type,
                e.url, e.headers, e.secret, e.retired_secrets
         FROM deliveries d
         JOIN endpoints e ON e.id = d.endpoint_id
         WHERE d.id IN (",
    );
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    list.push_unseparated(") ORDER BY d.id");
    let rows = qb.build().fetch_all(&mut *conn).await?;
    let payloads = payloads(conn, &rows).await?;
    let locked_until = DateTime::<Utc>::from_timestamp_millis(until)
        .ok_or_else(|| StoreError::Corrupt(format!("lease end {until} is out of range")))?;
    // A delivery whose message is gone (deleted with its application meanwhile) is not
    // sent; its lease runs out.
    skip_unreadable(rows.iter().filter_map(|row| {
        let id = col::<i64>(row, "id").unwrap_or_default();
        let payload = payloads.get(col::<&str>(row, "msg_id").ok()?)?;
        Some((id, read_claimed(row, payload, sealer, now, locked_until)))
    }))
}

/// The payloads of the messages of the deliveries `rows`, each read once.
async fn payloads(conn: &mut SqliteConnection, rows: &[SqliteRow]) -> StoreResult<ClaimPayloads> {
    let ids = ClaimPayloads::wanted(rows.iter().map(|row| col::<&str>(row, "msg_id")))?;
    let mut qb = QueryBuilder::new("SELECT id, payload FROM messages WHERE 1");
    push_in(&mut qb, "id", ids);
    let found = qb.build_query_as().fetch_all(conn).await?;
    Ok(ClaimPayloads::new(found))
}

/// One row of [`load_claimed`], with its message's `payload`.
fn read_claimed(
    row: &SqliteRow,
    payload: Option<Bytes>,
    sealer: &Sealer,
    now: i64,
    locked_until: DateTime<Utc>,
) -> StoreResult<ClaimedDelivery> {
    let endpoint_id: String = col(row, "endpoint_id")?;
    let mut secrets = vec![sealer.open_secret(&endpoint_id, &col::<String>(row, "secret")?)?];
    let retired: String = col(row, "retired_secrets")?;
    secrets.extend(
        open_retired(sealer, &endpoint_id, &retired, now)?
            .into_iter()
            .map(|(secret, _)| secret),
    );
    let attempts: i64 = col(row, "attempts")?;
    Ok(ClaimedDelivery {
        delivery_id: col(row, "id")?,
        row_version: None,
        msg_id: MessageId::from_trusted(col(row, "msg_id")?),
        app_id: AppId::from_trusted(col(row, "app_id")?),
        endpoint_id: EndpointId::from_trusted(endpoint_id),
        url: EndpointUrl::from_trusted(col(row, "url")?),
        headers: json_col(row, "headers")?,
        secrets,
        payload,
        attempts_made: u32::try_from(attempts).map_err(|_| {
            StoreError::Corrupt(format!("attempt count {attempts} is out of range"))
        })?,
        trigger_type: TriggerType::from_i64(col(row, "trigger_type")?),
        locked_until,
        not_before: from_ms(now)?,
    })
}

/// Appends every attempt, then moves each delivery whose lease the worker still holds.
///
/// An attempt is recorded even when the lease was lost (the request was made); it is
/// dropped only if its endpoint or message has been deleted meanwhile, since the log of a
/// deleted endpoint is deleted with it.
///
/// Recording the same batch twice is harmless: attempts are keyed by id and the second
/// pass no longer holds the leases.
pub(super) async fn record_outcomes(
    db: &SqliteStore,
    outcomes: &[Outcome],
    breaker: &BreakerPolicy,
) -> StoreResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut tx = db.write.begin_with("BEGIN IMMEDIATE").await?;
    for chunk in outcomes.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, \
             response_status_code, response, response_duration_ms, trigger_type, error_class, \
             created_at) SELECT * FROM (",
        );
        qb.push_values(chunk, |mut row, o| {
            let a = &o.attempt;
            row.push_bind(a.id.as_str())
                .push_bind(a.app_id.as_str())
                .push_bind(a.msg_id.as_str())
                .push_bind(a.endpoint_id.as_str())
                .push_bind(a.url.as_str())
                .push_bind(a.status as i64)
                .push_bind(a.response_status_code)
                .push_bind(a.response.as_str())
                .push_bind(a.response_duration_ms)
                .push_bind(a.trigger_type as i64)
                .push_bind(a.error_class.map(|c| c.as_str()))
                .push_bind(ms(a.created_at));
        });
        qb.push(
            ") AS v WHERE EXISTS (SELECT 1 FROM endpoints WHERE id = v.column4) \
             AND EXISTS (SELECT 1 FROM messages WHERE id = v.column3) \
             ON CONFLICT (id) DO NOTHING",
        );
        qb.build().execute(&mut *tx).await?;

        let mut qb = QueryBuilder::<Sqlite>::new(
            "UPDATE deliveries SET status = v.column2, due_at = v.column3, \
             attempts = attempts + v.column4, locked_by = NULL, trigger_type = 0, updated_at = ",
        );
        qb.push_bind(now).push(" FROM (");
        qb.push_values(chunk, |mut row, o| {
            let (status, due_at) = match o.next {
                NextStep::Delivered => (DeliveryStatus::Success, None),
                NextStep::RetryAt(at) => (DeliveryStatus::Pending, Some(ms(at))),
                NextStep::Failed => (DeliveryStatus::Fail, None),
            };
            let scheduled = i64::from(o.attempt.trigger_type == TriggerType::Scheduled);
            row.push_bind(o.delivery_id)
                .push_bind(status as i64)
                .push_bind(due_at)
                .push_bind(scheduled)
                .push_bind(o.worker_id.as_str());
        });
        qb.push(
            ") AS v WHERE deliveries.id = v.column1 AND deliveries.locked_by = v.column5 \
             AND deliveries.status = 3",
        );
        qb.build().execute(&mut *tx).await?;
    }
    gate::record_breakers(&mut tx, outcomes, breaker, from_ms(now)?).await?;
    tx.commit().await?;
    Ok(())
}

/// Puts the deliveries still leased to `worker_id` back in the queue, due now, without
/// spending an attempt. Returns how many were released.
pub(super) async fn release(db: &SqliteStore, worker_id: &str, ids: &[i64]) -> StoreResult<u64> {
    let now = now_ms();
    let mut released = 0;
    let mut tx = db.write.begin_with("BEGIN IMMEDIATE").await?;
    for chunk in ids.chunks(CHUNK) {
        let mut qb =
            QueryBuilder::new("UPDATE deliveries SET status = 1, locked_by = NULL, due_at = ");
        qb.push_bind(now).push(", updated_at = ").push_bind(now);
        push_ids(&mut qb, chunk.iter().copied());
        qb.push(" AND status = 3 AND locked_by = ")
            .push_bind(worker_id);
        released += qb.build().execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(released)
}

/// Queues a manual attempt of the message to the endpoint, creating the delivery if the
/// message was never routed there. `NotFound` if either is not in the application.
pub(super) async fn resend(
    db: &SqliteStore,
    app_id: &AppId,
    msg_id: &MessageId,
    endpoint_id: &EndpointId,
) -> StoreResult<()> {
    let now = now_ms();
    let mut tx = db.write.begin_with("BEGIN IMMEDIATE").await?;
    let found: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM messages WHERE app_id = ?1 AND id = ?2)
              + (SELECT COUNT(*) FROM endpoints WHERE app_id = ?1 AND id = ?3)",
    )
    .bind(app_id.as_str())
    .bind(msg_id.as_str())
    .bind(endpoint_id.as_str())
    .fetch_one(&mut *tx)
    .await?;
    if found != 2 {
        return Err(StoreError::NotFound);
    }
    sqlx::query(
        "INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, attempts, trigger_type,
                                 due_at, locked_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, 1, 0, 1, ?4, NULL, ?4, ?4)
         ON CONFLICT (msg_id, endpoint_id) DO UPDATE
         SET status = 1, trigger_type = 1, due_at = ?4, locked_by = NULL, updated_at = ?4",
    )
    .bind(app_id.as_str())
    .bind(msg_id.as_str())
    .bind(endpoint_id.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Re-queues, as manual attempts, the endpoint's failed deliveries of messages created in
/// `[since, until)`. `NotFound` if the endpoint is not in the application.
pub(super) async fn recover(
    db: &SqliteStore,
    app_id: &AppId,
    endpoint_id: &EndpointId,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> StoreResult<u64> {
    let now = now_ms();
    let mut tx = db.write.begin_with("BEGIN IMMEDIATE").await?;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM endpoints WHERE app_id = ? AND id = ?")
            .bind(app_id.as_str())
            .bind(endpoint_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    affected(u64::from(exists.is_some()))?;
    let done = sqlx::query(
        "UPDATE deliveries
         SET status = 1, trigger_type = 1, due_at = ?1, locked_by = NULL, updated_at = ?1
         WHERE endpoint_id = ?2 AND status = 2
           AND EXISTS (SELECT 1 FROM messages m WHERE m.id = deliveries.msg_id
                       AND m.created_at >= ?3 AND (?4 IS NULL OR m.created_at < ?4))",
    )
    .bind(now)
    .bind(endpoint_id.as_str())
    .bind(ms(since))
    .bind(until.map(ms))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}
