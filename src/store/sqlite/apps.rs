//! Applications and event types.

use super::SqliteStore;
use super::codec::{
    APP_COLS, EVENT_TYPE_COLS, affected, application, event_type, now_ms, push_page, to_json,
    to_json_opt, write_err,
};
use crate::domain::{AppId, EventTypeName};
use crate::store::{
    Application, ApplicationFields, EventType, EventTypeFields, Page, PageRequest, StoreError,
    StoreResult,
};
use sqlx::QueryBuilder;

const APP_UID_TAKEN: &str = "an application with this uid already exists";
const EVENT_TYPE_TAKEN: &str = "an event type with this name already exists";

pub(super) async fn create_application(
    db: &SqliteStore,
    fields: &ApplicationFields,
) -> StoreResult<Application> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO applications
             (id, uid, name, throttle_rate, metadata, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         RETURNING *",
    )
    .bind(AppId::generate().as_str())
    .bind(fields.uid.as_ref().map(|u| u.as_str()))
    .bind(&fields.name)
    .bind(fields.throttle_rate)
    .bind(to_json(&fields.metadata)?)
    .bind(now)
    .bind(now)
    .fetch_one(&db.write)
    .await
    .map_err(write_err(APP_UID_TAKEN))?;
    application(&row)
}

/// Matches the id first, so an application whose id is another one's uid is still found.
pub(super) async fn get_application(
    db: &SqliteStore,
    key: &str,
) -> StoreResult<Option<Application>> {
    let row = sqlx::query(&format!(
        "SELECT {APP_COLS} FROM applications a
         WHERE a.id = ?1 OR a.uid = ?1
         ORDER BY a.id = ?1 DESC LIMIT 1"
    ))
    .bind(key)
    .fetch_optional(&db.read)
    .await?;
    row.as_ref().map(application).transpose()
}

pub(super) async fn list_applications(
    db: &SqliteStore,
    page: &PageRequest,
) -> StoreResult<Page<Application>> {
    let mut qb = QueryBuilder::new(format!("SELECT {APP_COLS} FROM applications a WHERE 1"));
    push_page(&mut qb, "a.id", page);
    let rows = qb.build().fetch_all(&db.read).await?;
    let items = rows.iter().map(application).collect::<StoreResult<_>>()?;
    Ok(Page::from_rows(items, page))
}

pub(super) async fn update_application(
    db: &SqliteStore,
    id: &AppId,
    fields: &ApplicationFields,
) -> StoreResult<Application> {
    let row = sqlx::query(
        "UPDATE applications
         SET uid = ?, name = ?, throttle_rate = ?, metadata = ?, updated_at = ?
         WHERE id = ?
         RETURNING *",
    )
    .bind(fields.uid.as_ref().map(|u| u.as_str()))
    .bind(&fields.name)
    .bind(fields.throttle_rate)
    .bind(to_json(&fields.metadata)?)
    .bind(now_ms())
    .bind(id.as_str())
    .fetch_optional(&db.write)
    .await
    .map_err(write_err(APP_UID_TAKEN))?;
    application(&row.ok_or(StoreError::NotFound)?)
}

/// Endpoints, messages, deliveries and attempts go with it (`ON DELETE CASCADE`).
pub(super) async fn delete_application(db: &SqliteStore, id: &AppId) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM applications WHERE id = ?")
        .bind(id.as_str())
        .execute(&db.write)
        .await?;
    affected(done.rows_affected())
}

pub(super) async fn create_event_type(
    db: &SqliteStore,
    name: &EventTypeName,
    fields: &EventTypeFields,
) -> StoreResult<EventType> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO event_types
             (name, description, archived, deprecated, feature_flag, schemas,
              created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         RETURNING *",
    )
    .bind(name.as_str())
    .bind(&fields.description)
    .bind(fields.archived)
    .bind(fields.deprecated)
    .bind(fields.feature_flag.as_deref())
    .bind(to_json_opt(fields.schemas.as_ref())?)
    .bind(now)
    .bind(now)
    .fetch_one(&db.write)
    .await
    .map_err(write_err(EVENT_TYPE_TAKEN))?;
    event_type(&row)
}

pub(super) async fn get_event_type(
    db: &SqliteStore,
    name: &EventTypeName,
) -> StoreResult<Option<EventType>> {
    let row = sqlx::query(&format!(
        "SELECT {EVENT_TYPE_COLS} FROM event_types t WHERE t.name = ?"
    ))
    .bind(name.as_str())
    .fetch_optional(&db.read)
    .await?;
    row.as_ref().map(event_type).transpose()
}

pub(super) async fn list_event_types(
    db: &SqliteStore,
    page: &PageRequest,
    include_archived: bool,
) -> StoreResult<Page<EventType>> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {EVENT_TYPE_COLS} FROM event_types t WHERE 1"
    ));
    if !include_archived {
        qb.push(" AND t.archived = 0");
    }
    push_page(&mut qb, "t.name", page);
    let rows = qb.build().fetch_all(&db.read).await?;
    let items = rows.iter().map(event_type).collect::<StoreResult<_>>()?;
    Ok(Page::from_rows(items, page))
}

pub(super) async fn update_event_type(
    db: &SqliteStore,
    name: &EventTypeName,
    fields: &EventTypeFields,
) -> StoreResult<EventType> {
    let row = sqlx::query(
        "UPDATE event_types
         SET description = ?, archived = ?, deprecated = ?, feature_flag = ?, schemas = ?,
             updated_at = ?
         WHERE name = ?
         RETURNING *",
    )
    .bind(&fields.description)
    .bind(fields.archived)
    .bind(fields.deprecated)
    .bind(fields.feature_flag.as_deref())
    .bind(to_json_opt(fields.schemas.as_ref())?)
    .bind(now_ms())
    .bind(name.as_str())
    .fetch_optional(&db.write)
    .await?;
    event_type(&row.ok_or(StoreError::NotFound)?)
}

pub(super) async fn archive_event_type(db: &SqliteStore, name: &EventTypeName) -> StoreResult<()> {
    let done = sqlx::query("UPDATE event_types SET archived = 1, updated_at = ? WHERE name = ?")
        .bind(now_ms())
        .bind(name.as_str())
        .execute(&db.write)
        .await?;
    affected(done.rows_affected())
}
