//! Conversions between SQLite values and store records, shared by the area modules.
//!
//! Timestamps are INTEGER unix milliseconds and JSON-shaped fields are TEXT. Anything that
//! cannot be read back is [`StoreError::Corrupt`], never a panic.

use crate::domain::{
    AppId, AttemptId, Channel, EndpointId, EndpointUrl, EventTypeName, MessageId, Uid,
};
use crate::store::secret_columns::open_retired;
use crate::store::{
    Application, Attempt, DeliveryState, DeliveryStatus, Endpoint, ErrorClass, EventType, Message,
    PageRequest, RetiredSecret, Sealer, StoreError, StoreResult, TriggerType,
};
use chrono::{DateTime, Utc};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, QueryBuilder, Row, Sqlite, Type};

/// Rows per multi-row statement, well under SQLite's limit of 32,766 bound parameters.
pub(super) const CHUNK: usize = 500;

/// Column lists; every query aliases its tables the same way (a, e, t, m, d).
pub(super) const APP_COLS: &str = "a.id AS id, a.uid AS uid, a.name AS name, \
    a.throttle_rate AS throttle_rate, a.metadata AS metadata, a.created_at AS created_at, \
    a.updated_at AS updated_at";
pub(super) const ENDPOINT_COLS: &str = "e.id AS id, e.app_id AS app_id, e.uid AS uid, \
    e.url AS url, e.description AS description, e.disabled AS disabled, \
    e.event_types AS event_types, e.channels AS channels, e.throttle_rate AS throttle_rate, \
    e.metadata AS metadata, e.headers AS headers, e.secret AS secret, \
    e.retired_secrets AS retired_secrets, e.created_at AS created_at, \
    e.updated_at AS updated_at, e.disabled_reason AS disabled_reason, \
    e.concurrency_limit AS concurrency_limit";
pub(super) const EVENT_TYPE_COLS: &str = "t.name AS name, t.description AS description, \
    t.archived AS archived, t.deprecated AS deprecated, t.feature_flag AS feature_flag, \
    t.schemas AS schemas, t.created_at AS created_at, t.updated_at AS updated_at";
pub(super) const MESSAGE_COLS: &str = "m.id AS id, m.app_id AS app_id, \
    m.event_type AS event_type, m.event_id AS event_id, m.channels AS channels, \
    m.payload AS payload, m.created_at AS created_at";
pub(super) const ATTEMPT_COLS: &str = "t.id AS id, t.msg_id AS msg_id, \
    t.endpoint_id AS endpoint_id, t.app_id AS app_id, t.url AS url, t.status AS status, \
    t.response_status_code AS response_status_code, t.response AS response, \
    t.response_duration_ms AS response_duration_ms, t.trigger_type AS trigger_type, \
    t.error_class AS error_class, t.created_at AS created_at";
/// Delivery columns added to endpoint or message columns in the "attempted" listings.
pub(super) const DELIVERY_STATE_COLS: &str = "d.status AS d_status, d.due_at AS d_due_at";

/// The current time in the stored resolution.
pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A timestamp in the stored resolution.
pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Milliseconds of a `std` duration, saturating.
pub(super) fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Reads a stored timestamp.
pub(super) fn from_ms(v: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {v} is out of range")))
}

/// Encodes a value as JSON text.
pub(super) fn to_json<T: Serialize + ?Sized>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode JSON: {e}")))
}

/// Encodes an optional value as JSON text, `None` as SQL NULL.
pub(super) fn to_json_opt<T: Serialize>(v: Option<&T>) -> StoreResult<Option<String>> {
    v.map(to_json).transpose()
}

/// A column, with decode failures reported as corruption.
pub(super) fn col<'r, T>(row: &'r SqliteRow, name: &str) -> StoreResult<T>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// A TEXT column holding JSON.
pub(super) fn json_col<T: DeserializeOwned>(row: &SqliteRow, name: &str) -> StoreResult<T> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// A nullable TEXT column holding JSON.
pub(super) fn json_col_opt<T: DeserializeOwned>(
    row: &SqliteRow,
    name: &str,
) -> StoreResult<Option<T>> {
    let text: Option<String> = col(row, name)?;
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

fn time_col(row: &SqliteRow, name: &str) -> StoreResult<DateTime<Utc>> {
    from_ms(col(row, name)?)
}

fn status_col(row: &SqliteRow, name: &str) -> StoreResult<DeliveryStatus> {
    let v: i64 = col(row, name)?;
    DeliveryStatus::from_i64(v)
        .ok_or_else(|| StoreError::Corrupt(format!("column {name}: unknown status {v}")))
}

fn throttle_col(row: &SqliteRow) -> StoreResult<Option<u16>> {
    let v: Option<i64> = col(row, "throttle_rate")?;
    v.map(|v| {
        u16::try_from(v)
            .map_err(|_| StoreError::Corrupt(format!("throttle_rate {v} is out of range")))
    })
    .transpose()
}

/// Maps a write error: unique violations become `Conflict(what)`, a missing parent row
/// (foreign-key violation) becomes `NotFound`.
pub(super) fn write_err(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.kind() == ErrorKind::UniqueViolation => {
            StoreError::Conflict(what.to_owned())
        }
        sqlx::Error::Database(d) if d.kind() == ErrorKind::ForeignKeyViolation => {
            StoreError::NotFound
        }
        _ => StoreError::Database(e),
    }
}

/// `NotFound` when a write touched no row.
pub(super) fn affected(rows: u64) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Appends the cursor condition, order and `LIMIT limit + 1` of a listing sorted by `key`.
/// The query must already have a `WHERE` clause.
pub(super) fn push_page(qb: &mut QueryBuilder<'_, Sqlite>, key: &str, page: &PageRequest) {
    let ascending = page.fetch_ascending();
    if let Some(cursor) = &page.cursor {
        qb.push(" AND ")
            .push(key)
            .push(if ascending { " > " } else { " < " })
            .push_bind(cursor.key.clone());
    }
    qb.push(" ORDER BY ")
        .push(key)
        .push(if ascending { " ASC" } else { " DESC" })
        .push(" LIMIT ")
        .push_bind(i64::try_from(page.limit.saturating_add(1)).unwrap_or(i64::MAX));
}

/// Appends ` AND <expr> IN (?, ?, …)`; an empty list matches nothing.
pub(super) fn push_in<'a>(
    qb: &mut QueryBuilder<'a, Sqlite>,
    expr: &str,
    values: impl IntoIterator<Item = &'a str>,
) {
    let mut values = values.into_iter().peekable();
    if values.peek().is_none() {
        qb.push(" AND 0");
        return;
    }
    qb.push(" AND ").push(expr).push(" IN (");
    let mut list = qb.separated(", ");
    for v in values {
        list.push_bind(v);
    }
    list.push_unseparated(")");
}

/// Appends a filter on a JSON array column of channels containing `channel`.
pub(super) fn push_channel<'a>(qb: &mut QueryBuilder<'a, Sqlite>, column: &str, channel: &'a str) {
    qb.push(" AND EXISTS (SELECT 1 FROM json_each(")
        .push(column)
        .push(") WHERE json_each.value = ")
        .push_bind(channel)
        .push(")");
}

/// Decodes an `APP_COLS` row.
pub(super) fn application(row: &SqliteRow) -> StoreResult<Application> {
    Ok(Application {
        id: AppId::from_trusted(col(row, "id")?),
        uid: col::<Option<String>>(row, "uid")?.map(Uid::from_trusted),
        name: col(row, "name")?,
        throttle_rate: throttle_col(row)?,
        metadata: json_col(row, "metadata")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
    })
}

/// Decodes an `ENDPOINT_COLS` row, opening its secrets with `sealer`; retired secrets
/// expired at `now` are left out.
pub(super) fn endpoint(row: &SqliteRow, now: i64, sealer: &Sealer) -> StoreResult<Endpoint> {
    let id: String = col(row, "id")?;
    let retired = col::<String>(row, "retired_secrets")?;
    let retired_secrets = open_retired(sealer, &id, &retired, now)?
        .into_iter()
        .map(|(secret, expires_at)| {
            Ok(RetiredSecret {
                secret,
                expires_at: from_ms(expires_at)?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(Endpoint {
        secret: sealer.open_secret(&id, &col::<String>(row, "secret")?)?,
        id: EndpointId::from_trusted(id),
        app_id: AppId::from_trusted(col(row, "app_id")?),
        uid: col::<Option<String>>(row, "uid")?.map(Uid::from_trusted),
        url: EndpointUrl::from_trusted(col(row, "url")?),
        description: col(row, "description")?,
        disabled: col(row, "disabled")?,
        disabled_reason: col(row, "disabled_reason")?,
        concurrency_limit: col::<Option<i64>>(row, "concurrency_limit")?
            .and_then(|n| u32::try_from(n).ok()),
        event_types: json_col_opt::<Vec<String>>(row, "event_types")?
            .map(|v| v.into_iter().map(EventTypeName::from_trusted).collect()),
        channels: json_col_opt::<Vec<String>>(row, "channels")?
            .map(|v| v.into_iter().map(Channel::from_trusted).collect()),
        throttle_rate: throttle_col(row)?,
        metadata: json_col(row, "metadata")?,
        headers: json_col(row, "headers")?,
        retired_secrets,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
    })
}

/// Decodes an `EVENT_TYPE_COLS` row.
pub(super) fn event_type(row: &SqliteRow) -> StoreResult<EventType> {
    Ok(EventType {
        name: EventTypeName::from_trusted(col(row, "name")?),
        description: col(row, "description")?,
        archived: col(row, "archived")?,
        deprecated: col(row, "deprecated")?,
        feature_flag: col(row, "feature_flag")?,
        schemas: json_col_opt(row, "schemas")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
    })
}

/// Decodes a `MESSAGE_COLS` row.
pub(super) fn message(row: &SqliteRow) -> StoreResult<Message> {
    Ok(Message {
        id: MessageId::from_trusted(col(row, "id")?),
        app_id: AppId::from_trusted(col(row, "app_id")?),
        event_type: EventTypeName::from_trusted(col(row, "event_type")?),
        event_id: col::<Option<String>>(row, "event_id")?.map(Uid::from_trusted),
        channels: json_col_opt::<Vec<String>>(row, "channels")?
            .map(|v| v.into_iter().map(Channel::from_trusted).collect()),
        payload: col(row, "payload")?,
        created_at: time_col(row, "created_at")?,
    })
}

/// Decodes an `ATTEMPT_COLS` row.
pub(super) fn attempt(row: &SqliteRow) -> StoreResult<Attempt> {
    let error_class = col::<Option<String>>(row, "error_class")?
        .map(|s| {
            ErrorClass::from_str_opt(&s)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown error class {s:?}")))
        })
        .transpose()?;
    Ok(Attempt {
        id: AttemptId::from_trusted(col(row, "id")?),
        msg_id: MessageId::from_trusted(col(row, "msg_id")?),
        endpoint_id: EndpointId::from_trusted(col(row, "endpoint_id")?),
        app_id: AppId::from_trusted(col(row, "app_id")?),
        url: EndpointUrl::from_trusted(col(row, "url")?),
        status: status_col(row, "status")?,
        response_status_code: col(row, "response_status_code")?,
        response: col(row, "response")?,
        response_duration_ms: col(row, "response_duration_ms")?,
        trigger_type: TriggerType::from_i64(col(row, "trigger_type")?),
        error_class,
        created_at: time_col(row, "created_at")?,
    })
}

/// Decodes the `DELIVERY_STATE_COLS` of a row; the next attempt is known only while pending.
pub(super) fn delivery_state(row: &SqliteRow) -> StoreResult<DeliveryState> {
    let status = status_col(row, "d_status")?;
    let due: Option<i64> = col(row, "d_due_at")?;
    let next_attempt = match (status, due) {
        (DeliveryStatus::Pending, Some(t)) => Some(from_ms(t)?),
        _ => None,
    };
    Ok(DeliveryState {
        status,
        next_attempt,
    })
}
