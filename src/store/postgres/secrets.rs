//! Endpoint secrets at rest: the start-up key check, and sealing what is still plaintext.

use super::PostgresStore;
use super::codec::{col, now_ms};
use crate::store::StoreResult;
use crate::store::sealing::Startup;
use crate::store::secret_columns::sealed_in_place;

/// Serialises start-ups that check the key and seal, so processes starting together on one
/// database seal each secret once and agree on the key check. An arbitrary constant.
const PREPARE_LOCK: i64 = 0x686f_6f6b_5345_4331;

/// Rows that may hold a plaintext key (`sealed_in_place` decides exactly), locked so a
/// concurrent rotation cannot be overwritten: sealed values are `enc:` and base64, which
/// never contains `whsec`.
const MAYBE_PLAINTEXT: &str = "SELECT id, secret, retired_secrets::text AS retired_secrets
     FROM endpoints
     WHERE secret NOT LIKE 'enc:%' OR retired_secrets::text LIKE '%whsec%'
     FOR NO KEY UPDATE";

/// Checks the sealer's key against the database's key check and seals every plaintext
/// secret, in one transaction; returns how many endpoints were sealed.
pub(super) async fn prepare(db: &PostgresStore) -> StoreResult<u64> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PREPARE_LOCK)
        .execute(&mut *tx)
        .await?;
    let check: Option<String> = sqlx::query_scalar("SELECT key_check FROM secret_key_check")
        .fetch_optional(&mut *tx)
        .await?;
    let Startup::Seal { new_check } = db.sealer.startup(check.as_deref())? else {
        return Ok(0);
    };
    if let Some(check) = new_check {
        sqlx::query("INSERT INTO secret_key_check (id, key_check, created_at) VALUES (1, $1, $2)")
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
        sqlx::query("UPDATE endpoints SET secret = $1, retired_secrets = $2::jsonb WHERE id = $3")
            .bind(secret)
            .bind(retired)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        sealed += 1;
    }
    tx.commit().await?;
    Ok(sealed)
}
