//! The embedded store: one SQLite file, single writer.
//!
//! SQLite allows one writer at a time, so every write goes through a pool of exactly one
//! connection (no `SQLITE_BUSY` between our own writers) and runs in `BEGIN IMMEDIATE`
//! transactions (no lock upgrades that could fail against another process). Reads use a
//! separate pool of read-only connections, which WAL mode lets run beside the writer.
//! Waiting workers are woken in-process by a [`Notify`]; a worker in another process falls
//! back to polling, which `wait_for_work`'s timeout already provides.

mod apps;
mod codec;
mod delivery;
mod endpoints;
mod gate;
mod keys;
mod listings;
mod messages;
mod ops;
mod secrets;
mod tokens;

use super::*;
use crate::delivery::gate::{BreakerPolicy, ClaimPolicy};
use crate::domain::{AppId, AttemptId, EndpointId, EventTypeName, MessageId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a statement waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent readers.
const READ_CONNECTIONS: u32 = 8;

/// [`Store`] on a SQLite file.
pub struct SqliteStore {
    /// The single writer connection; all writes go here.
    write: SqlitePool,
    /// Read-only connections for queries.
    read: SqlitePool,
    /// Wakes `wait_for_work` when deliveries become due.
    work: Arc<Notify>,
    /// Writes posted messages in batches, one transaction each.
    ingest: super::ingest::Ingest,
    /// Seals endpoint secrets on the way in and opens them on the way out.
    sealer: Sealer,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite://PATH` or `sqlite:PATH` URL,
    /// keeping endpoint secrets as `sealer` says.
    ///
    /// # Errors
    /// If the URL is malformed or the file cannot be opened.
    pub async fn connect(url: &str, sealer: Sealer) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        // The writer opens first: it creates the file and switches it to WAL, which is a
        // property of the file, so readers need not set it. Connections to a file in this
        // process cannot be dropped by a server or a network, so neither pool checks them
        // before handing them out (a round trip to the connection's thread each time).
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .min_connections(1)
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // Zero what a write frees in its page (at no extra I/O), so a replaced
                    // or deleted secret does not linger in the file's free space.
                    .pragma("secure_delete", "FAST"),
            )
            .await?;
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(READ_CONNECTIONS)
            .connect_with(options.read_only(true))
            .await?;
        let work = Arc::new(Notify::new());
        // One writer task: SQLite has one writer connection anyway.
        let (pool, notify) = (write.clone(), work.clone());
        let ingest = super::ingest::Ingest::spawn(1, move |batch| {
            let (pool, notify) = (pool.clone(), notify.clone());
            async move { messages::write_batch(&pool, batch, &notify).await }
        });
        Ok(Self {
            write,
            read,
            work,
            ingest,
            sealer,
        })
    }

    /// Wakes one waiting worker now, or the next one to wait.
    fn wake(&self) {
        wake(&self.work);
    }
}

/// Wakes one worker waiting on `work` now, or the next one to wait.
fn wake(work: &Notify) {
    work.notify_waiters();
    work.notify_one();
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.write)
            .await?;
        Ok(())
    }

    async fn prepare_secrets_at_rest(&self) -> StoreResult<u64> {
        secrets::prepare(self).await
    }

    async fn api_token_hashes(&self) -> StoreResult<Vec<String>> {
        keys::api_token_hashes(self).await
    }

    async fn insert_api_token_hash(&self, hash: &str) -> StoreResult<()> {
        keys::insert_api_token_hash(self, hash).await
    }

    async fn insert_app_token(&self, token: &AppToken) -> StoreResult<()> {
        tokens::insert(self, token).await
    }

    async fn get_app_token(&self, hash: &str) -> StoreResult<Option<AppToken>> {
        tokens::get(self, hash).await
    }

    async fn delete_app_token(&self, hash: &str) -> StoreResult<()> {
        tokens::delete(self, hash).await
    }

    async fn create_application(&self, fields: &ApplicationFields) -> StoreResult<Application> {
        apps::create_application(self, fields).await
    }

    async fn get_application(&self, key: &str) -> StoreResult<Option<Application>> {
        apps::get_application(self, key).await
    }

    async fn list_applications(&self, page: &PageRequest) -> StoreResult<Page<Application>> {
        apps::list_applications(self, page).await
    }

    async fn update_application(
        &self,
        id: &AppId,
        fields: &ApplicationFields,
    ) -> StoreResult<Application> {
        apps::update_application(self, id, fields).await
    }

    async fn delete_application(&self, id: &AppId) -> StoreResult<()> {
        apps::delete_application(self, id).await
    }

    async fn create_endpoint(
        &self,
        app_id: &AppId,
        fields: &EndpointFields,
        secret: &crate::domain::EndpointSecret,
        headers: &BTreeMap<String, String>,
    ) -> StoreResult<Endpoint> {
        endpoints::create(self, app_id, fields, secret, headers).await
    }

    async fn get_endpoint(&self, app_id: &AppId, key: &str) -> StoreResult<Option<Endpoint>> {
        endpoints::get(self, app_id, key).await
    }

    async fn list_endpoints(
        &self,
        app_id: &AppId,
        page: &PageRequest,
    ) -> StoreResult<Page<Endpoint>> {
        endpoints::list(self, app_id, page).await
    }

    async fn update_endpoint(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        fields: &EndpointFields,
    ) -> StoreResult<Endpoint> {
        endpoints::update(self, app_id, id, fields).await
    }

    async fn delete_endpoint(&self, app_id: &AppId, id: &EndpointId) -> StoreResult<()> {
        endpoints::delete(self, app_id, id).await
    }

    async fn set_endpoint_headers(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        headers: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        endpoints::set_headers(self, app_id, id, headers).await
    }

    async fn rotate_endpoint_secret(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        new: &crate::domain::EndpointSecret,
        grace: Duration,
    ) -> StoreResult<()> {
        endpoints::rotate_secret(self, app_id, id, new, grace).await
    }

    async fn endpoint_stats(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<EndpointStats> {
        endpoints::stats(self, app_id, id, since, until).await
    }

    async fn create_event_type(
        &self,
        name: &EventTypeName,
        fields: &EventTypeFields,
    ) -> StoreResult<EventType> {
        apps::create_event_type(self, name, fields).await
    }

    async fn get_event_type(&self, name: &EventTypeName) -> StoreResult<Option<EventType>> {
        apps::get_event_type(self, name).await
    }

    async fn list_event_types(
        &self,
        page: &PageRequest,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>> {
        apps::list_event_types(self, page, include_archived).await
    }

    async fn update_event_type(
        &self,
        name: &EventTypeName,
        fields: &EventTypeFields,
    ) -> StoreResult<EventType> {
        apps::update_event_type(self, name, fields).await
    }

    async fn archive_event_type(&self, name: &EventTypeName) -> StoreResult<()> {
        apps::archive_event_type(self, name).await
    }

    async fn create_message(&self, message: &NewMessage) -> StoreResult<usize> {
        self.ingest.create(message.clone()).await
    }

    async fn create_message_for_endpoint(
        &self,
        message: &NewMessage,
        endpoint_id: &EndpointId,
    ) -> StoreResult<()> {
        messages::create(&self.write, message, Some(endpoint_id)).await?;
        self.wake();
        Ok(())
    }

    async fn get_message(&self, app_id: &AppId, key: &str) -> StoreResult<Option<Message>> {
        messages::get(self, app_id, key).await
    }

    async fn list_messages(
        &self,
        app_id: &AppId,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        messages::list(self, app_id, filter, page).await
    }

    async fn expunge_message_content(&self, app_id: &AppId, id: &MessageId) -> StoreResult<()> {
        messages::expunge(self, app_id, id).await
    }

    async fn list_attempts(
        &self,
        app_id: &AppId,
        filter: &AttemptFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        listings::attempts(self, app_id, filter, page).await
    }

    async fn get_attempt(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        id: &AttemptId,
    ) -> StoreResult<Option<Attempt>> {
        listings::get_attempt(self, app_id, msg_id, id).await
    }

    async fn expunge_attempt_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        id: &AttemptId,
    ) -> StoreResult<()> {
        listings::expunge_attempt(self, app_id, msg_id, id).await
    }

    async fn list_attempted_destinations(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        page: &PageRequest,
    ) -> StoreResult<Page<(Endpoint, DeliveryState)>> {
        listings::attempted_destinations(self, app_id, msg_id, page).await
    }

    async fn list_attempted_messages(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<(Message, DeliveryState)>> {
        listings::attempted_messages(self, app_id, endpoint_id, filter, page).await
    }

    async fn resend(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
    ) -> StoreResult<()> {
        delivery::resend(self, app_id, msg_id, endpoint_id).await?;
        self.wake();
        Ok(())
    }

    async fn recover(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<u64> {
        let queued = delivery::recover(self, app_id, endpoint_id, since, until).await?;
        if queued > 0 {
            self.wake();
        }
        Ok(queued)
    }

    async fn claim(
        &self,
        worker_id: &str,
        limit: usize,
        lease: Duration,
        policy: &ClaimPolicy,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        delivery::claim(self, worker_id, limit, lease, policy).await
    }

    async fn record_outcomes(
        &self,
        outcomes: &[Outcome],
        breaker: &BreakerPolicy,
    ) -> StoreResult<()> {
        delivery::record_outcomes(self, outcomes, breaker).await
    }

    async fn endpoint_health(
        &self,
        app_id: &AppId,
        id: &EndpointId,
    ) -> StoreResult<EndpointHealth> {
        gate::endpoint_health(self, app_id, id).await
    }

    async fn release(&self, worker_id: &str, delivery_ids: &[i64]) -> StoreResult<()> {
        if delivery::release(self, worker_id, delivery_ids).await? > 0 {
            self.wake();
        }
        Ok(())
    }

    async fn wait_for_work(&self, timeout: Duration) {
        // Elapsing is the polling fallback, not an error.
        let _ = tokio::time::timeout(timeout, self.work.notified()).await;
    }

    async fn queue_depth(&self) -> StoreResult<QueueDepth> {
        ops::queue_depth(self).await
    }

    async fn attempt_counts(
        &self,
        since: DateTime<Utc>,
        width: Duration,
    ) -> StoreResult<Vec<AttemptCount>> {
        ops::attempt_counts(self, since, width).await
    }

    async fn open_breakers(&self, limit: usize) -> StoreResult<OpenBreakers> {
        ops::open_breakers(self, limit).await
    }

    async fn idempotency_begin(
        &self,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<IdempotencyState> {
        keys::idempotency_begin(self, key, fingerprint).await
    }

    async fn idempotency_complete(&self, key: &str, response: &StoredResponse) -> StoreResult<()> {
        keys::idempotency_complete(self, key, response).await
    }

    async fn idempotency_abandon(&self, key: &str) -> StoreResult<()> {
        keys::idempotency_abandon(self, key).await
    }

    async fn sweep_expired(
        &self,
        keys_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<SweepReport> {
        keys::sweep_expired(self, keys_before, limit).await
    }
}
