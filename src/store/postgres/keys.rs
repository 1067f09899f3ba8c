//! API token hashes, idempotency keys and the retention sweep.
//!
//! Idempotency is decided by the database, not by process memory: the primary key on
//! `idempotency_keys.key` and `INSERT … ON CONFLICT DO NOTHING` let exactly one request
//! among any number of API processes own a key.

use super::PostgresStore;
use super::codec::limit_param;
use super::codec::{affected, col, now_ms};
use super::ops::COUNTS_KEPT;
use crate::store::{IdempotencyState, StoreError, StoreResult, StoredResponse, SweepReport};
use chrono::{DateTime, Utc};

/// How often `idempotency_begin` retries when the key vanishes between its two statements
/// (its owner abandoned it). Each retry means another request won or lost a race, so a
/// handful is plenty.
const BEGIN_RETRIES: usize = 5;

pub(super) async fn api_token_hashes(db: &PostgresStore) -> StoreResult<Vec<String>> {
    let hashes = sqlx::query_scalar("SELECT hash FROM api_tokens ORDER BY created_at")
        .fetch_all(&db.pool)
        .await?;
    Ok(hashes)
}

pub(super) async fn insert_api_token_hash(db: &PostgresStore, hash: &str) -> StoreResult<()> {
    sqlx::query("INSERT INTO api_tokens (hash, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(hash)
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Inserts the key if it is new (the caller owns it), otherwise reports what it holds.
///
/// Two statements, each in its own transaction: the insert waits for a concurrent insert of
/// the same key to commit or roll back, and the follow-up read takes a fresh snapshot that
/// sees the winner's row (a single statement's snapshot could not).
pub(super) async fn idempotency_begin(
    db: &PostgresStore,
    key: &str,
    fingerprint: &str,
) -> StoreResult<IdempotencyState> {
    for _ in 0..BEGIN_RETRIES {
        let inserted: Option<i32> = sqlx::query_scalar(
            "INSERT INTO idempotency_keys (key, fingerprint, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO NOTHING
             RETURNING 1",
        )
        .bind(key)
        .bind(fingerprint)
        .bind(now_ms())
        .fetch_optional(&db.pool)
        .await?;
        if inserted.is_some() {
            return Ok(IdempotencyState::Started);
        }
        let row =
            sqlx::query("SELECT fingerprint, status, body FROM idempotency_keys WHERE key = $1")
                .bind(key)
                .fetch_optional(&db.pool)
                .await?;
        // Abandoned between the two statements: the key is free again, try to take it.
        let Some(row) = row else { continue };
        let stored: String = col(&row, "fingerprint")?;
        let status: Option<i32> = col(&row, "status")?;
        return Ok(match status {
            _ if stored != fingerprint => IdempotencyState::Mismatch,
            None => IdempotencyState::InProgress,
            Some(status) => IdempotencyState::Completed(StoredResponse {
                status: u16::try_from(status).map_err(|_| {
                    StoreError::Corrupt(format!("idempotency status {status} is out of range"))
                })?,
                body: col::<Option<Vec<u8>>>(&row, "body")?.unwrap_or_default(),
            }),
        });
    }
    // Keys taken and freed this fast mean another request is working on it right now.
    Ok(IdempotencyState::InProgress)
}

/// `NotFound` if the key was never begun or was abandoned.
pub(super) async fn idempotency_complete(
    db: &PostgresStore,
    key: &str,
    response: &StoredResponse,
) -> StoreResult<()> {
    let done = sqlx::query("UPDATE idempotency_keys SET status = $1, body = $2 WHERE key = $3")
        .bind(i32::from(response.status))
        .bind(&response.body)
        .bind(key)
        .execute(&db.pool)
        .await?;
    affected(done.rows_affected())
}

/// Abandoning a key that is not there is not an error: the outcome is the same.
pub(super) async fn idempotency_abandon(db: &PostgresStore, key: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE key = $1")
        .bind(key)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Expunges expired payloads and forgets old idempotency keys, a bounded batch of each, and
/// drops attempt counts older than [`COUNTS_KEPT`] (a few rows a minute per worker).
/// `SKIP LOCKED` lets any number of workers sweep at once without waiting on each other.
pub(super) async fn sweep_expired(
    db: &PostgresStore,
    keys_before: DateTime<Utc>,
    limit: usize,
) -> StoreResult<SweepReport> {
    let payloads = sqlx::query(
        r#"UPDATE messages SET payload = NULL WHERE id IN (
               SELECT id FROM messages
               WHERE expires_at <= now() AND payload IS NOT NULL
               LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED)"#,
    )
    .bind(limit_param(limit))
    .execute(&db.pool)
    .await?
    .rows_affected();
    let idempotency_keys = sqlx::query(
        r#"DELETE FROM idempotency_keys WHERE key IN (
               SELECT key FROM idempotency_keys WHERE created_at < $1
               LIMIT $2 FOR UPDATE SKIP LOCKED)"#,
    )
    .bind(keys_before)
    .bind(limit_param(limit))
    .execute(&db.pool)
    .await?
    .rows_affected();
    sqlx::query(&format!(
        "DELETE FROM attempt_counts WHERE bucket < now() - interval '{COUNTS_KEPT}'"
    ))
    .execute(&db.pool)
    .await?;
    Ok(SweepReport {
        payloads,
        idempotency_keys,
    })
}
