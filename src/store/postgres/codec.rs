//! Conversions between Postgres values and store records, shared by the area modules.
//!
//! Timestamps are `timestamptz` at millisecond resolution: values are truncated before they
//! are written and again when read (the database clock, used for `due_at`, has microseconds),
//! so this store returns and compares the same instants as the SQLite one. jsonb columns are
//! bound as text and cast in SQL (`$1::jsonb`), and read back as `col::text`, so no sqlx JSON
//! feature is needed. Anything that cannot be read back is [`StoreError::Corrupt`].

use crate::domain::{
    AppId, AttemptId, Channel, EndpointId, EndpointSecret, EndpointUrl, EventTypeName, MessageId,
    Uid,
};
use crate::store::secret_columns::open_retired;
use crate::store::{
    Application, Attempt, DeliveryState, DeliveryStatus, Endpoint, ErrorClass, EventType, Message,
    PageRequest, RetiredSecret, Sealer, StoreError, StoreResult, TriggerType,
};
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::error::ErrorKind;
use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, QueryBuilder, Row, Type};

/// Column lists; every query aliases its tables the same way (a, e, t, m, d).
pub(super) const APP_COLS: &str = "a.id AS id, a.uid AS uid, a.name AS name, \
    a.throttle_rate AS throttle_rate, a.metadata::text AS metadata, \
    a.created_at AS created_at, a.updated_at AS updated_at";
pub(super) const ENDPOINT_COLS: &str = "e.id AS id, e.app_id AS app_id, e.uid AS uid, \
    e.url AS url, e.description AS description, e.disabled AS disabled, \
    e.event_types AS event_types, e.channels AS channels, e.throttle_rate AS throttle_rate, \
    e.metadata::text AS metadata, e.headers::text AS headers, e.secret AS secret, \
    e.retired_secrets::text AS retired_secrets, e.created_at AS created_at, \
    e.updated_at AS updated_at, e.disabled_reason AS disabled_reason, \
    e.concurrency_limit AS concurrency_limit";
pub(super) const EVENT_TYPE_COLS: &str = "t.name AS name, t.description AS description, \
    t.archived AS archived, t.deprecated AS deprecated, t.feature_flag AS feature_flag, \
    t.schemas::text AS schemas, t.created_at AS created_at, t.updated_at AS updated_at";
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

/// One field of every row, as an array parameter for `UNNEST`.
pub(super) fn column<'a, R, T>(rows: &'a [R], field: impl Fn(&'a R) -> T) -> Vec<T> {
    rows.iter().map(field).collect()
}

/// The current time in the stored resolution.
pub(super) fn now_ms() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// A timestamp in the stored resolution.
pub(super) fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// Milliseconds of a `std` duration, saturating.
pub(super) fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Reads unix milliseconds kept inside a JSON value (retired secrets).
pub(super) fn from_unix_ms(v: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {v} is out of range")))
}

/// Encodes a value as JSON text, for a `$n::jsonb` parameter.
pub(super) fn to_json<T: Serialize + ?Sized>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode JSON: {e}")))
}

/// Encodes an optional value as JSON text, `None` as SQL NULL.
pub(super) fn to_json_opt<T: Serialize>(v: Option<&T>) -> StoreResult<Option<String>> {
    v.map(to_json).transpose()
}

/// An optional event-type filter as a `text[]` parameter (NULL = every type).
pub(super) fn type_names(v: Option<&Vec<EventTypeName>>) -> Option<Vec<&str>> {
    v.map(|v| v.iter().map(EventTypeName::as_str).collect())
}

/// An optional channel list as a `text[]` parameter (NULL = none given).
pub(super) fn channel_names(v: Option<&Vec<Channel>>) -> Option<Vec<&str>> {
    v.map(|v| v.iter().map(Channel::as_str).collect())
}

/// A column, with decode failures reported as corruption.
pub(super) fn col<'r, T>(row: &'r PgRow, name: &str) -> StoreResult<T>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// A jsonb column selected as `::text`.
pub(super) fn json_col<T: DeserializeOwned>(row: &PgRow, name: &str) -> StoreResult<T> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// A nullable jsonb column selected as `::text`.
pub(super) fn json_col_opt<T: DeserializeOwned>(row: &PgRow, name: &str) -> StoreResult<Option<T>> {
    let text: Option<String> = col(row, name)?;
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// A `timestamptz` column, in the stored resolution.
pub(super) fn time_col(row: &PgRow, name: &str) -> StoreResult<DateTime<Utc>> {
    col::<DateTime<Utc>>(row, name).map(ms)
}

fn status_col(row: &PgRow, name: &str) -> StoreResult<DeliveryStatus> {
    let v: i16 = col(row, name)?;
    DeliveryStatus::from_i64(i64::from(v))
        .ok_or_else(|| StoreError::Corrupt(format!("column {name}: unknown status {v}")))
}

/// A `smallint` trigger-type column.
pub(super) fn trigger_col(row: &PgRow, name: &str) -> StoreResult<TriggerType> {
    Ok(TriggerType::from_i64(i64::from(col::<i16>(row, name)?)))
}

fn throttle_col(row: &PgRow) -> StoreResult<Option<u16>> {
    let v: Option<i32> = col(row, "throttle_rate")?;
    v.map(|v| {
        u16::try_from(v)
            .map_err(|_| StoreError::Corrupt(format!("throttle_rate {v} is out of range")))
    })
    .transpose()
}

/// Maps a write error: unique violations (SQLSTATE 23505) become `Conflict(what)`, a missing
/// parent row (foreign-key violation, 23503) becomes `NotFound`.
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

/// A `usize` limit as a `LIMIT` parameter.
pub(super) fn limit_param(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Appends the cursor condition, order and `LIMIT limit + 1` of a listing sorted by `key`,
/// a `COLLATE "C"` column, so the order is bytewise. The query must already have a `WHERE`.
pub(super) fn push_page(qb: &mut QueryBuilder<'_, Postgres>, key: &str, page: &PageRequest) {
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
        .push_bind(limit_param(page.limit.saturating_add(1)));
}

/// Appends ` AND <expr> = ANY($n)`; an empty list matches nothing.
pub(super) fn push_any<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    expr: &str,
    values: impl IntoIterator<Item = &'a str>,
) {
    let values: Vec<&'a str> = values.into_iter().collect();
    qb.push(" AND ")
        .push(expr)
        .push(" = ANY(")
        .push_bind(values)
        .push(")");
}

/// Appends a filter on a `text[]` column of channels containing `channel`; a NULL column
/// (published on no channel) does not match.
pub(super) fn push_channel<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    column: &str,
    channel: &'a str,
) {
    qb.push(" AND ")
        .push_bind(channel)
        .push(" = ANY(")
        .push(column)
        .push(")");
}

/// Decodes an `APP_COLS` row.
pub(super) fn application(row: &PgRow) -> StoreResult<Application> {
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

/// The current key of `endpoint_id` in a row's `secret` column and the retired ones in its
/// `retired_secrets` (selected as `::text`) that still sign at `now`, opened with `sealer`.
pub(super) fn secrets(
    row: &PgRow,
    endpoint_id: &str,
    now: DateTime<Utc>,
    sealer: &Sealer,
) -> StoreResult<(EndpointSecret, Vec<RetiredSecret>)> {
    let current = sealer.open_secret(endpoint_id, &col::<String>(row, "secret")?)?;
    let retired = col::<String>(row, "retired_secrets")?;
    let retired = open_retired(sealer, endpoint_id, &retired, now.timestamp_millis())?
        .into_iter()
        .map(|(secret, expires_at)| {
            Ok(RetiredSecret {
                secret,
                expires_at: from_unix_ms(expires_at)?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok((current, retired))
}

/// Decodes an `ENDPOINT_COLS` row, opening its secrets with `sealer`; retired secrets
/// expired at `now` are left out.
pub(super) fn endpoint(row: &PgRow, now: DateTime<Utc>, sealer: &Sealer) -> StoreResult<Endpoint> {
    let id: String = col(row, "id")?;
    let (secret, retired_secrets) = secrets(row, &id, now, sealer)?;
    Ok(Endpoint {
        secret,
        id: EndpointId::from_trusted(id),
        app_id: AppId::from_trusted(col(row, "app_id")?),
        uid: col::<Option<String>>(row, "uid")?.map(Uid::from_trusted),
        url: EndpointUrl::from_trusted(col(row, "url")?),
        description: col(row, "description")?,
        disabled: col(row, "disabled")?,
        disabled_reason: col(row, "disabled_reason")?,
        concurrency_limit: col::<Option<i32>>(row, "concurrency_limit")?
            .and_then(|n| u32::try_from(n).ok()),
        event_types: col::<Option<Vec<String>>>(row, "event_types")?
            .map(|v| v.into_iter().map(EventTypeName::from_trusted).collect()),
        channels: col::<Option<Vec<String>>>(row, "channels")?
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
pub(super) fn event_type(row: &PgRow) -> StoreResult<EventType> {
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
pub(super) fn message(row: &PgRow) -> StoreResult<Message> {
    Ok(Message {
        id: MessageId::from_trusted(col(row, "id")?),
        app_id: AppId::from_trusted(col(row, "app_id")?),
        event_type: EventTypeName::from_trusted(col(row, "event_type")?),
        event_id: col::<Option<String>>(row, "event_id")?.map(Uid::from_trusted),
        channels: col::<Option<Vec<String>>>(row, "channels")?
            .map(|v| v.into_iter().map(Channel::from_trusted).collect()),
        payload: col(row, "payload")?,
        created_at: time_col(row, "created_at")?,
    })
}

/// Decodes an `ATTEMPT_COLS` row.
pub(super) fn attempt(row: &PgRow) -> StoreResult<Attempt> {
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
        trigger_type: trigger_col(row, "trigger_type")?,
        error_class,
        created_at: time_col(row, "created_at")?,
    })
}

/// Decodes the `DELIVERY_STATE_COLS` of a row; the next attempt is known only while pending.
pub(super) fn delivery_state(row: &PgRow) -> StoreResult<DeliveryState> {
    let status = status_col(row, "d_status")?;
    let due: Option<DateTime<Utc>> = col(row, "d_due_at")?;
    let next_attempt = match (status, due) {
        (DeliveryStatus::Pending, Some(t)) => Some(ms(t)),
        _ => None,
    };
    Ok(DeliveryState {
        status,
        next_attempt,
    })
}
