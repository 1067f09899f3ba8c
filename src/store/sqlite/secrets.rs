//! Endpoint secrets at rest: the start-up key check, and sealing what is still plaintext.

use super::SqliteStore;
use super::codec::{col, now_ms};
use crate::store::StoreResult;
use crate::store::sealing::Startup;
use crate::store::secret_columns::sealed_in_place;

/// Rows that may hold a plaintext key (`sealed_in_place` decides exactly): sealed values are
/// `enc:` and base64, which never contains `whsec`.
const MAYBE_PLAINTEXT: &str = "SELECT id, secret, retired_secrets FROM endpoints
     WHERE secret NOT LIKE 'enc:%' OR retired_secrets LIKE '%whsec%'";

/// Checks the sealer's key against the database's key check and seals every plaintext
/// secret, in one write transaction; returns how many endpoints were sealed. Afterwards the
/// write-ahead log is truncated, so the plaintext's old page images do not outlive it there
/// (the writer's `secure_delete` already zeroed them in the pages themselves).
pub(super) async fn prepare(db: &SqliteStore) -> StoreResult<u64> {
    let mut tx = db.write.begin_with("BEGIN IMMEDIATE").await?;
    let check: Option<String> = sqlx::query_scalar("SELECT key_check FROM secret_key_check")
        .fetch_optional(&mut *tx)
        .await?;
    let Startup::Seal { new_check } = db.sealer.startup(check.as_deref())? else {
        return Ok(0);
    };
    if let Some(check) = new_check {
        sqlx::query("INSERT INTO secret_key_check (id, key_check, created_at) VALUES (1, ?, ?)")
            .bind(check)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
    }
    let rows = sqlx::query(MAYBE_PLAINTEXT).fetch_all(&mut *tx).await?;
    let mut sealed = 0;
    for row in &rows {
        let id: String = col(row, "id")?;
        let stored: (String, String) = (col(row, "secret")?, col(row, "retired_secrets")?);
        let Some((secret, retired)) = sealed_in_place(&db.sealer, &id, (&stored.0, &stored.1))?
        else {
            continue;
        };
        sqlx::query("UPDATE endpoints SET secret = ?, retired_secrets = ? WHERE id = ?")
            .bind(secret)
            .bind(retired)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        sealed += 1;
    }
    tx.commit().await?;
    if sealed > 0 {
        // Best effort: with readers in other processes the log may not shrink at once.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&db.write)
            .await?;
    }
    Ok(sealed)
}
