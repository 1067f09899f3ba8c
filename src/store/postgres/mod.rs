//! The fleet store: one Postgres database shared by any number of API and worker processes.
//!
//! Everything that must agree across processes is decided by the database: uniqueness
//! (ids, uids, `eventId`, idempotency keys) by unique indices, and who delivers what by
//! leases taken with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait for or
//! collide with each other. Idle workers are woken by `LISTEN/NOTIFY` (see `notify`), with
//! the caller's poll interval as the fallback. No transaction is held open across a call.
//!
//! Behaviour matches the SQLite store operation for operation (one conformance suite runs
//! against both); the schema is the same in native types (`migrations/postgres`).

mod apps;
mod codec;
mod delivery;
mod endpoints;
mod gate;
mod heads;
mod ingest;
mod keys;
mod listings;
mod messages;
mod notify;
mod ops;
mod secrets;
mod tokens;

use super::*;
use crate::delivery::gate::{BreakerPolicy, ClaimPolicy};
use crate::domain::{AppId, AttemptId, EndpointId, EventTypeName, MessageId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder};
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

/// Connections in the query pool when none is configured: enough for a worker's claim,
/// recorder and API traffic at once, small enough for many processes on one server.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// [`Store`] on a Postgres database.
pub struct PostgresStore {
    /// Every query runs on this pool; transactions never outlive a call.
    pool: PgPool,
    /// `LISTEN/NOTIFY` wake-ups for `wait_for_work`, on a connection of its own.
    wakeup: notify::Wakeup,
    /// Seals endpoint secrets on the way in and opens them on the way out.
    sealer: Sealer,
    /// Writes posted messages in batches.
    ingest: super::ingest::Ingest,
    /// When this process's claims last put expired leases back in the queue.
    reaped: delivery::Reaped,
    /// The endpoints this process's claims know to have pending deliveries, and where
    /// their queues start.
    heads: heads::Remembered,
}

impl PostgresStore {
    /// Connects to the database at a `postgres://` or `postgresql://` URL with a pool of
    /// [`DEFAULT_POOL_SIZE`] connections, keeping endpoint secrets as `sealer` says.
    /// Migrations are not applied; call `migrate`.
    ///
    /// # Errors
    /// If the URL is malformed or the server cannot be reached.
    pub async fn connect(url: &str, sealer: Sealer) -> StoreResult<Self> {
        Self::connect_with_pool_size(url, DEFAULT_POOL_SIZE, sealer).await
    }

    /// Like [`connect`](Self::connect) with at most `max_connections` pooled connections
    /// (the `LISTEN` connection and the ingest writer's come on top).
    ///
    /// # Errors
    /// If the URL is malformed or the server cannot be reached.
    pub async fn connect_with_pool_size(
        url: &str,
        max_connections: u32,
        sealer: Sealer,
    ) -> StoreResult<Self> {
        // JIT compilation pays off for long analytic queries only. The queue's statements
        // are estimated against large tables and run in milliseconds; one whose estimate
        // passes `jit_above_cost` is compiled on every run (a claim statement that did spent
        // 25 ms compiling for 5 ms of work).
        let options = url.parse::<PgConnectOptions>()?.options([("jit", "off")]);
        let pool = pool_options(max_connections.max(1))
            .connect_with(options.clone())
            .await?;
        let wakeup = notify::Wakeup::new((*pool.connect_options()).clone());
        // The writer's statement runs on its own, outside a transaction: its settings are
        // the connection's, which saves two round trips per batch. Opened on the first
        // batch, so processes that post no messages (workers) hold no such connection.
        let writer_pool = pool_options(u32::try_from(ingest::WRITERS).unwrap_or(1))
            .connect_lazy_with(options.options(HOT_PLANS));
        let ingest = super::ingest::Ingest::spawn(ingest::WRITERS, move |batch| {
            let pool = writer_pool.clone();
            async move { ingest::write(&pool, batch).await }
        });
        Ok(Self {
            pool,
            wakeup,
            sealer,
            ingest,
            reaped: delivery::Reaped::default(),
            heads: heads::Remembered::default(),
        })
    }
}

/// A connection that sat idle longer than this is checked before it is handed out.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A pool of at most `max_connections` that checks a connection before handing it out only
/// if it sat idle for [`CHECK_IDLE_AFTER`]: the check is a round trip, and checking every
/// time put one more in front of every claim, batch of outcomes and batch of posted
/// messages. A connection in use every moment is known to be alive (and one that broke
/// in use is closed when it is given back); one left idle may have been dropped by the
/// server or the network meanwhile.
fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > CHECK_IDLE_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Planner settings of the hot path: posted messages, claims and outcomes. Their
/// statements are planned once per connection and never scan a table.
///
/// Postgres plans a prepared statement anew on each run while a plan for the values at
/// hand looks cheaper than the generic one. With one endpoint per claim that was every
/// run, and planning cost more than running: 0.4 ms against 0.1 ms for the gate read,
/// about a fifth of the database's time at one endpoint. A generic plan is made for the
/// tables as they were then, and kept until they are next analysed: made while they were
/// small (a new database, a worker's first claims; Postgres settles on it after five runs
/// when it looks no dearer), it can read every pending row through a bitmap scan, or a
/// whole table. A lease then took 200 ms with 100,000 rows pending, and each batch of
/// posted messages read every endpoint. Every statement of the hot path is written to walk
/// an index or fetch rows by their version, so those two scans are ruled out, and the
/// plans hold whatever the tables' sizes.
const HOT_PLANS: [(&str, &str); 3] = [
    ("plan_cache_mode", "force_generic_plan"),
    ("enable_seqscan", "off"),
    ("enable_bitmapscan", "off"),
];

/// Begins a transaction with the [`HOT_PLANS`] settings, in the round trip of its `BEGIN`.
async fn begin_hot(pool: &PgPool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    static BEGIN: LazyLock<String> = LazyLock::new(|| {
        let settings = HOT_PLANS.map(|(name, value)| format!("; SET LOCAL {name} = {value}"));
        format!("BEGIN{}", settings.concat())
    });
    pool.begin_with(BEGIN.as_str()).await
}

/// Ends `qb` with the `page`'s cursor, order and limit on `key` ([`codec::push_page`]) and
/// reads the page in a transaction with `enable_sort = off`, set in the round trip of its
/// `BEGIN`.
///
/// Every listing orders by a key an index holds in order behind its equality filters, so
/// walking that index reads about a page of rows. Without statistics (a new database, or a
/// server with autovacuum off) the planner takes each filter beyond the index's columns to
/// match almost nothing, and plans instead to read every row of the index's range and sort
/// the few it expects: a page of one endpoint's successful attempts read all 30,000 of
/// them, 22 ms against 0.1 ms for the walk, and a page of an application's messages of one
/// event type read all 100,000, 51 ms against 0.06 ms. Where no index gives the order a
/// sort is still made; it is only costed as the last resort.
async fn fetch_page(
    pool: &PgPool,
    mut qb: QueryBuilder<'_, Postgres>,
    key: &str,
    page: &PageRequest,
) -> sqlx::Result<Vec<PgRow>> {
    codec::push_page(&mut qb, key, page);
    let mut tx = pool
        .begin_with("BEGIN; SET LOCAL enable_sort = off")
        .await?;
    let rows = qb.build().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows)
}

impl PostgresStore {
    /// Makes claims probe each endpoint's queue from where they remember it starts
    /// whenever they may, instead of only while that costs less than reading it from the
    /// start: on a small table it does not, so tests of those probes would not run them.
    #[doc(hidden)]
    pub fn always_probe_heads(&self) {
        self.heads.always_probe();
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> StoreResult<()> {
        // sqlx takes an advisory lock, so processes starting together migrate once.
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
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
        messages::create_one(&self.pool, message, Some(endpoint_id)).await?;
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
        delivery::resend(self, app_id, msg_id, endpoint_id).await
    }

    async fn recover(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<u64> {
        delivery::recover(self, app_id, endpoint_id, since, until).await
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
        delivery::release(self, worker_id, delivery_ids).await?;
        Ok(())
    }

    async fn wait_for_work(&self, timeout: Duration) {
        self.wakeup.wait(timeout).await;
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
