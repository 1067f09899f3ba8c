//! Messages: the fan-out transaction, lookups and listings.

use super::SqliteStore;
use super::codec::{
    CHUNK, MESSAGE_COLS, affected, col, json_col_opt, message, ms, now_ms, push_channel, push_in,
    push_page, to_json_opt, write_err,
};
use crate::domain::routing::subscribes;
use crate::domain::{AppId, Channel, EndpointId, EventTypeName, MessageId};
use crate::store::ingest::Job;
use crate::store::{
    Message, MessageFilter, NewMessage, Page, PageRequest, StoreError, StoreResult, TriggerType,
};
use sqlx::{Acquire, SqlitePool};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::HashMap;
use tokio::sync::Notify;

const EVENT_ID_TAKEN: &str = "a message with this eventId already exists";

/// Commits the message and its pending deliveries, due now, in one transaction.
///
/// With `only` set, the single delivery goes to that endpoint as a manual attempt whatever
/// its filters (`send-example`); otherwise to every enabled endpoint that subscribes.
/// Returns how many deliveries were created.
///
/// # Errors
/// `Conflict` if the application already has the `eventId`; `NotFound` if the application,
/// or the `only` endpoint, does not exist.
pub(super) async fn create(
    write: &SqlitePool,
    new: &NewMessage,
    only: Option<&EndpointId>,
) -> StoreResult<usize> {
    let mut tx = write.begin_with("BEGIN IMMEDIATE").await?;
    let created = insert(&mut tx, new, only, &mut Endpoints::default()).await?;
    tx.commit().await?;
    Ok(created)
}

/// Commits a batch of posted messages in one transaction (see `store::ingest`); wakes a
/// waiting worker if any delivery was created. The batch goes in as it is; only if a message
/// is refused (a taken `eventId`, a missing application) is it redone with each message in a
/// savepoint of its own, so that the refused one leaves the others in. If the transaction
/// itself fails, the messages are written one by one so each caller gets its own answer.
pub(super) async fn write_batch(write: &SqlitePool, batch: Vec<Job>, work: &Notify) {
    let answers = match write_all(write, &batch).await {
        Ok(answers) => answers,
        Err(_) => write_each(write, &batch).await,
    };
    if answers.iter().any(|a| matches!(a, Ok(n) if *n > 0)) {
        super::wake(work);
    }
    for (job, answer) in batch.into_iter().zip(answers) {
        let _ = job.reply.send(answer);
    }
}

/// The batch in one transaction, or nothing if any message is refused.
async fn write_all(write: &SqlitePool, batch: &[Job]) -> StoreResult<Vec<StoreResult<usize>>> {
    let mut tx = write.begin_with("BEGIN IMMEDIATE").await?;
    let created = insert_batch(&mut tx, batch, &mut Endpoints::default()).await?;
    tx.commit().await?;
    Ok(created.into_iter().map(Ok).collect())
}

/// The batch in one transaction with a savepoint per message, or else one by one.
async fn write_each(write: &SqlitePool, batch: &[Job]) -> Vec<StoreResult<usize>> {
    let mut answers = Vec::with_capacity(batch.len());
    let committed = async {
        let mut tx = write.begin_with("BEGIN IMMEDIATE").await?;
        let mut endpoints = Endpoints::default();
        for job in batch {
            let mut savepoint = tx.begin().await?;
            match insert(&mut savepoint, &job.message, None, &mut endpoints).await {
                Ok(created) => {
                    savepoint.commit().await?;
                    answers.push(Ok(created));
                }
                Err(refused) => {
                    savepoint.rollback().await?;
                    answers.push(Err(refused));
                }
            }
        }
        tx.commit().await
    }
    .await;
    if committed.is_err() {
        answers.clear();
        for job in batch {
            answers.push(create(write, &job.message, None).await);
        }
    }
    answers
}

/// Inserts the message and its pending deliveries on `conn`, inside the caller's
/// transaction; returns how many deliveries were created.
async fn insert(
    conn: &mut SqliteConnection,
    new: &NewMessage,
    only: Option<&EndpointId>,
    endpoints: &mut Endpoints,
) -> StoreResult<usize> {
    let msg = &new.message;
    insert_messages(&mut *conn, &[new]).await?;
    let (targets, trigger) = match only {
        Some(id) => {
            let found: Option<String> =
                sqlx::query_scalar("SELECT id FROM endpoints WHERE app_id = ? AND id = ?")
                    .bind(msg.app_id.as_str())
                    .bind(id.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
            (
                vec![found.ok_or(StoreError::NotFound)?],
                TriggerType::Manual,
            )
        }
        None => (
            endpoints.subscribers(&mut *conn, msg).await?,
            TriggerType::Scheduled,
        ),
    };
    let rows: Vec<(&Message, String)> = targets.into_iter().map(|t| (msg, t)).collect();
    insert_deliveries(conn, &rows, trigger).await?;
    Ok(rows.len())
}

/// Inserts the messages and the pending deliveries to their subscribers on `conn`, inside
/// the caller's transaction, in a few multi-row statements; returns how many deliveries
/// each message got. Any message refused fails the whole batch.
async fn insert_batch(
    conn: &mut SqliteConnection,
    batch: &[Job],
    endpoints: &mut Endpoints,
) -> StoreResult<Vec<usize>> {
    let news: Vec<&NewMessage> = batch.iter().map(|job| &job.message).collect();
    insert_messages(&mut *conn, &news).await?;
    let mut rows = Vec::new();
    let mut created = Vec::with_capacity(news.len());
    for new in news {
        let targets = endpoints.subscribers(&mut *conn, &new.message).await?;
        created.push(targets.len());
        rows.extend(targets.into_iter().map(|t| (&new.message, t)));
    }
    insert_deliveries(conn, &rows, TriggerType::Scheduled).await?;
    Ok(created)
}

/// Inserts the messages' rows; `Conflict` if one's `eventId` is taken, `NotFound` if one's
/// application does not exist.
async fn insert_messages(conn: &mut SqliteConnection, news: &[&NewMessage]) -> StoreResult<()> {
    let channels = news
        .iter()
        .map(|new| to_json_opt(new.message.channels.as_ref()))
        .collect::<StoreResult<Vec<_>>>()?;
    let rows: Vec<(&NewMessage, Option<String>)> = news.iter().copied().zip(channels).collect();
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO messages \
             (id, app_id, event_type, event_id, channels, payload, created_at, expires_at) ",
        );
        qb.push_values(chunk, |mut row, (new, channels)| {
            let msg = &new.message;
            let expires_at = msg
                .created_at
                .checked_add_signed(new.retention)
                .map(ms)
                .unwrap_or(i64::MAX);
            row.push_bind(msg.id.as_str())
                .push_bind(msg.app_id.as_str())
                .push_bind(msg.event_type.as_str())
                .push_bind(msg.event_id.as_ref().map(|u| u.as_str()))
                .push_bind(channels.as_deref())
                .push_bind(msg.payload.as_deref())
                .push_bind(ms(msg.created_at))
                .push_bind(expires_at);
        });
        qb.build()
            .execute(&mut *conn)
            .await
            .map_err(write_err(EVENT_ID_TAKEN))?;
    }
    Ok(())
}

/// Inserts a pending delivery, due now, for each (message, endpoint id).
async fn insert_deliveries(
    conn: &mut SqliteConnection,
    rows: &[(&Message, String)],
    trigger: TriggerType,
) -> StoreResult<()> {
    let now = now_ms();
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, attempts, \
             trigger_type, due_at, created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut row, (msg, endpoint_id)| {
            row.push_bind(msg.app_id.as_str())
                .push_bind(msg.id.as_str())
                .push_bind(endpoint_id.as_str())
                .push("1, 0")
                .push_bind(trigger as i64)
                .push_bind(now)
                .push_bind(now)
                .push_bind(now);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Applications' enabled endpoints with their filters, read once per application per write
/// transaction (which holds the database's write lock, so they cannot change meanwhile).
#[derive(Default)]
struct Endpoints(HashMap<AppId, Vec<Filters>>);

/// An endpoint id with its event type and channel filters.
type Filters = (String, Option<Vec<EventTypeName>>, Option<Vec<Channel>>);

impl Endpoints {
    /// Ids of the application's enabled endpoints whose filters accept the message.
    async fn subscribers(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Message,
    ) -> StoreResult<Vec<String>> {
        if !self.0.contains_key(&msg.app_id) {
            let rows = sqlx::query(
                "SELECT id, event_types, channels FROM endpoints WHERE app_id = ? AND disabled = 0",
            )
            .bind(msg.app_id.as_str())
            .fetch_all(conn)
            .await?;
            let filters = rows
                .iter()
                .map(|row| {
                    let types = json_col_opt::<Vec<String>>(row, "event_types")?
                        .map(|v| v.into_iter().map(EventTypeName::from_trusted).collect());
                    let channels = json_col_opt::<Vec<String>>(row, "channels")?
                        .map(|v| v.into_iter().map(Channel::from_trusted).collect());
                    Ok((col(row, "id")?, types, channels))
                })
                .collect::<StoreResult<Vec<Filters>>>()?;
            self.0.insert(msg.app_id.clone(), filters);
        }
        let filters = self.0.get(&msg.app_id).map_or(&[][..], Vec::as_slice);
        Ok(filters
            .iter()
            .filter(|(_, types, channels)| {
                subscribes(
                    types.as_deref(),
                    channels.as_deref(),
                    &msg.event_type,
                    msg.channels.as_deref(),
                )
            })
            .map(|(id, _, _)| id.clone())
            .collect())
    }
}

/// Matches the id first, then the `eventId`.
pub(super) async fn get(
    db: &SqliteStore,
    app_id: &AppId,
    key: &str,
) -> StoreResult<Option<Message>> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLS} FROM messages m
         WHERE m.app_id = ?1 AND (m.id = ?2 OR m.event_id = ?2)
         ORDER BY m.id = ?2 DESC LIMIT 1"
    ))
    .bind(app_id.as_str())
    .bind(key)
    .fetch_optional(&db.read)
    .await?;
    row.as_ref().map(message).transpose()
}

/// Appends the message filters shared by message and attempted-message listings; the
/// messages table must be aliased `m`. `filter.status` is not applied here.
pub(super) fn push_message_filter<'a>(
    qb: &mut QueryBuilder<'a, Sqlite>,
    filter: &'a MessageFilter,
) {
    if let Some(channel) = &filter.channel {
        push_channel(qb, "m.channels", channel.as_str());
    }
    if let Some(types) = &filter.event_types {
        push_in(qb, "m.event_type", types.iter().map(EventTypeName::as_str));
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
    db: &SqliteStore,
    app_id: &AppId,
    filter: &MessageFilter,
    page: &PageRequest,
) -> StoreResult<Page<Message>> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {MESSAGE_COLS} FROM messages m WHERE m.app_id = "
    ));
    qb.push_bind(app_id.as_str());
    push_message_filter(&mut qb, filter);
    push_page(&mut qb, "m.id", page);
    let rows = qb.build().fetch_all(&db.read).await?;
    let items = rows.iter().map(message).collect::<StoreResult<_>>()?;
    Ok(Page::from_rows(items, page))
}

pub(super) async fn expunge(db: &SqliteStore, app_id: &AppId, id: &MessageId) -> StoreResult<()> {
    let done = sqlx::query("UPDATE messages SET payload = NULL WHERE app_id = ? AND id = ?")
        .bind(app_id.as_str())
        .bind(id.as_str())
        .execute(&db.write)
        .await?;
    affected(done.rows_affected())
}
