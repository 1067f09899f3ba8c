//! Persistence: the only module with SQL.
//!
//! [`Store`] is the boundary every other module talks to; `sqlite.rs` and `postgres.rs`
//! implement it and one conformance suite runs against both. Contracts that hold for every
//! implementation:
//!
//! * `create_message` commits the message and all of its deliveries in one transaction
//!   before returning, so a 202 means durable.
//! * `claim` hands each due delivery to one worker at a time under a lease
//!   (`locked_until`, kept in `due_at` while sending); a delivery whose lease expired is due again, so a dead worker's work
//!   is picked up by another. No transaction stays open after `claim` returns.
//! * `record_outcomes` writes a whole batch of attempts at once; it changes a delivery's
//!   state only while the recording worker still holds its lease.
//! * Endpoint secrets cross the trait as [`EndpointSecret`](crate::domain::EndpointSecret)
//!   and are stored as the store's [`Sealer`] says (encrypted with a main secret); a stored
//!   secret that does not decrypt is `Corrupt`, never a wrong key.

mod ingest;
mod model;
mod ops;
mod page;
mod payloads;
pub mod postgres;
mod sealing;
mod secret_columns;
pub mod sqlite;
mod token;
mod unreadable;

pub use model::*;
pub use ops::{ATTEMPT_BUCKET, AttemptCount, OpenBreaker, OpenBreakers, QueueDepth};
pub use page::{Cursor, Order, Page, PageRequest};
pub(crate) use payloads::ClaimPayloads;
pub use sealing::{Sealer, SealingError};
pub use token::AppToken;
pub(crate) use unreadable::skip_unreadable;

use crate::delivery::gate::{BreakerPolicy, ClaimPolicy};
use crate::domain::{AppId, AttemptId, Channel, EndpointId, EventTypeName, MessageId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Errors a store operation can end in.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the text names the rule, e.g. "uid already in use".
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database's encrypted secrets and the configured main secret do not go together.
    #[error(transparent)]
    Sealing(#[from] SealingError),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A shared handle to whichever store the configuration chose.
pub type DynStore = Arc<dyn Store>;

/// Filters for message listings.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only messages published on this channel.
    pub channel: Option<Channel>,
    /// Only messages of these event types.
    pub event_types: Option<Vec<EventTypeName>>,
    /// Only messages created strictly before this time.
    pub before: Option<DateTime<Utc>>,
    /// Only messages created strictly after this time.
    pub after: Option<DateTime<Utc>>,
    /// Only deliveries in this status (attempted-messages listing only).
    pub status: Option<DeliveryStatus>,
}

/// Which attempts to list: those of one message or of one endpoint, narrowed by filters.
#[derive(Debug, Clone)]
pub struct AttemptFilter {
    /// Attempts of this message.
    pub msg_id: Option<MessageId>,
    /// Attempts to this endpoint.
    pub endpoint_id: Option<EndpointId>,
    /// Only attempts with this status.
    pub status: Option<DeliveryStatus>,
    /// Only attempts whose HTTP status is in this class (0 = no response, 200 = 2xx…).
    pub status_code_class: Option<u16>,
    /// Only attempts of messages on this channel.
    pub channel: Option<Channel>,
    /// Only attempts of messages of these event types.
    pub event_types: Option<Vec<EventTypeName>>,
    /// Only attempts made strictly before this time.
    pub before: Option<DateTime<Utc>>,
    /// Only attempts made strictly after this time.
    pub after: Option<DateTime<Utc>>,
}

/// The persistence boundary. See the module docs for the guarantees every implementation
/// gives. Lookups by `key` accept an id or the caller's `uid` (for messages, the `eventId`).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Makes the database's endpoint secrets agree with this store's [`Sealer`], once per
    /// start, after `migrate`: checks the key against the key check the database keeps, and
    /// seals every plaintext secret in one transaction (storing the key check the first
    /// time). Returns how many endpoints were sealed.
    ///
    /// # Errors
    /// [`StoreError::Sealing`] if the key is not the one the secrets were sealed with, or
    /// the database holds sealed secrets and the store has no key.
    async fn prepare_secrets_at_rest(&self) -> StoreResult<u64>;

    // --- API tokens -----------------------------------------------------------------------

    /// SHA-256 hashes (hex) of every API token ever issued by `insert_api_token_hash`.
    async fn api_token_hashes(&self) -> StoreResult<Vec<String>>;
    /// Remembers a generated token by its hash; the token itself is never stored.
    async fn insert_api_token_hash(&self, hash: &str) -> StoreResult<()>;
    /// Remembers an application-scoped token by its hash, and forgets the expired tokens of
    /// the same application. `NotFound` if the application does not exist.
    async fn insert_app_token(&self, token: &AppToken) -> StoreResult<()>;
    /// The application-scoped token with this hash, expired or not.
    async fn get_app_token(&self, hash: &str) -> StoreResult<Option<AppToken>>;
    /// Forgets an application-scoped token (logout). Forgetting one that is not there is
    /// not an error: the outcome is the same.
    async fn delete_app_token(&self, hash: &str) -> StoreResult<()>;

    // --- applications ---------------------------------------------------------------------

    /// Creates an application. `Conflict` if the uid is taken.
    async fn create_application(&self, fields: &ApplicationFields) -> StoreResult<Application>;
    /// Finds an application by id or uid.
    async fn get_application(&self, key: &str) -> StoreResult<Option<Application>>;
    /// Lists applications by id.
    async fn list_applications(&self, page: &PageRequest) -> StoreResult<Page<Application>>;
    /// Replaces an application's writable fields. `NotFound`, or `Conflict` on uid.
    async fn update_application(
        &self,
        id: &AppId,
        fields: &ApplicationFields,
    ) -> StoreResult<Application>;
    /// Deletes an application and everything it owns, its tokens included. `NotFound` if it
    /// does not exist.
    async fn delete_application(&self, id: &AppId) -> StoreResult<()>;

    // --- endpoints ------------------------------------------------------------------------

    /// Creates an endpoint with its first secret and headers. `Conflict` if the uid is taken.
    async fn create_endpoint(
        &self,
        app_id: &AppId,
        fields: &EndpointFields,
        secret: &crate::domain::EndpointSecret,
        headers: &BTreeMap<String, String>,
    ) -> StoreResult<Endpoint>;
    /// Finds an endpoint of an application by id or uid.
    async fn get_endpoint(&self, app_id: &AppId, key: &str) -> StoreResult<Option<Endpoint>>;
    /// Lists an application's endpoints by id.
    async fn list_endpoints(
        &self,
        app_id: &AppId,
        page: &PageRequest,
    ) -> StoreResult<Page<Endpoint>>;
    /// Replaces an endpoint's writable fields.
    async fn update_endpoint(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        fields: &EndpointFields,
    ) -> StoreResult<Endpoint>;
    /// Deletes an endpoint with its deliveries and attempts.
    async fn delete_endpoint(&self, app_id: &AppId, id: &EndpointId) -> StoreResult<()>;
    /// Replaces an endpoint's custom headers.
    async fn set_endpoint_headers(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        headers: &BTreeMap<String, String>,
    ) -> StoreResult<()>;
    /// Makes `new` the signing key; the old key keeps signing for `grace`.
    async fn rotate_endpoint_secret(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        new: &crate::domain::EndpointSecret,
        grace: Duration,
    ) -> StoreResult<()>;
    /// Counts the endpoint's deliveries by status, for messages created in the window.
    async fn endpoint_stats(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<EndpointStats>;

    // --- event types ----------------------------------------------------------------------

    /// Creates an event type. `Conflict` if the name exists.
    async fn create_event_type(
        &self,
        name: &EventTypeName,
        fields: &EventTypeFields,
    ) -> StoreResult<EventType>;
    /// Finds an event type by name.
    async fn get_event_type(&self, name: &EventTypeName) -> StoreResult<Option<EventType>>;
    /// Lists event types by name.
    async fn list_event_types(
        &self,
        page: &PageRequest,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>>;
    /// Replaces an event type's fields. `NotFound` if it does not exist.
    async fn update_event_type(
        &self,
        name: &EventTypeName,
        fields: &EventTypeFields,
    ) -> StoreResult<EventType>;
    /// Archives an event type (it stays readable, hidden from default listings).
    async fn archive_event_type(&self, name: &EventTypeName) -> StoreResult<()>;

    // --- messages -------------------------------------------------------------------------

    /// Commits a message and one pending delivery per enabled endpoint of its application
    /// whose event-type and channel filters match, in one transaction. Returns how many
    /// deliveries were created. `Conflict` if the application already has its `eventId`.
    async fn create_message(&self, message: &NewMessage) -> StoreResult<usize>;
    /// Like `create_message`, but the only delivery goes to `endpoint_id`, as a manual attempt
    /// (used by `send-example`).
    async fn create_message_for_endpoint(
        &self,
        message: &NewMessage,
        endpoint_id: &EndpointId,
    ) -> StoreResult<()>;
    /// Finds a message by id or `eventId`.
    async fn get_message(&self, app_id: &AppId, key: &str) -> StoreResult<Option<Message>>;
    /// Lists an application's messages.
    async fn list_messages(
        &self,
        app_id: &AppId,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>>;
    /// Deletes a message's payload, keeping its metadata.
    async fn expunge_message_content(&self, app_id: &AppId, id: &MessageId) -> StoreResult<()>;

    // --- attempts -------------------------------------------------------------------------

    /// Lists attempts of one message or one endpoint.
    async fn list_attempts(
        &self,
        app_id: &AppId,
        filter: &AttemptFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>>;
    /// Finds one attempt of a message.
    async fn get_attempt(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        id: &AttemptId,
    ) -> StoreResult<Option<Attempt>>;
    /// Deletes an attempt's response body.
    async fn expunge_attempt_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        id: &AttemptId,
    ) -> StoreResult<()>;
    /// The endpoints a message was routed to, with the delivery state of each.
    async fn list_attempted_destinations(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        page: &PageRequest,
    ) -> StoreResult<Page<(Endpoint, DeliveryState)>>;
    /// The messages routed to an endpoint, with the delivery state of each.
    async fn list_attempted_messages(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<(Message, DeliveryState)>>;

    // --- manual attempts ------------------------------------------------------------------

    /// Queues one manual attempt of a message to an endpoint, due now. A manual attempt does
    /// not spend a scheduled retry.
    async fn resend(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
    ) -> StoreResult<()>;
    /// Queues a manual attempt for every failed delivery to the endpoint of a message
    /// created in `[since, until)`. Returns how many were queued.
    async fn recover(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<u64>;

    // --- delivery -------------------------------------------------------------------------

    /// Leases up to `limit` due deliveries to `worker_id` for `lease` and returns what is
    /// needed to send them. Deliveries to disabled endpoints are failed, not returned.
    ///
    /// Which endpoints get how many is decided by `policy` ([`ClaimPolicy::plan`]) from
    /// every candidate endpoint's gate state, read and written back under a lock that keeps
    /// other claimers off that endpoint meanwhile, so bulkheads, rate limits and breakers
    /// hold fleet-wide. Deliveries held back stay due and untouched.
    async fn claim(
        &self,
        worker_id: &str,
        limit: usize,
        lease: Duration,
        policy: &ClaimPolicy,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Appends the attempts, moves each delivery to its next step, and folds the attempts
    /// into their endpoints' breaker state with `breaker` (disabling an endpoint that has
    /// failed everything for too long, or answered 410), in one transaction.
    async fn record_outcomes(
        &self,
        outcomes: &[Outcome],
        breaker: &BreakerPolicy,
    ) -> StoreResult<()>;
    /// Isolation state and recent behaviour of one endpoint, for the health API.
    async fn endpoint_health(&self, app_id: &AppId, id: &EndpointId)
    -> StoreResult<EndpointHealth>;
    /// Gives back leased deliveries that were not attempted, due immediately.
    async fn release(&self, worker_id: &str, delivery_ids: &[i64]) -> StoreResult<()>;
    /// Returns when new work may be due (a message was created or resent), or after
    /// `timeout`, whichever comes first. Spurious wake-ups are allowed.
    async fn wait_for_work(&self, timeout: Duration);

    // --- operability ----------------------------------------------------------------------

    /// Deliveries by queue state, fleet-wide, as of the store's clock. Cheap on large
    /// tables: index range scans only (see the `operability` migration).
    async fn queue_depth(&self) -> StoreResult<QueueDepth>;
    /// Attempts made at or after `since`, in buckets of `width` (bucket 0 starts at
    /// `since`), ascending; buckets without attempts are left out. `since` is to be on an
    /// [`ATTEMPT_BUCKET`] boundary and `width` a multiple of it: stores may count attempts
    /// by those buckets as they are recorded.
    async fn attempt_counts(
        &self,
        since: DateTime<Utc>,
        width: Duration,
    ) -> StoreResult<Vec<AttemptCount>>;
    /// Breakers of enabled endpoints that are open or half-open: counts, and up to `limit`
    /// of them, longest in their current state first.
    async fn open_breakers(&self, limit: usize) -> StoreResult<OpenBreakers>;

    // --- idempotency ----------------------------------------------------------------------

    /// Claims an idempotency key for a request with this fingerprint, or reports its state.
    async fn idempotency_begin(
        &self,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<IdempotencyState>;
    /// Stores the response of a request that owns the key.
    async fn idempotency_complete(&self, key: &str, response: &StoredResponse) -> StoreResult<()>;
    /// Frees a key whose request failed, so a retry can run again.
    async fn idempotency_abandon(&self, key: &str) -> StoreResult<()>;

    // --- retention ------------------------------------------------------------------------

    /// Deletes the payloads of up to `limit` messages whose retention period has passed, and
    /// up to `limit` idempotency keys created before `keys_before`. Safe to run from any
    /// number of processes at once: rows another sweeper is working on are skipped.
    async fn sweep_expired(
        &self,
        keys_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<SweepReport>;
}

/// What one retention sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Message payloads expunged.
    pub payloads: u64,
    /// Idempotency keys forgotten.
    pub idempotency_keys: u64,
}

/// Opens the store named by a `HOOKLINE_DATABASE_URL`, keeping endpoint secrets as `sealer`
/// says. Call [`Store::prepare_secrets_at_rest`] (after `migrate`) before using it.
///
/// # Errors
/// If the database cannot be reached or the URL names no supported database.
pub async fn open(database_url: &str, sealer: Sealer) -> StoreResult<DynStore> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteStore::connect(database_url, sealer).await?,
        ))
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PostgresStore::connect(database_url, sealer).await?,
        ))
    } else {
        Err(StoreError::Corrupt(format!(
            "unsupported database URL {database_url:?}: expected sqlite://, postgres:// or postgresql://"
        )))
    }
}
