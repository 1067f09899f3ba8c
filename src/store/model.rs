//! Records the store reads and writes. Field names follow the domain, not the wire format;
//! `api/` maps them to Svix's JSON.

use crate::domain::{
    AppId, AttemptId, Channel, EndpointId, EndpointSecret, EndpointUrl, EventTypeName, MessageId,
    Uid,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// String metadata attached to applications and endpoints.
pub type Metadata = BTreeMap<String, String>;

/// One application: the tenant that owns endpoints and messages.
#[derive(Debug, Clone)]
pub struct Application {
    /// Stable id.
    pub id: AppId,
    /// Caller-chosen alias.
    pub uid: Option<Uid>,
    /// Display name.
    pub name: String,
    /// Messages per second across all endpoints of the application.
    pub throttle_rate: Option<u16>,
    /// Free-form labels.
    pub metadata: Metadata,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The writable fields of an application.
#[derive(Debug, Clone)]
pub struct ApplicationFields {
    /// Caller-chosen alias.
    pub uid: Option<Uid>,
    /// Display name.
    pub name: String,
    /// Messages per second across all endpoints.
    pub throttle_rate: Option<u16>,
    /// Free-form labels.
    pub metadata: Metadata,
}

/// A signing key that is being retired and still signs until `expires_at`.
#[derive(Debug, Clone)]
pub struct RetiredSecret {
    /// The old key.
    pub secret: EndpointSecret,
    /// End of the grace period.
    pub expires_at: DateTime<Utc>,
}

/// A receiver URL subscribed to some of an application's messages.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Stable id.
    pub id: EndpointId,
    /// Owning application.
    pub app_id: AppId,
    /// Caller-chosen alias, unique within the application.
    pub uid: Option<Uid>,
    /// Where deliveries are POSTed.
    pub url: EndpointUrl,
    /// Human description.
    pub description: String,
    /// Disabled endpoints receive no new deliveries.
    pub disabled: bool,
    /// Why the delivery engine disabled it (410, or failing for too long); `None` when a
    /// user disabled it or it is enabled.
    pub disabled_reason: Option<String>,
    /// In-flight cap for this endpoint, overriding `HOOKLINE_ENDPOINT_CONCURRENCY`.
    pub concurrency_limit: Option<u32>,
    /// Event types this endpoint receives; `None` means all.
    pub event_types: Option<Vec<EventTypeName>>,
    /// Channels this endpoint receives; `None` means all.
    pub channels: Option<Vec<Channel>>,
    /// Messages per second to this endpoint.
    pub throttle_rate: Option<u16>,
    /// Free-form labels.
    pub metadata: Metadata,
    /// Extra headers sent with every delivery.
    pub headers: BTreeMap<String, String>,
    /// The current signing key.
    pub secret: EndpointSecret,
    /// Keys still in their rotation grace period.
    pub retired_secrets: Vec<RetiredSecret>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The writable fields of an endpoint (everything but id, secret, headers and timestamps).
#[derive(Debug, Clone)]
pub struct EndpointFields {
    /// Caller-chosen alias.
    pub uid: Option<Uid>,
    /// Where deliveries are POSTed.
    pub url: EndpointUrl,
    /// Human description.
    pub description: String,
    /// Whether the endpoint is disabled. Enabling it clears the engine's disable reason
    /// and its failure history.
    pub disabled: bool,
    /// In-flight cap for this endpoint, overriding `HOOKLINE_ENDPOINT_CONCURRENCY`.
    pub concurrency_limit: Option<u32>,
    /// Event-type filter; `None` means all.
    pub event_types: Option<Vec<EventTypeName>>,
    /// Channel filter; `None` means all.
    pub channels: Option<Vec<Channel>>,
    /// Messages per second to this endpoint.
    pub throttle_rate: Option<u16>,
    /// Free-form labels.
    pub metadata: Metadata,
}

/// A named kind of event, shared by all applications.
#[derive(Debug, Clone)]
pub struct EventType {
    /// The name messages carry in `eventType`.
    pub name: EventTypeName,
    /// Human description.
    pub description: String,
    /// Archived types are hidden from listings unless asked for.
    pub archived: bool,
    /// Marked for removal.
    pub deprecated: bool,
    /// Optional feature flag gating visibility.
    pub feature_flag: Option<String>,
    /// JSON schemas by version, kept as given.
    pub schemas: Option<serde_json::Value>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The writable fields of an event type.
#[derive(Debug, Clone)]
pub struct EventTypeFields {
    /// Human description.
    pub description: String,
    /// Archived flag.
    pub archived: bool,
    /// Deprecated flag.
    pub deprecated: bool,
    /// Optional feature flag.
    pub feature_flag: Option<String>,
    /// JSON schemas by version.
    pub schemas: Option<serde_json::Value>,
}

/// An event posted by the platform, fanned out to endpoints as deliveries.
#[derive(Debug, Clone)]
pub struct Message {
    /// Stable id, sent as `webhook-id`.
    pub id: MessageId,
    /// Owning application.
    pub app_id: AppId,
    /// Event type name.
    pub event_type: EventTypeName,
    /// Caller-chosen dedup key, unique within the application.
    pub event_id: Option<Uid>,
    /// Channels the message was published on.
    pub channels: Option<Vec<Channel>>,
    /// The JSON payload exactly as received; `None` once expunged.
    pub payload: Option<String>,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
}

/// What `create_message` needs: the message and the endpoints it goes to.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The message to store.
    pub message: Message,
    /// How long the payload is kept.
    pub retention: chrono::Duration,
}

/// Status of a (message, endpoint) delivery and of an attempt, as the reference's integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Delivered (2xx).
    Success = 0,
    /// Waiting for its next attempt.
    Pending = 1,
    /// Out of retries, or the endpoint was disabled.
    Fail = 2,
    /// Claimed by a worker, attempt in flight.
    Sending = 3,
}

impl DeliveryStatus {
    /// From the stored integer.
    pub fn from_i64(v: i64) -> Option<Self> {
        Some(match v {
            0 => Self::Success,
            1 => Self::Pending,
            2 => Self::Fail,
            3 => Self::Sending,
            _ => return None,
        })
    }

    /// The lowercase name Svix returns as `statusText`.
    pub fn text(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Pending => "pending",
            Self::Fail => "fail",
            Self::Sending => "sending",
        }
    }
}

/// Whether an attempt came from the schedule or from a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerType {
    /// First attempt or a scheduled retry.
    Scheduled = 0,
    /// `resend`, `recover` or `send-example`.
    Manual = 1,
}

impl TriggerType {
    /// From the stored integer.
    pub fn from_i64(v: i64) -> Self {
        if v == 1 {
            Self::Manual
        } else {
            Self::Scheduled
        }
    }
}

/// Why an attempt got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// No full response within the request timeout.
    Timeout,
    /// TCP connection refused, reset or unreachable.
    Connect,
    /// TLS handshake or certificate failure.
    Tls,
    /// The host name did not resolve.
    Dns,
    /// The address is not allowed by the address policy.
    BlockedAddress,
    /// The receiver answered, with a non-2xx status.
    HttpStatus,
    /// Anything else (malformed response, body read error).
    Other,
}

impl ErrorClass {
    /// Stable text stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Dns => "dns",
            Self::BlockedAddress => "blocked address",
            Self::HttpStatus => "http status",
            Self::Other => "other",
        }
    }

    /// Parses the stored text.
    pub fn from_str_opt(s: &str) -> Option<Self> {
        Some(match s {
            "timeout" => Self::Timeout,
            "connect" => Self::Connect,
            "tls" => Self::Tls,
            "dns" => Self::Dns,
            "blocked address" => Self::BlockedAddress,
            "http status" => Self::HttpStatus,
            "other" => Self::Other,
            _ => return None,
        })
    }
}

/// One recorded HTTP attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Stable id.
    pub id: AttemptId,
    /// The message sent.
    pub msg_id: MessageId,
    /// The endpoint it was sent to.
    pub endpoint_id: EndpointId,
    /// Owning application.
    pub app_id: AppId,
    /// The URL used for this attempt.
    pub url: EndpointUrl,
    /// `Success` or `Fail`.
    pub status: DeliveryStatus,
    /// HTTP status, 0 when there was no response.
    pub response_status_code: i16,
    /// Response body, capped; empty once expunged.
    pub response: String,
    /// Time from sending to the last byte of the response.
    pub response_duration_ms: i64,
    /// Scheduled or manual.
    pub trigger_type: TriggerType,
    /// Why it failed without a response, if it did.
    pub error_class: Option<ErrorClass>,
    /// When the attempt was made.
    pub created_at: DateTime<Utc>,
}

/// A (message, endpoint) pair with its delivery state, for the "attempted" listings.
#[derive(Debug, Clone)]
pub struct DeliveryState {
    /// Current status.
    pub status: DeliveryStatus,
    /// When the next attempt is due, if pending.
    pub next_attempt: Option<DateTime<Utc>>,
}

/// A delivery claimed by a worker: everything needed to send it, fetched in the claim.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// Internal delivery key; pass back in the [`Outcome`].
    pub delivery_id: i64,
    /// Where the store wrote the lease, if it can find the delivery faster by it than by its
    /// key (Postgres: the leased row version); pass back in the [`Outcome`].
    pub row_version: Option<String>,
    /// The message.
    pub msg_id: MessageId,
    /// Owning application.
    pub app_id: AppId,
    /// Target endpoint.
    pub endpoint_id: EndpointId,
    /// Target URL.
    pub url: EndpointUrl,
    /// Extra headers for the endpoint.
    pub headers: BTreeMap<String, String>,
    /// Every key that signs now: the current one and unexpired retired ones.
    pub secrets: Vec<EndpointSecret>,
    /// The exact payload bytes (the message's JSON as received) to sign and send; `None` if
    /// expunged before sending. The deliveries of one message in a claim share one copy.
    pub payload: Option<Bytes>,
    /// Scheduled attempts already made (0 for a first attempt).
    pub attempts_made: u32,
    /// Whether this attempt is a manual one.
    pub trigger_type: TriggerType,
    /// The lease: nobody else claims this delivery before this instant.
    pub locked_until: DateTime<Utc>,
    /// The rate-limit slot: do not send before this instant.
    pub not_before: DateTime<Utc>,
}

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Delivered; nothing more to do.
    Delivered,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Give up; the delivery is failed.
    Failed,
}

/// The result of one attempt, recorded in batches by [`crate::store::Store::record_outcomes`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The delivery attempted.
    pub delivery_id: i64,
    /// The claim's [`ClaimedDelivery::row_version`].
    pub row_version: Option<String>,
    /// The lease holder's worker id; the delivery's state only changes if it still matches.
    pub worker_id: String,
    /// The attempt to append to the log.
    pub attempt: Attempt,
    /// What happens next.
    pub next: NextStep,
    /// Disable the endpoint (the receiver answered `410 Gone`).
    pub disable_endpoint: bool,
}

/// Delivery counts by status for one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Delivered.
    pub success: i64,
    /// Waiting for an attempt.
    pub pending: i64,
    /// Given up.
    pub fail: i64,
    /// In flight.
    pub sending: i64,
}

/// A stored response for an `idempotency-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Response body bytes.
    pub body: Vec<u8>,
}

/// The state of an idempotency key after [`crate::store::Store::idempotency_begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// The caller now owns the key and must call `idempotency_complete` or `_abandon`.
    Started,
    /// The same request already completed: replay this response.
    Completed(StoredResponse),
    /// The same key is being processed by another request right now.
    InProgress,
    /// The key was used before with a different request.
    Mismatch,
}

/// What the health API shows about one endpoint.
#[derive(Debug, Clone)]
pub struct EndpointHealth {
    /// Breaker, failure counters and rate-limit slot.
    pub gate: crate::delivery::gate::EndpointGate,
    /// Deliveries leased right now, fleet-wide.
    pub in_flight: i64,
    /// Deliveries waiting (pending, due now or later).
    pub backlog: i64,
    /// The most recent attempts, newest first: (delivered, duration in ms).
    pub recent: Vec<(bool, i64)>,
    /// The endpoint's own rate limit.
    pub throttle_rate: Option<u16>,
    /// Its application's rate limit.
    pub app_throttle_rate: Option<u16>,
    /// Its in-flight cap override.
    pub concurrency_limit: Option<u32>,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Why the engine disabled it.
    pub disabled_reason: Option<String>,
}
