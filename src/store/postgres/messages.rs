//! Messages: the fan-out transaction, lookups and listings.

use super::codec::{
    MESSAGE_COLS, affected, channel_names, message, ms, push_any, push_channel, write_err,
};
use super::notify;
use super::{PostgresStore, fetch_page};
use crate::domain::{AppId, EndpointId, EventTypeName, MessageId};
use crate::store::{
    Message, MessageFilter, NewMessage, Page, PageRequest, StoreResult, TriggerType,
};
use sqlx::{PgPool, Postgres, QueryBuilder};

pub(super) const EVENT_ID_TAKEN: &str = "a message with this eventId already exists";

/// Ends a statement that writes deliveries or attempts of the endpoints aliased `e`: it
/// holds them until commit, so an endpoint being deleted is either waited for or skipped,
/// and no row is written for an endpoint that is gone (the queue tables have no foreign
/// keys; see the `queue_without_foreign_keys` migration).
pub(super) const LOCK_ENDPOINTS: &str = "FOR KEY SHARE OF e";

/// Commits the message and its pending deliveries, due now by the database clock, in one
/// transaction, and wakes idle workers when it commits if any delivery was created. (Posted
/// messages normally go through `ingest`, which writes many at once with the same effect.)
///
/// With `only` set, the single delivery goes to that endpoint as a manual attempt whatever
/// its filters (`send-example`); otherwise to every enabled endpoint that subscribes.
/// Returns how many deliveries were created.
///
/// # Errors
/// `Conflict` if the application already has the `eventId`; `NotFound` if the application,
/// or the `only` endpoint, does not exist.
pub(super) async fn create_one(
    pool: &PgPool,
    new: &NewMessage,
    only: Option<&EndpointId>,
) -> StoreResult<usize> {
    let msg = &new.message;
    // A retention too long to represent means "never expires".
    let expires_at = msg.created_at.checked_add_signed(new.retention).map(ms);
    let channels = channel_names(msg.channels.as_ref());
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO messages
             (id, app_id, event_type, event_id, channels, payload, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(msg.id.as_str())
    .bind(msg.app_id.as_str())
    .bind(msg.event_type.as_str())
    .bind(msg.event_id.as_ref().map(|u| u.as_str()))
    .bind(&channels)
    .bind(msg.payload.as_deref())
    .bind(ms(msg.created_at))
    .bind(expires_at)
    .execute(&mut *tx)
    .await
    .map_err(write_err(EVENT_ID_TAKEN))?;

    let insert = "INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, attempts, \
                  trigger_type, due_at, created_at, updated_at) \
                  SELECT e.app_id, $2, e.id, 1, 0, $3, now(), now(), now() FROM endpoints e \
                  WHERE e.app_id = $1";
    let created = match only {
        Some(endpoint_id) => {
            let done = sqlx::query(&format!("{insert} AND e.id = $4 {LOCK_ENDPOINTS}"))
                .bind(msg.app_id.as_str())
                .bind(msg.id.as_str())
                .bind(TriggerType::Manual as i16)
                .bind(endpoint_id.as_str())
                .execute(&mut *tx)
                .await?;
            affected(done.rows_affected())?;
            1
        }
        // The filter is `domain::routing::subscribes` in SQL, so the fan-out is one
        // statement however many endpoints the application has: no type filter or the type
        // listed; no channel filter, or the message shares a channel with it (a message on
        // no channel matches no channel filter: `NULL && x` is not true).
        None => {
            let done = sqlx::query(&format!(
                "{insert} AND NOT e.disabled
                 AND (e.event_types IS NULL OR $4 = ANY(e.event_types))
                 AND (e.channels IS NULL OR e.channels && $5::text[]) {LOCK_ENDPOINTS}"
            ))
            .bind(msg.app_id.as_str())
            .bind(msg.id.as_str())
            .bind(TriggerType::Scheduled as i16)
            .bind(msg.event_type.as_str())
            .bind(&channels)
            .execute(&mut *tx)
            .await?;
            usize::try_from(done.rows_affected()).unwrap_or(usize::MAX)
        }
    };
    if created > 0 {
        notify::work_available(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(created)
}

/// Matches the id first, then the `eventId`.
pub(super) async fn get(
    db: &PostgresStore,
    app_id: &AppId,
    key: &str,
) -> StoreResult<Option<Message>> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLS} FROM messages m
         WHERE m.app_id = $1 AND (m.id = $2 OR m.event_id = $2)
         ORDER BY m.id = $2 DESC LIMIT 1"
    ))
    .bind(app_id.as_str())
    .bind(key)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(message).transpose()
}

/// Appends the message filters shared by message and attempted-message listings; the
/// messages table must be aliased `m`. `filter.status` is not applied here.
pub(super) fn push_message_filter<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    filter: &'a MessageFilter,
) {
    if let Some(channel) = &filter.channel {
        push_channel(qb, "m.channels", channel.as_str());
    }
    if let Some(types) = &filter.event_types {
        push_any(qb, "m.event_type", types.iter().map(EventTypeName::as_str));
    }
    if let Some(before) = filter.before {
        qb.push(" AND m.created_at < ").push_bind(ms(before));
    }
    if let Some(after) = filter.after {
        qb.push(" AND m.created_at > ").push_bind(ms(after));
    }
}

/// Sorted by id; `filter.status` does not apply to this listing.
pub(super) async fn list(
    db: &PostgresStore,
    app_id: &AppId,
    filter: &MessageFilter,
    page: &PageRequest,
) -> StoreResult<Page<Message>> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {MESSAGE_COLS} FROM messages m WHERE m.app_id = "
    ));
    qb.push_bind(app_id.as_str());
    push_message_filter(&mut qb, filter);
    let rows = fetch_page(&db.pool, qb, "m.id", page).await?;
    let items = rows.iter().map(message).collect::<StoreResult<_>>()?;
    Ok(Page::from_rows(items, page))
}

pub(super) async fn expunge(db: &PostgresStore, app_id: &AppId, id: &MessageId) -> StoreResult<()> {
    let done = sqlx::query("UPDATE messages SET payload = NULL WHERE app_id = $1 AND id = $2")
        .bind(app_id.as_str())
        .bind(id.as_str())
        .execute(&db.pool)
        .await?;
    affected(done.rows_affected())
}
