//! Application-scoped API tokens, by hash.

use super::SqliteStore;
use super::codec::{col, from_ms, ms, now_ms, write_err};
use crate::domain::AppId;
use crate::store::{AppToken, StoreResult};

/// Inserts the token and, in the same transaction, drops the application's expired ones,
/// so tokens do not pile up however often a portal link is minted.
pub(super) async fn insert(db: &SqliteStore, token: &AppToken) -> StoreResult<()> {
    let mut tx = db.write.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query("DELETE FROM app_tokens WHERE app_id = ? AND expires_at <= ?")
        .bind(token.app_id.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO app_tokens (hash, app_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
    )
    .bind(&token.hash)
    .bind(token.app_id.as_str())
    .bind(ms(token.created_at))
    .bind(ms(token.expires_at))
    .execute(&mut *tx)
    .await
    .map_err(write_err("a token with this hash already exists"))?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn get(db: &SqliteStore, hash: &str) -> StoreResult<Option<AppToken>> {
    let row =
        sqlx::query("SELECT hash, app_id, created_at, expires_at FROM app_tokens WHERE hash = ?")
            .bind(hash)
            .fetch_optional(&db.read)
            .await?;
    row.map(|row| {
        Ok(AppToken {
            hash: col(&row, "hash")?,
            app_id: AppId::from_trusted(col(&row, "app_id")?),
            created_at: from_ms(col(&row, "created_at")?)?,
            expires_at: from_ms(col(&row, "expires_at")?)?,
        })
    })
    .transpose()
}

pub(super) async fn delete(db: &SqliteStore, hash: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM app_tokens WHERE hash = ?")
        .bind(hash)
        .execute(&db.write)
        .await?;
    Ok(())
}
