//! The Postgres side of group commit (see `store::ingest`): a batch of messages, their
//! fan-out and the workers' wake-up in one statement, so ingest costs one round trip per
//! batch instead of five per message. The writer has a connection of its own, with the hot
//! path's planner settings (see `HOT_PLANS`). A message the batch leaves out (its `eventId`
//! is taken, or its application does not exist) is written again on its own, so that its
//! caller gets the error that is its own; so is every message of a batch that fails as a
//! whole (e.g. an application deleted meanwhile).

use super::codec::ms;
use super::messages::{self, LOCK_ENDPOINTS};
use super::notify::CHANNEL;
use crate::store::ingest::Job;
use crate::store::{StoreResult, TriggerType};
use sqlx::PgPool;
use std::collections::HashMap;

/// Writer tasks. One: while its statement runs the next batch gathers, and the batches are
/// larger than with several writers splitting the same arrivals. Under load that was the
/// faster choice (32 clients, one endpoint: about 4,200 messages/s with one writer, 4,000
/// with two, 3,600 with four), because each statement's fixed cost is shared by more rows.
pub(super) const WRITERS: usize = 1;

/// Writes `batch`, answering every job in it.
pub(super) async fn write(pool: &PgPool, batch: Vec<Job>) {
    if let Ok(created) = insert_batch(pool, &batch).await {
        for job in batch {
            let answer = match created.get(job.message.message.id.as_str()) {
                Some(&n) => Ok(n),
                None => messages::create_one(pool, &job.message, None).await,
            };
            let _ = job.reply.send(answer);
        }
        return;
    }
    for job in batch {
        let answer = messages::create_one(pool, &job.message, None).await;
        let _ = job.reply.send(answer);
    }
}

/// Inserts every message of `batch` whose application exists and whose `eventId` is free,
/// and fans each out to the endpoints that subscribe, in one statement; returns the
/// deliveries created per inserted message id.
async fn insert_batch(pool: &PgPool, batch: &[Job]) -> StoreResult<HashMap<String, usize>> {
    let mut ids = Vec::with_capacity(batch.len());
    let mut apps = Vec::with_capacity(batch.len());
    let mut types = Vec::with_capacity(batch.len());
    let mut event_ids = Vec::with_capacity(batch.len());
    let mut channels = Vec::with_capacity(batch.len());
    let mut payloads = Vec::with_capacity(batch.len());
    let mut created = Vec::with_capacity(batch.len());
    let mut expires = Vec::with_capacity(batch.len());
    for job in batch {
        let new = &job.message;
        let msg = &new.message;
        ids.push(msg.id.as_str());
        apps.push(msg.app_id.as_str());
        types.push(msg.event_type.as_str());
        event_ids.push(msg.event_id.as_ref().map(|u| u.as_str()));
        // Channel names cannot contain a comma, so one text per message carries the list
        // (arrays of arrays do not survive UNNEST).
        channels.push(
            msg.channels
                .as_ref()
                .map(|c| c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")),
        );
        payloads.push(msg.payload.as_deref());
        created.push(ms(msg.created_at));
        expires.push(msg.created_at.checked_add_signed(new.retention).map(ms));
    }
    // The fan-out filter is `domain::routing::subscribes` in SQL, as in `messages::create_one`.
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "WITH input AS (
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::timestamptz[], $8::timestamptz[])
                 AS t(id, app_id, event_type, event_id, channels, payload, created_at, expires_at)
         ), inserted AS (
             INSERT INTO messages
                 (id, app_id, event_type, event_id, channels, payload, created_at, expires_at)
             SELECT id, app_id, event_type, event_id,
                    CASE WHEN channels IS NULL THEN NULL
                         WHEN channels = '' THEN '{{}}'::text[]
                         ELSE string_to_array(channels, ',') END,
                    payload, created_at, expires_at
             FROM input
             WHERE app_id IN (SELECT id FROM applications WHERE id = ANY($2))
             ON CONFLICT DO NOTHING
             RETURNING id, app_id, event_type, channels
         ), targets AS (
             -- Each enabled endpoint of the batch's applications, locked once.
             SELECT e.id, e.app_id, e.event_types, e.channels FROM endpoints e
             WHERE e.app_id = ANY($2) AND NOT e.disabled
             ORDER BY e.id
             {LOCK_ENDPOINTS}
         ), fanned AS (
             INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, attempts,
                                     trigger_type, due_at, created_at, updated_at)
             SELECT e.app_id, m.id, e.id, 1, 0, $9, now(), now(), now()
             FROM inserted m JOIN targets e ON e.app_id = m.app_id
             WHERE (e.event_types IS NULL OR m.event_type = ANY(e.event_types))
               AND (e.channels IS NULL OR e.channels && m.channels)
             RETURNING msg_id
         ), woken AS (
             SELECT pg_notify($10, '') FROM (SELECT 1 FROM fanned LIMIT 1) AS any_delivery
         )
         -- `notified` is read so that the planner keeps `woken`.
         SELECT m.id, coalesce(f.n, 0), w.notified
         FROM inserted m
         LEFT JOIN (SELECT msg_id, count(*) AS n FROM fanned GROUP BY msg_id) AS f
             ON f.msg_id = m.id
         CROSS JOIN (SELECT count(*) AS notified FROM woken) AS w"
    ))
    .bind(&ids)
    .bind(&apps)
    .bind(&types)
    .bind(&event_ids)
    .bind(&channels)
    .bind(&payloads)
    .bind(&created)
    .bind(&expires)
    .bind(TriggerType::Scheduled as i16)
    .bind(CHANNEL)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n, _)| (id, usize::try_from(n).unwrap_or(0)))
        .collect())
}
