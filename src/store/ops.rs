//! Records of the fleet-wide views operators watch: queue depth, attempt throughput and the
//! breakers that are not closed. Read by `GET /api/v1/status` and the metrics scrape.

use crate::delivery::gate::BreakerState;
use crate::domain::{AppId, EndpointId, EndpointUrl};
use chrono::{DateTime, Utc};

/// Deliveries by queue state, over the whole store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Claimable now: pending and due, or leased by a worker whose lease has expired.
    pub due: i64,
    /// Pending and due later (a retry is scheduled).
    pub delayed: i64,
    /// Leased to a worker, lease unexpired.
    pub sending: i64,
    /// Out of retries, or given up (status fail).
    pub failed: i64,
    /// When the longest-waiting claimable delivery became due; `None` when none is due.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// The width of the time buckets attempts are counted in, each starting on a multiple of
/// it since the Unix epoch. [`crate::store::Store::attempt_counts`] is exact for a `since`
/// on such a boundary and a `width` that is a multiple of it.
pub const ATTEMPT_BUCKET: std::time::Duration = std::time::Duration::from_secs(10);

/// Attempts made in one time bucket, split by result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptCount {
    /// Which bucket: 0 starts at the queried `since`, each one `width` long.
    pub bucket: i64,
    /// Attempts answered with a 2xx.
    pub delivered: i64,
    /// Every other attempt.
    pub failed: i64,
}

/// An endpoint whose breaker is open or half-open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBreaker {
    /// Its application.
    pub app_id: AppId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Where it receives deliveries.
    pub url: EndpointUrl,
    /// `Open` or `HalfOpen`.
    pub state: BreakerState,
    /// When the breaker entered that state.
    pub since: DateTime<Utc>,
    /// While open, when the next probe may go.
    pub open_until: Option<DateTime<Utc>>,
}

/// The breakers of enabled endpoints that are not closed: how many, and the longest-standing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenBreakers {
    /// Breakers open.
    pub open: i64,
    /// Breakers half-open.
    pub half_open: i64,
    /// Up to the asked-for number of them, longest in their state first.
    pub longest: Vec<OpenBreaker>,
}
