//! Endpoints: CRUD, headers, secret rotation and delivery statistics.

use super::codec::{
    ENDPOINT_COLS, affected, channel_names, col, duration_ms, endpoint, ms, now_ms, to_json,
    type_names, write_err,
};
use super::{PostgresStore, fetch_page};
use crate::domain::{AppId, EndpointId, EndpointSecret};
use crate::store::secret_columns::rotated;
use crate::store::{
    DeliveryStatus, Endpoint, EndpointFields, EndpointStats, Page, PageRequest, StoreError,
    StoreResult,
};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::BTreeMap;
use std::time::Duration;

const ENDPOINT_UID_TAKEN: &str = "an endpoint with this uid already exists in this application";

/// `NotFound` if the application does not exist.
pub(super) async fn create(
    db: &PostgresStore,
    app_id: &AppId,
    fields: &EndpointFields,
    secret: &EndpointSecret,
    headers: &BTreeMap<String, String>,
) -> StoreResult<Endpoint> {
    let now = now_ms();
    let id = EndpointId::generate();
    let mut tx = db.pool.begin().await?;
    let row = sqlx::query(&format!(
        "INSERT INTO endpoints AS e
             (id, app_id, uid, url, description, disabled, event_types, channels,
              throttle_rate, metadata, headers, secret, retired_secrets, created_at, updated_at,
              concurrency_limit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12, '[]', $13, $13,
                 $14)
         RETURNING {ENDPOINT_COLS}"
    ))
    .bind(id.as_str())
    .bind(app_id.as_str())
    .bind(fields.uid.as_ref().map(|u| u.as_str()))
    .bind(fields.url.as_str())
    .bind(&fields.description)
    .bind(fields.disabled)
    .bind(type_names(fields.event_types.as_ref()))
    .bind(channel_names(fields.channels.as_ref()))
    .bind(fields.throttle_rate.map(i32::from))
    .bind(to_json(&fields.metadata)?)
    .bind(to_json(headers)?)
    .bind(db.sealer.seal_secret(id.as_str(), secret)?)
    .bind(now)
    .bind(fields.concurrency_limit.and_then(|n| i32::try_from(n).ok()))
    .fetch_one(&mut *tx)
    .await
    .map_err(write_err(ENDPOINT_UID_TAKEN))?;
    let created = endpoint(&row, now, &db.sealer)?;
    sqlx::query("INSERT INTO endpoint_claims (endpoint_id, app_id) VALUES ($1, $2)")
        .bind(created.id.as_str())
        .bind(app_id.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(created)
}

/// Matches the id first, then the uid.
pub(super) async fn get(
    db: &PostgresStore,
    app_id: &AppId,
    key: &str,
) -> StoreResult<Option<Endpoint>> {
    let row = sqlx::query(&format!(
        "SELECT {ENDPOINT_COLS} FROM endpoints e
         WHERE e.app_id = $1 AND (e.id = $2 OR e.uid = $2)
         ORDER BY e.id = $2 DESC LIMIT 1"
    ))
    .bind(app_id.as_str())
    .bind(key)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| endpoint(&r, now_ms(), &db.sealer)).transpose()
}

pub(super) async fn list(
    db: &PostgresStore,
    app_id: &AppId,
    page: &PageRequest,
) -> StoreResult<Page<Endpoint>> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {ENDPOINT_COLS} FROM endpoints e WHERE e.app_id = "
    ));
    qb.push_bind(app_id.as_str());
    let rows = fetch_page(&db.pool, qb, "e.id", page).await?;
    let now = now_ms();
    let items = rows
        .iter()
        .map(|r| endpoint(r, now, &db.sealer))
        .collect::<StoreResult<_>>()?;
    Ok(Page::from_rows(items, page))
}

pub(super) async fn update(
    db: &PostgresStore,
    app_id: &AppId,
    id: &EndpointId,
    fields: &EndpointFields,
) -> StoreResult<Endpoint> {
    let now = now_ms();
    let row = sqlx::query(&format!(
        "UPDATE endpoints AS e
         SET uid = $1, url = $2, description = $3, disabled = $4, event_types = $5,
             channels = $6, throttle_rate = $7, metadata = $8::jsonb, updated_at = $9,
             concurrency_limit = $12,
             -- Enabling an endpoint forgets why the engine disabled it and how long it had
             -- been failing, or it would be disabled again by its next failure.
             disabled_reason = CASE WHEN e.disabled AND NOT $4 THEN NULL
                                    ELSE e.disabled_reason END,
             failing_since = CASE WHEN e.disabled AND NOT $4 THEN NULL ELSE e.failing_since END
         WHERE e.app_id = $10 AND e.id = $11
         RETURNING {ENDPOINT_COLS}"
    ))
    .bind(fields.uid.as_ref().map(|u| u.as_str()))
    .bind(fields.url.as_str())
    .bind(&fields.description)
    .bind(fields.disabled)
    .bind(type_names(fields.event_types.as_ref()))
    .bind(channel_names(fields.channels.as_ref()))
    .bind(fields.throttle_rate.map(i32::from))
    .bind(to_json(&fields.metadata)?)
    .bind(now)
    .bind(app_id.as_str())
    .bind(id.as_str())
    .bind(fields.concurrency_limit.and_then(|n| i32::try_from(n).ok()))
    .fetch_optional(&db.pool)
    .await
    .map_err(write_err(ENDPOINT_UID_TAKEN))?;
    endpoint(&row.ok_or(StoreError::NotFound)?, now, &db.sealer)
}

/// Its deliveries and attempts go with it, deleted once the endpoint row is (which waits
/// for any writer holding it; see `messages::LOCK_ENDPOINTS`).
pub(super) async fn delete(db: &PostgresStore, app_id: &AppId, id: &EndpointId) -> StoreResult<()> {
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query("DELETE FROM endpoints WHERE app_id = $1 AND id = $2")
        .bind(app_id.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
    affected(done.rows_affected())?;
    delete_queue(&mut tx, &[id.as_str()]).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes the deliveries and attempts of `endpoints`, whose rows the transaction has
/// locked or deleted.
pub(super) async fn delete_queue(
    tx: &mut sqlx::PgConnection,
    endpoints: &[impl AsRef<str>],
) -> StoreResult<()> {
    let ids: Vec<&str> = endpoints.iter().map(AsRef::as_ref).collect();
    for table in ["attempts", "deliveries"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE endpoint_id = ANY($1)"))
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

pub(super) async fn set_headers(
    db: &PostgresStore,
    app_id: &AppId,
    id: &EndpointId,
    headers: &BTreeMap<String, String>,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE endpoints SET headers = $1::jsonb, updated_at = $2 WHERE app_id = $3 AND id = $4",
    )
    .bind(to_json(headers)?)
    .bind(now_ms())
    .bind(app_id.as_str())
    .bind(id.as_str())
    .execute(&db.pool)
    .await?;
    affected(done.rows_affected())
}

/// The current key joins the retired ones until `now + grace` (a zero grace retires it at
/// once); retired keys already past their grace are dropped. The row is locked while the
/// list is rebuilt, so two concurrent rotations cannot lose a key.
pub(super) async fn rotate_secret(
    db: &PostgresStore,
    app_id: &AppId,
    id: &EndpointId,
    new: &EndpointSecret,
    grace: Duration,
) -> StoreResult<()> {
    let now = now_ms();
    let now_unix = now.timestamp_millis();
    let mut tx = db.pool.begin().await?;
    let row = sqlx::query(
        "SELECT secret, retired_secrets::text AS retired_secrets FROM endpoints
         WHERE app_id = $1 AND id = $2 FOR NO KEY UPDATE",
    )
    .bind(app_id.as_str())
    .bind(id.as_str())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    let stored: (String, String) = (col(&row, "secret")?, col(&row, "retired_secrets")?);
    let (secret, retired) = rotated(
        &db.sealer,
        id.as_str(),
        (&stored.0, &stored.1),
        new,
        now_unix,
        duration_ms(grace),
    )?;
    sqlx::query(
        "UPDATE endpoints SET secret = $1, retired_secrets = $2::jsonb, updated_at = $3
         WHERE app_id = $4 AND id = $5",
    )
    .bind(secret)
    .bind(retired)
    .bind(now)
    .bind(app_id.as_str())
    .bind(id.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Counts by delivery status, for messages created in `[since, until)`. `NotFound` if the
/// endpoint does not exist in the application.
pub(super) async fn stats(
    db: &PostgresStore,
    app_id: &AppId,
    id: &EndpointId,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> StoreResult<EndpointStats> {
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM endpoints WHERE app_id = $1 AND id = $2")
            .bind(app_id.as_str())
            .bind(id.as_str())
            .fetch_optional(&db.pool)
            .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound);
    }
    let rows: Vec<(i16, i64)> = sqlx::query_as(
        "SELECT d.status, COUNT(*) FROM deliveries d JOIN messages m ON m.id = d.msg_id
         WHERE d.endpoint_id = $1
           AND ($2::timestamptz IS NULL OR m.created_at >= $2)
           AND ($3::timestamptz IS NULL OR m.created_at < $3)
         GROUP BY d.status",
    )
    .bind(id.as_str())
    .bind(since.map(ms))
    .bind(until.map(ms))
    .fetch_all(&db.pool)
    .await?;
    let mut stats = EndpointStats::default();
    for (status, count) in rows {
        match DeliveryStatus::from_i64(i64::from(status)) {
            Some(DeliveryStatus::Success) => stats.success = count,
            Some(DeliveryStatus::Pending) => stats.pending = count,
            Some(DeliveryStatus::Fail) => stats.fail = count,
            Some(DeliveryStatus::Sending) => stats.sending = count,
            None => {
                return Err(StoreError::Corrupt(format!(
                    "unknown delivery status {status}"
                )));
            }
        }
    }
    Ok(stats)
}
