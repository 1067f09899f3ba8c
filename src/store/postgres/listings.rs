//! Attempt log and the "attempted destinations / messages" views over deliveries.

use super::codec::{
    ATTEMPT_COLS, DELIVERY_STATE_COLS, ENDPOINT_COLS, MESSAGE_COLS, affected, attempt,
    delivery_state, endpoint, message, ms, now_ms, push_any, push_channel,
};
use super::messages::push_message_filter;
use super::{PostgresStore, fetch_page};
use crate::domain::{AppId, AttemptId, EndpointId, EventTypeName, MessageId};
use crate::store::{
    Attempt, AttemptFilter, DeliveryState, Endpoint, Message, MessageFilter, Page, PageRequest,
    StoreResult,
};
use sqlx::QueryBuilder;

/// Attempts of the application, sorted by id, narrowed by every field of `filter`.
pub(super) async fn attempts(
    db: &PostgresStore,
    app_id: &AppId,
    filter: &AttemptFilter,
    page: &PageRequest,
) -> StoreResult<Page<Attempt>> {
    let needs_message = filter.channel.is_some() || filter.event_types.is_some();
    let mut qb = QueryBuilder::new(format!("SELECT {ATTEMPT_COLS} FROM attempts t"));
    if needs_message {
        qb.push(" JOIN messages m ON m.id = t.msg_id");
    }
    qb.push(" WHERE t.app_id = ").push_bind(app_id.as_str());
    if let Some(msg_id) = &filter.msg_id {
        qb.push(" AND t.msg_id = ").push_bind(msg_id.as_str());
    }
    if let Some(endpoint_id) = &filter.endpoint_id {
        qb.push(" AND t.endpoint_id = ")
            .push_bind(endpoint_id.as_str());
    }
    if let Some(status) = filter.status {
        qb.push(" AND t.status = ").push_bind(status as i16);
    }
    match filter.status_code_class {
        None => {}
        Some(0) => {
            qb.push(" AND t.response_status_code = 0");
        }
        Some(class) => {
            // i32, not i16: `low + 100` for a class near 32,700 would not fit a smallint.
            let low = i32::from(class / 100 * 100);
            qb.push(" AND t.response_status_code >= ")
                .push_bind(low)
                .push(" AND t.response_status_code < ")
                .push_bind(low + 100);
        }
    }
    if let Some(channel) = &filter.channel {
        push_channel(&mut qb, "m.channels", channel.as_str());
    }
    if let Some(types) = &filter.event_types {
        push_any(
            &mut qb,
            "m.event_type",
            types.iter().map(EventTypeName::as_str),
        );
    }
    if let Some(before) = filter.before {
        qb.push(" AND t.created_at < ").push_bind(ms(before));
    }
    if let Some(after) = filter.after {
        qb.push(" AND t.created_at > ").push_bind(ms(after));
    }
    let rows = fetch_page(&db.pool, qb, "t.id", page).await?;
    let items = rows.iter().map(attempt).collect::<StoreResult<_>>()?;
    Ok(Page::from_rows(items, page))
}

pub(super) async fn get_attempt(
    db: &PostgresStore,
    app_id: &AppId,
    msg_id: &MessageId,
    id: &AttemptId,
) -> StoreResult<Option<Attempt>> {
    let row = sqlx::query(&format!(
        "SELECT {ATTEMPT_COLS} FROM attempts t
         WHERE t.app_id = $1 AND t.msg_id = $2 AND t.id = $3"
    ))
    .bind(app_id.as_str())
    .bind(msg_id.as_str())
    .bind(id.as_str())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(attempt).transpose()
}

pub(super) async fn expunge_attempt(
    db: &PostgresStore,
    app_id: &AppId,
    msg_id: &MessageId,
    id: &AttemptId,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE attempts SET response = '' WHERE app_id = $1 AND msg_id = $2 AND id = $3",
    )
    .bind(app_id.as_str())
    .bind(msg_id.as_str())
    .bind(id.as_str())
    .execute(&db.pool)
    .await?;
    affected(done.rows_affected())
}

/// The endpoints a message has a delivery to, sorted by endpoint id: the application's
/// endpoints in order, each probed for a delivery of the message (deliveries are indexed
/// by endpoint first).
pub(super) async fn attempted_destinations(
    db: &PostgresStore,
    app_id: &AppId,
    msg_id: &MessageId,
    page: &PageRequest,
) -> StoreResult<Page<(Endpoint, DeliveryState)>> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {ENDPOINT_COLS}, {DELIVERY_STATE_COLS}
         FROM endpoints e JOIN deliveries d ON d.endpoint_id = e.id
         WHERE e.app_id = "
    ));
    qb.push_bind(app_id.as_str())
        .push(" AND d.msg_id = ")
        .push_bind(msg_id.as_str());
    let rows = fetch_page(&db.pool, qb, "e.id", page).await?;
    let now = now_ms();
    let items = rows
        .iter()
        .map(|r| Ok((endpoint(r, now, &db.sealer)?, delivery_state(r)?)))
        .collect::<StoreResult<_>>()?;
    Ok(Page::from_rows(items, page))
}

/// The messages an endpoint has a delivery of, sorted by message id; `filter.status` is
/// the delivery's status.
pub(super) async fn attempted_messages(
    db: &PostgresStore,
    app_id: &AppId,
    endpoint_id: &EndpointId,
    filter: &MessageFilter,
    page: &PageRequest,
) -> StoreResult<Page<(Message, DeliveryState)>> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {MESSAGE_COLS}, {DELIVERY_STATE_COLS}
         FROM deliveries d JOIN messages m ON m.id = d.msg_id
         WHERE d.app_id = "
    ));
    qb.push_bind(app_id.as_str())
        .push(" AND d.endpoint_id = ")
        .push_bind(endpoint_id.as_str());
    if let Some(status) = filter.status {
        qb.push(" AND d.status = ").push_bind(status as i16);
    }
    push_message_filter(&mut qb, filter);
    let rows = fetch_page(&db.pool, qb, "d.msg_id", page).await?;
    let items = rows
        .iter()
        .map(|r| Ok((message(r)?, delivery_state(r)?)))
        .collect::<StoreResult<_>>()?;
    Ok(Page::from_rows(items, page))
}
