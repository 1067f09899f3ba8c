//! API token hashes, idempotency keys and the retention sweep.
//!
//! Idempotency is decided by the database (a primary key on the key), not by process
//! memory, so two API processes sharing the file agree on who owns a key.

use super::SqliteStore;
use super::codec::ms;
use super::codec::{affected, col, now_ms};
use crate::store::{IdempotencyState, StoreError, StoreResult, StoredResponse, SweepReport};
use chrono::{DateTime, Utc};

pub(super) async fn api_token_hashes(db: &SqliteStore) -> StoreResult<Vec<String>> {
    let hashes = sqlx::query_scalar("SELECT hash FROM api_tokens ORDER BY created_at")
        .fetch_all(&db.read)
        .await?;
    Ok(hashes)
}

pub(super) async fn insert_api_token_hash(db: &SqliteStore, hash: &str) -> StoreResult<()> {
    sqlx::query("INSERT INTO api_tokens (hash, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING")
        .bind(hash)
        .bind(now_ms())
        .execute(&db.write)
        .await?;
    Ok(())
}

/// Inserts the key if it is new (the caller owns it), otherwise reports what it holds.
pub(super) async fn idempotency_begin(
    db: &SqliteStore,
    key: &str,
    fingerprint: &str,
) -> StoreResult<IdempotencyState> {
    let mut tx = db.write.begin_with("BEGIN IMMEDIATE").await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (key, fingerprint, created_at) VALUES (?, ?, ?)
         ON CONFLICT DO NOTHING",
    )
    .bind(key)
    .bind(fingerprint)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let state = if inserted == 1 {
        IdempotencyState::Started
    } else {
        let row =
            sqlx::query("SELECT fingerprint, status, body FROM idempotency_keys WHERE key = ?")
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
        let stored: String = col(&row, "fingerprint")?;
        let status: Option<i64> = col(&row, "status")?;
        match status {
            _ if stored != fingerprint => IdempotencyState::Mismatch,
            None => IdempotencyState::InProgress,
            Some(status) => IdempotencyState::Completed(StoredResponse {
                status: u16::try_from(status).map_err(|_| {
                    StoreError::Corrupt(format!("idempotency status {status} is out of range"))
                })?,
                body: col::<Option<Vec<u8>>>(&row, "body")?.unwrap_or_default(),
            }),
        }
    };
    tx.commit().await?;
    Ok(state)
}

/// `NotFound` if the key was never begun or was abandoned.
pub(super) async fn idempotency_complete(
    db: &SqliteStore,
    key: &str,
    response: &StoredResponse,
) -> StoreResult<()> {
    let done = sqlx::query("UPDATE idempotency_keys SET status = ?, body = ? WHERE key = ?")
        .bind(response.status)
        .bind(&response.body)
        .bind(key)
        .execute(&db.write)
        .await?;
    affected(done.rows_affected())
}

/// Abandoning a key that is not there is not an error: the outcome is the same.
pub(super) async fn idempotency_abandon(db: &SqliteStore, key: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE key = ?")
        .bind(key)
        .execute(&db.write)
        .await?;
    Ok(())
}

/// Expunges expired payloads and forgets old idempotency keys, a bounded batch of each, so
/// the single writer is never held for long.
pub(super) async fn sweep_expired(
    db: &SqliteStore,
    keys_before: DateTime<Utc>,
    limit: usize,
) -> StoreResult<SweepReport> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let payloads = sqlx::query(
        "UPDATE messages SET payload = NULL WHERE rowid IN (
             SELECT rowid FROM messages
             WHERE expires_at <= ? AND payload IS NOT NULL
             LIMIT ?)",
    )
    .bind(now_ms())
    .bind(limit)
    .execute(&db.write)
    .await?
    .rows_affected();
    let idempotency_keys = sqlx::query(
        "DELETE FROM idempotency_keys WHERE key IN (
             SELECT key FROM idempotency_keys WHERE created_at < ? LIMIT ?)",
    )
    .bind(ms(keys_before))
    .bind(limit)
    .execute(&db.write)
    .await?
    .rows_affected();
    Ok(SweepReport {
        payloads,
        idempotency_keys,
    })
}
