//! The delivery queue: claims under a lease, outcomes, releases and manual re-queues.
//!
//! A delivery is claimable when `status = 1 AND due_at <= now()`: pending and due. Claiming
//! sets `status = 3`, `due_at = now() + lease` and `locked_by`; an outcome or release only
//! applies while `locked_by` still names the worker. A lease that expires (its worker died
//! or stalled) is put back to pending by a later claim (within a second), keeping
//! `locked_by`, so a late outcome of the stalled worker still applies until the delivery
//! is leased again.
//! Queue times (`due_at`, leases) use the database clock, so workers on machines with
//! skewed clocks agree on which leases have expired.

use super::PostgresStore;
use super::codec::{
    affected, col, column, duration_ms, json_col, limit_param, ms, now_ms, secrets, time_col,
    trigger_col,
};
use super::heads::{self, Head};
use super::messages::LOCK_ENDPOINTS;
use super::{begin_hot, gate, notify};
use crate::delivery::gate::{BreakerPolicy, ClaimPolicy};
use crate::domain::{AppId, EndpointId, EndpointUrl, MessageId};
use crate::store::{
    ATTEMPT_BUCKET, Attempt, ClaimPayloads, ClaimedDelivery, DeliveryStatus, NextStep, Outcome,
    Sealer, StoreError, StoreResult, TriggerType, skip_unreadable,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Leases, for each granted endpoint, its oldest due deliveries up to the grant, from its
/// head (`$5`, `$6`: see [`heads`]) on, writes its rate slot time and when it was last
/// served (`$7`, `$8`) to its `endpoint_claims` row, and returns everything needed to send
/// the deliveries but their payloads, which [`PAYLOADS`] reads once per message. Runs
/// inside the claim's transaction, which holds those rows, so no other claimer is leasing
/// for the same endpoints.
const LEASE: &str = "
WITH g AS (
    SELECT * FROM UNNEST($1::text[], $2::bigint[], $5::timestamptz[], $6::bigint[])
        AS g(endpoint_id, n, head, head_id)
), served AS (
    UPDATE endpoint_claims c SET rate_tat = u.tat, last_served_at = u.served
    FROM UNNEST($1::text[], $7::timestamptz[], $8::timestamptz[]) AS u(id, tat, served)
    WHERE c.endpoint_id = u.id
), picked AS (
    SELECT p.ctid FROM g CROSS JOIN LATERAL (
        SELECT d.ctid FROM deliveries d
        WHERE d.endpoint_id = g.endpoint_id AND d.status = 1 AND d.due_at <= now()
          AND (d.due_at, d.id) >= (g.head, g.head_id)
        ORDER BY d.due_at, d.id
        LIMIT g.n) p
), leased AS (
    -- The picked row versions by their ctid: a heap fetch each instead of a primary key
    -- descent each, and no row lock before the update's own (claims of one endpoint
    -- are serialised by its `endpoint_claims` row). A row another writer changed
    -- meanwhile (a late outcome, a resend, an endpoint's deletion) is rechecked: leased
    -- only if it is still pending.
    -- `= ANY(ARRAY(…))`, not a join: the planner cannot know how few rows `picked` has (its
    -- LIMITs are parameters) and would join by scanning the whole table.
    -- `status + 0 = 1` means `status = 1`, but no partial index can be matched to it: a
    -- plan made while the queue was small would otherwise read every pending row through
    -- `deliveries_ready` to find these few.
    UPDATE deliveries d
    SET status = 3, due_at = now() + $3 * interval '1 millisecond', locked_by = $4,
        updated_at = now()
    WHERE d.ctid = ANY(ARRAY(SELECT ctid FROM picked)) AND d.status + 0 = 1
    RETURNING d.id, d.msg_id, d.app_id, d.endpoint_id, d.attempts, d.trigger_type, d.due_at,
              d.ctid::text AS row_version
)
SELECT l.id, l.row_version, l.msg_id, l.app_id, l.endpoint_id, l.attempts, l.trigger_type,
       l.due_at AS locked_until,
       e.url, e.headers::text AS headers, e.secret, e.retired_secrets::text AS retired_secrets
FROM leased l
JOIN endpoints e ON e.id = l.endpoint_id
ORDER BY l.id";

/// The payloads of the messages `$1`. A message fanned out to many endpoints is read, and
/// its payload sent over the connection, once per claim instead of once per delivery: a
/// payload too large to be stored inline is a lookup in its TOAST table each time.
/// One probe per id, as in [`BY_KEY`]: `id = ANY($1)` can be planned as a scan of the whole
/// table while it is small, and the prepared plan kept as it grows.
const PAYLOADS: &str = "
SELECT k.id, m.payload FROM UNNEST($1::text[]) AS k(id)
CROSS JOIN LATERAL (SELECT payload FROM messages WHERE id = k.id LIMIT 1) m";

/// Puts expired leases back to pending, due since their lease ran out; rows another
/// claimer is reaping are skipped. A pass over `deliveries_sending`, stepping over its
/// dead entries (every lease ended since the last vacuum), so claims run it only every
/// [`REAP_INTERVAL`], or every [`IDLE_REAP_INTERVAL`] when they find nothing else due.
/// The rows are then fetched by version; `status + 0` as in [`LEASE`].
const REAP: &str = "
UPDATE deliveries SET status = 1, updated_at = now()
WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM deliveries WHERE status = 3 AND due_at <= now()
    FOR UPDATE SKIP LOCKED))
  AND status + 0 = 3";

/// Longest an expired lease waits to be put back while other work is due.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

/// Shortest time between two reaps of claims that found nothing due: a worker that keeps
/// up with ingest claims many times a second, mostly finding nothing.
const IDLE_REAP_INTERVAL: Duration = Duration::from_millis(100);

/// When this process last reaped expired leases.
#[derive(Default)]
pub(super) struct Reaped(Mutex<Option<Instant>>);

impl Reaped {
    /// Whether a claim is to reap now, `interval` after the last reap; if so, the time is
    /// taken.
    fn due(&self, interval: Duration) -> bool {
        let mut last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let due = last.is_none_or(|at| at.elapsed() >= interval);
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}

/// Runs [`REAP`]; returns how many leases it put back. Rows put back are due at their
/// lease's end, likely behind the heads this process remembers, so it forgets them.
async fn reap(db: &PostgresStore, conn: &mut sqlx::PgConnection) -> StoreResult<u64> {
    let reaped = sqlx::query(REAP).execute(conn).await?.rows_affected();
    if reaped > 0 {
        db.heads.forget();
    }
    Ok(reaped)
}

/// Leases up to `limit` due deliveries in one transaction, as the claim policy splits
/// them across endpoints (see [`ClaimPolicy::plan`]): due deliveries of disabled endpoints
/// are failed, held-back ones are left as they are. Queue times use the database clock.
pub(super) async fn claim(
    db: &PostgresStore,
    worker_id: &str,
    limit: usize,
    lease: Duration,
    policy: &ClaimPolicy,
) -> StoreResult<Vec<ClaimedDelivery>> {
    // Another worker's claim holds the endpoints only for a few milliseconds: when that is
    // the only reason this claim came back empty, try again shortly instead of leaving the
    // caller to wait for its poll interval.
    for _ in 0..CONTENDED_RETRIES {
        let (claimed, skipped) = claim_once(db, worker_id, limit, lease, policy).await?;
        if !claimed.is_empty() || skipped == 0 {
            return Ok(claimed);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(claim_once(db, worker_id, limit, lease, policy).await?.0)
}

/// Claims made again when every endpoint with due work was held by other claimers.
const CONTENDED_RETRIES: usize = 5;

/// One claim transaction; also returns how many endpoints with due work it skipped
/// because other claimers held them.
async fn claim_once(
    db: &PostgresStore,
    worker_id: &str,
    limit: usize,
    lease: Duration,
    policy: &ClaimPolicy,
) -> StoreResult<(Vec<ClaimedDelivery>, usize)> {
    // At least 1 ms, so a claimed row is never a candidate again within this claim.
    let lease_ms = duration_ms(lease).max(1);
    let mut tx = begin_hot(&db.pool).await?;
    if db.reaped.due(REAP_INTERVAL) {
        reap(db, &mut tx).await?;
    }
    let concurrency = policy.endpoint_concurrency;
    let mut found = gate::candidates(&mut tx, &db.heads, worker_id, limit, concurrency).await?;
    if found.candidates.is_empty()
        && db.reaped.due(IDLE_REAP_INTERVAL)
        && reap(db, &mut tx).await? > 0
    {
        found = gate::candidates(&mut tx, &db.heads, worker_id, limit, concurrency).await?;
    }
    if found.candidates.is_empty() {
        tx.commit().await?;
        return Ok((Vec::new(), found.skipped));
    }
    let plan = policy.plan(&found.candidates, limit, ms(found.db_now));
    if !plan.disabled.is_empty() {
        let ids: Vec<&str> = plan.disabled.iter().map(|e| e.as_str()).collect();
        sqlx::query(
            "UPDATE deliveries SET status = 2, due_at = NULL, locked_by = NULL, updated_at = now()
             WHERE endpoint_id = ANY($1) AND status = 1 AND due_at <= now()",
        )
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    }
    let mut claimed = Vec::new();
    if !plan.grants.is_empty() {
        // Every grant is a candidate's, so each has a head; without one the lease would
        // read the endpoint's queue from the start.
        let heads: Vec<Head> = column(&plan.grants, |g| {
            found
                .heads
                .get(g.endpoint_id.as_str())
                .copied()
                .unwrap_or(heads::START)
        });
        let rows = sqlx::query(LEASE)
            .bind(column(&plan.grants, |g| g.endpoint_id.as_str()))
            .bind(column(&plan.grants, |g| limit_param(g.slots.len())))
            .bind(lease_ms)
            .bind(worker_id)
            .bind(column(&heads, |h| h.0))
            .bind(column(&heads, |h| h.1))
            .bind(column(&plan.grants, |g| g.gate.rate_tat))
            .bind(column(&plan.grants, |g| g.gate.last_served))
            .fetch_all(&mut *tx)
            .await?;
        let payloads = payloads(&mut tx, &rows).await?;
        let now = now_ms();
        // A delivery whose message is gone (deleted with its application meanwhile) is
        // not sent; its lease runs out.
        claimed = skip_unreadable(rows.iter().filter_map(|row| {
            let id = col::<i64>(row, "id").unwrap_or_default();
            let payload = payloads.get(col::<&str>(row, "msg_id").ok()?)?;
            Some((id, claimed_delivery(row, payload, now, &db.sealer)))
        }))?;
        // Hand out each endpoint's send slots in id (creation) order.
        let mut slots: HashMap<&str, std::slice::Iter<'_, DateTime<Utc>>> = plan
            .grants
            .iter()
            .map(|g| (g.endpoint_id.as_str(), g.slots.iter()))
            .collect();
        for c in &mut claimed {
            if let Some(at) = slots
                .get_mut(c.endpoint_id.as_str())
                .and_then(Iterator::next)
            {
                c.not_before = *at;
            }
        }
    }
    gate::write_plan(&mut tx, &plan).await?;
    tx.commit().await?;
    Ok((claimed, found.skipped))
}

/// The payloads of the messages of the leased `rows`, each read once.
async fn payloads(tx: &mut sqlx::PgConnection, rows: &[PgRow]) -> StoreResult<ClaimPayloads> {
    let ids = ClaimPayloads::wanted(rows.iter().map(|row| col::<&str>(row, "msg_id")))?;
    let found = sqlx::query_as(PAYLOADS).bind(ids).fetch_all(tx).await?;
    Ok(ClaimPayloads::new(found))
}

/// Decodes a row of [`LEASE`], with its message's `payload`: the current key and the
/// retired ones still valid at `now`, opened with `sealer`.
fn claimed_delivery(
    row: &PgRow,
    payload: Option<Bytes>,
    now: DateTime<Utc>,
    sealer: &Sealer,
) -> StoreResult<ClaimedDelivery> {
    let endpoint_id: String = col(row, "endpoint_id")?;
    let (current, retired) = secrets(row, &endpoint_id, now, sealer)?;
    let mut secrets = vec![current];
    secrets.extend(retired.into_iter().map(|r| r.secret));
    let attempts: i32 = col(row, "attempts")?;
    Ok(ClaimedDelivery {
        delivery_id: col(row, "id")?,
        row_version: Some(col(row, "row_version")?),
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
        trigger_type: trigger_col(row, "trigger_type")?,
        locked_until: time_col(row, "locked_until")?,
        not_before: now,
    })
}

/// Appends every attempt, moves each delivery whose lease the worker still holds and folds
/// the attempts into their endpoints' breakers, in one transaction of four statements
/// whatever the batch size (rows travel as arrays), and a fifth when some deliveries have
/// changed since their lease and must be found by key.
///
/// An attempt is recorded even when the lease was lost (the request was made); it is
/// dropped only if its endpoint has been deleted meanwhile, since the log of a deleted
/// endpoint is deleted with it (messages are deleted only with their application, which
/// takes its endpoints too). The attempts go in as a plain insert; if one of them is
/// already recorded (a batch retried after a commit whose acknowledgement was lost), the
/// transaction is redone skipping the recorded ones, so such a batch does not fail forever.
pub(super) async fn record_outcomes(
    db: &PostgresStore,
    outcomes: &[Outcome],
    breaker: &BreakerPolicy,
) -> StoreResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    match write_outcomes(db, outcomes, breaker, "").await {
        Err(StoreError::Database(sqlx::Error::Database(e)))
            if e.kind() == sqlx::error::ErrorKind::UniqueViolation =>
        {
            write_outcomes(db, outcomes, breaker, "ON CONFLICT (msg_id, id) DO NOTHING").await?;
        }
        written => written?,
    }
    // A retry can be due before the heads this process's claims remember (its time is past
    // already, or it committed after a claim read past it).
    db.heads.lower(outcomes.iter().filter_map(|o| match o.next {
        NextStep::RetryAt(at) => Some((o.attempt.endpoint_id.as_str(), ms(at))),
        NextStep::Delivered | NextStep::Failed => None,
    }));
    Ok(())
}

/// The transaction of [`record_outcomes`], with `on_conflict` ending the attempt insert.
async fn write_outcomes(
    db: &PostgresStore,
    outcomes: &[Outcome],
    breaker: &BreakerPolicy,
    on_conflict: &str,
) -> StoreResult<()> {
    let attempts: Vec<&Attempt> = outcomes.iter().map(|o| &o.attempt).collect();
    let mut tx = begin_hot(&db.pool).await?;
    // The attempts actually inserted are counted in their buckets ([`ATTEMPT_BUCKET`], `$14`
    // seconds) under the recording worker's name: no other recorder writes those rows, so
    // none waits for this one.
    sqlx::query(&format!(
        "WITH inserted AS (
             INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status,
                 response_status_code, response, response_duration_ms, trigger_type,
                 error_class, created_at)
             SELECT u.id, u.app_id, u.msg_id, u.endpoint_id, u.url, u.status,
                    u.response_status_code, u.response, u.response_duration_ms,
                    u.trigger_type, u.error_class, u.created_at
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::smallint[], $7::smallint[], $8::text[], $9::bigint[],
                         $10::smallint[], $11::text[], $12::timestamptz[])
                  AS u(id, app_id, msg_id, endpoint_id, url, status, response_status_code,
                       response, response_duration_ms, trigger_type, error_class, created_at)
             WHERE u.endpoint_id IN (
                 SELECT e.id FROM endpoints e WHERE e.id = ANY($4) ORDER BY e.id
                 {LOCK_ENDPOINTS})
             {on_conflict}
             RETURNING status, created_at
         )
         INSERT INTO attempt_counts AS c (bucket, writer, delivered, failed)
         SELECT to_timestamp(floor(extract(epoch FROM created_at) / $14) * $14), $13,
                count(*) FILTER (WHERE status = 0),
                count(*) FILTER (WHERE status <> 0)
         FROM inserted GROUP BY 1 ORDER BY 1
         ON CONFLICT (bucket, writer) DO UPDATE
         SET delivered = c.delivered + EXCLUDED.delivered, failed = c.failed + EXCLUDED.failed"
    ))
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
    .bind(outcomes.first().map(|o| o.worker_id.as_str()))
    .bind(i64::try_from(ATTEMPT_BUCKET.as_secs()).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;

    // Most rows are found by the version their lease wrote. If any was not (changed since,
    // e.g. reaped), the batch goes again by key: a row already moved no longer names the
    // worker, so only the rest can match.
    let (by_version, mut moved): (Vec<&Outcome>, Vec<&Outcome>) =
        outcomes.iter().partition(|o| o.row_version.is_some());
    if !by_version.is_empty()
        && move_deliveries(&mut tx, &by_version, BY_VERSION).await? < by_version.len() as u64
    {
        moved.extend(by_version);
    }
    if !moved.is_empty() {
        move_deliveries(&mut tx, &moved, BY_KEY).await?;
    }

    // In the same transaction: a failure's lease must not end (freeing bulkhead room)
    // before its breaker has counted it.
    gate::record_breakers(&mut tx, outcomes, breaker, now_ms()).await?;
    tx.commit().await?;
    Ok(())
}

/// The deliveries' moves after their attempts (`$1`…`$6`, see [`move_deliveries`]), each
/// applied only while the worker still holds the lease. Manual attempts spend no retry;
/// either way the next attempt is a scheduled one. `LOCATE` finds the rows.
const MOVE: &str = "
UPDATE deliveries d
SET status = u.status, due_at = u.due_at, attempts = d.attempts + u.spent,
    locked_by = NULL, trigger_type = 0, updated_at = now()
FROM UNNEST($1::text[], $2::text[], $3::smallint[], $4::timestamptz[], $5::integer[],
            $6::text[], $7::text[]::tid[])
     AS u(endpoint_id, msg_id, status, due_at, spent, worker, row_version)
WHERE LOCATE
  AND d.endpoint_id = u.endpoint_id AND d.msg_id = u.msg_id
  AND d.locked_by = u.worker AND d.status IN (1, 3)";

/// Finds each row by the version its lease wrote (`$7`): a heap fetch each, planned as a
/// TID scan per outcome once the table has grown. A version that is no longer the row's
/// (or is another row's by now) fails the key and lease checks.
const BY_VERSION: &str = "d.ctid = u.row_version";

/// Finds the rows one key at a time (a `LIMIT 1` per key can only be an index probe), then
/// updates them by row version. A plain join on the key is planned as a hash join over the
/// whole table while the planner thinks it small (no statistics yet, or a plan cached
/// early), and stays so as the queue grows.
const BY_KEY: &str = "d.ctid = ANY(ARRAY(
    SELECT x.ctid FROM UNNEST($1::text[], $2::text[]) AS k(endpoint_id, msg_id)
    CROSS JOIN LATERAL (
        SELECT ctid FROM deliveries
        WHERE endpoint_id = k.endpoint_id AND msg_id = k.msg_id LIMIT 1) x))";

/// Moves the deliveries of `outcomes`, finding their rows by `locate` ([`BY_VERSION`] or
/// [`BY_KEY`]); returns how many moved. Planned afresh on every call, so that the plan
/// follows the table's size: a plan kept from when the queue was small finds rows by
/// their key, not their version.
async fn move_deliveries(
    tx: &mut sqlx::PgConnection,
    outcomes: &[&Outcome],
    locate: &str,
) -> StoreResult<u64> {
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
    Ok(sqlx::query(&MOVE.replace("LOCATE", locate))
        .bind(column(outcomes, |o| o.attempt.endpoint_id.as_str()))
        .bind(column(outcomes, |o| o.attempt.msg_id.as_str()))
        .bind(statuses)
        .bind(due_ats)
        .bind(column(outcomes, |o| {
            i32::from(o.attempt.trigger_type == TriggerType::Scheduled)
        }))
        .bind(column(outcomes, |o| o.worker_id.as_str()))
        .bind(column(outcomes, |o| o.row_version.as_deref()))
        .persistent(false)
        .execute(tx)
        .await?
        .rows_affected())
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
    let done = sqlx::query(&format!(
        "INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, attempts, trigger_type,
                                 due_at, locked_by, created_at, updated_at)
         SELECT m.app_id, m.id, e.id, 1, 0, 1, now(), NULL, now(), now()
         FROM messages m JOIN endpoints e ON e.app_id = m.app_id
         WHERE m.app_id = $1 AND m.id = $2 AND e.id = $3
         {LOCK_ENDPOINTS}
         ON CONFLICT (msg_id, endpoint_id) DO UPDATE
         SET status = 1, trigger_type = 1, due_at = now(), locked_by = NULL, updated_at = now()"
    ))
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
