//! Applications and event types.

use super::codec::{
    APP_COLS, EVENT_TYPE_COLS, affected, application, event_type, now_ms, to_json, to_json_opt,
    write_err,
};
use super::{PostgresStore, fetch_page};
use crate::domain::{AppId, EventTypeName};
use crate::store::{
    Application, ApplicationFields, EventType, EventTypeFields, Page, PageRequest, StoreError,
    StoreResult,
};
use sqlx::QueryBuilder;

// The same texts as the SQLite store, so clients see one message whichever store runs.
const APP_UID_TAKEN: &str = "an application with this uid already exists";
const EVENT_TYPE_TAKEN: &str = "an event type with this name already exists";

pub(super) async fn create_application(
    db: &PostgresStore,
    fields: &ApplicationFields,
) -> StoreResult<Application> {
    let now = now_ms();
    let row = sqlx::query(&format!(
        "INSERT INTO applications AS a
             (id, uid, name, throttle_rate, metadata, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6)
         RETURNING {APP_COLS}"
    ))
    .bind(AppId::generate().as_str())
    .bind(fields.uid.as_ref().map(|u| u.as_str()))
    .bind(&fields.name)
    .bind(fields.throttle_rate.map(i32::from))
    .bind(to_json(&fields.metadata)?)
    .bind(now)
    .fetch_one(&db.pool)
    .await
    .map_err(write_err(APP_UID_TAKEN))?;
    application(&row)
}

/// Matches the id first, so an application whose id is another one's uid is still found.
pub(super) async fn get_application(
    db: &PostgresStore,
    key: &str,
) -> StoreResult<Option<Application>> {
    let row = sqlx::query(&format!(
        "SELECT {APP_COLS} FROM applications a
         WHERE a.id = $1 OR a.uid = $1
         ORDER BY a.id = $1 DESC LIMIT 1"
    ))
    .bind(key)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(application).transpose()
}

pub(super) async fn list_applications(
    db: &PostgresStore,
    page: &PageRequest,
) -> StoreResult<Page<Application>> {
    let qb = QueryBuilder::new(format!("SELECT {APP_COLS} FROM applications a WHERE TRUE"));
    let rows = fetch_page(&db.pool, qb, "a.id", page).await?;
    let items = rows.iter().map(application).collect::<StoreResult<_>>()?;
    Ok(Page::from_rows(items, page))
}

pub(super) async fn update_application(
    db: &PostgresStore,
    id: &AppId,
    fields: &ApplicationFields,
) -> StoreResult<Application> {
    let row = sqlx::query(&format!(
        "UPDATE applications AS a
         SET uid = $1, name = $2, throttle_rate = $3, metadata = $4::jsonb, updated_at = $5
         WHERE a.id = $6
         RETURNING {APP_COLS}"
    ))
    .bind(fields.uid.as_ref().map(|u| u.as_str()))
    .bind(&fields.name)
    .bind(fields.throttle_rate.map(i32::from))
    .bind(to_json(&fields.metadata)?)
    .bind(now_ms())
    .bind(id.as_str())
    .fetch_optional(&db.pool)
    .await
    .map_err(write_err(APP_UID_TAKEN))?;
    application(&row.ok_or(StoreError::NotFound)?)
}

/// Endpoints, messages, tokens go with it (`ON DELETE CASCADE`); deliveries and attempts,
/// which have no foreign keys, are deleted by endpoint once the endpoint rows are locked,
/// so no writer can add more (see `messages::LOCK_ENDPOINTS`).
pub(super) async fn delete_application(db: &PostgresStore, id: &AppId) -> StoreResult<()> {
    let mut tx = db.pool.begin().await?;
    let endpoints: Vec<String> =
        sqlx::query_scalar("SELECT id FROM endpoints WHERE app_id = $1 ORDER BY id FOR UPDATE")
            .bind(id.as_str())
            .fetch_all(&mut *tx)
            .await?;
    super::endpoints::delete_queue(&mut tx, &endpoints).await?;
    let done = sqlx::query("DELETE FROM applications WHERE id = $1")
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
    affected(done.rows_affected())?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn create_event_type(
    db: &PostgresStore,
    name: &EventTypeName,
    fields: &EventTypeFields,
) -> StoreResult<EventType> {
    let row = sqlx::query(&format!(
        "INSERT INTO event_types AS t
             (name, description, archived, deprecated, feature_flag, schemas,
              created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $7)
         RETURNING {EVENT_TYPE_COLS}"
    ))
    .bind(name.as_str())
    .bind(&fields.description)
    .bind(fields.archived)
    .bind(fields.deprecated)
    .bind(fields.feature_flag.as_deref())
    .bind(to_json_opt(fields.schemas.as_ref())?)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await
    .map_err(write_err(EVENT_TYPE_TAKEN))?;
    event_type(&row)
}

pub(super) async fn get_event_type(
    db: &PostgresStore,
    name: &EventTypeName,
) -> StoreResult<Option<EventType>> {
    let row = sqlx::query(&format!(
        "SELECT {EVENT_TYPE_COLS} FROM event_types t WHERE t.name = $1"
    ))
    .bind(name.as_str())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(event_type).transpose()
}

pub(super) async fn list_event_types(
    db: &PostgresStore,
    page: &PageRequest,
    include_archived: bool,
) -> StoreResult<Page<EventType>> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {EVENT_TYPE_COLS} FROM event_types t WHERE TRUE"
    ));
    if !include_archived {
        qb.push(" AND NOT t.archived");
    }
    let rows = fetch_page(&db.pool, qb, "t.name", page).await?;
    let items = rows.iter().map(event_type).collect::<StoreResult<_>>()?;
    Ok(Page::from_rows(items, page))
}

pub(super) async fn update_event_type(
    db: &PostgresStore,
    name: &EventTypeName,
    fields: &EventTypeFields,
) -> StoreResult<EventType> {
    let row = sqlx::query(&format!(
        "UPDATE event_types AS t
         SET description = $1, archived = $2, deprecated = $3, feature_flag = $4,
             schemas = $5::jsonb, updated_at = $6
         WHERE t.name = $7
         RETURNING {EVENT_TYPE_COLS}"
    ))
    .bind(&fields.description)
    .bind(fields.archived)
    .bind(fields.deprecated)
    .bind(fields.feature_flag.as_deref())
    .bind(to_json_opt(fields.schemas.as_ref())?)
    .bind(now_ms())
    .bind(name.as_str())
    .fetch_optional(&db.pool)
    .await?;
    event_type(&row.ok_or(StoreError::NotFound)?)
}

pub(super) async fn archive_event_type(
    db: &PostgresStore,
    name: &EventTypeName,
) -> StoreResult<()> {
    let done =
        sqlx::query("UPDATE event_types SET archived = true, updated_at = $1 WHERE name = $2")
            .bind(now_ms())
            .bind(name.as_str())
            .execute(&db.pool)
            .await?;
    affected(done.rows_affected())
}
