//! `GET /api/v1/status` on the wire: the fleet at a glance, for the dashboard and the CLI.
//! Not part of the Svix API.

use crate::store::{AttemptCount, OpenBreaker, QueueDepth};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

/// Throughput buckets shown.
pub const BUCKETS: usize = 30;
/// Width of one throughput bucket: the store's counting bucket.
pub const BUCKET_WIDTH: Duration = crate::store::ATTEMPT_BUCKET;
/// The buckets `lastMinute` sums: the one holding now and those of the minute before it.
const LAST_MINUTE_BUCKETS: usize = 6;
/// Most open breakers listed.
pub const OPEN_BREAKERS_SHOWN: usize = 50;

/// The status report.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusOut {
    /// Deliveries by queue state, fleet-wide.
    pub queue: QueueOut,
    /// Attempts in the last six throughput buckets: the one holding now and the five
    /// before it, 50 to 60 seconds.
    pub last_minute: CountsOut,
    /// Attempts per 10-second bucket, oldest first; the last bucket holds now.
    pub throughput: Vec<BucketOut>,
    /// Breakers of enabled endpoints that are not closed, longest in their state first.
    pub open_breakers: Vec<OpenBreakerOut>,
}

/// Queue depth.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueOut {
    /// Claimable now (pending and due, or a lease expired).
    pub due: i64,
    /// Pending with a retry scheduled later.
    pub delayed: i64,
    /// Leased to a worker.
    pub sending: i64,
    /// Out of retries.
    pub failed: i64,
    /// How long the longest-waiting due delivery has waited; `null` when none is due.
    pub oldest_due_seconds: Option<f64>,
}

/// Attempts split by result.
#[derive(Debug, Default, Serialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CountsOut {
    /// Answered 2xx.
    pub delivered: i64,
    /// Anything else.
    pub failed: i64,
    /// The time the counts cover, from the start of their oldest bucket to now (50 to 60
    /// seconds): what to divide by for a rate.
    pub seconds: f64,
}

/// One throughput bucket.
#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketOut {
    /// Start of the bucket, on a 10-second boundary.
    pub at: DateTime<Utc>,
    /// Attempts answered 2xx in it.
    pub delivered: i64,
    /// Other attempts in it.
    pub failed: i64,
}

/// An endpoint whose breaker is open or half-open.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenBreakerOut {
    /// Its application.
    pub app_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The endpoint's URL.
    pub url: String,
    /// `open` or `half-open`.
    #[schema(value_type = String, pattern = "^(open|half-open)$")]
    pub state: &'static str,
    /// When the breaker entered that state.
    pub since: DateTime<Utc>,
    /// While open, when the next probe may go; `null` when half-open (a probe is due now).
    pub next_probe_at: Option<DateTime<Utc>>,
}

/// Start of the first of the [`BUCKETS`] buckets whose last one holds `now`.
pub fn throughput_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let width = i64::try_from(BUCKET_WIDTH.as_millis()).unwrap_or(i64::MAX);
    let last = now.timestamp_millis().div_euclid(width) * width;
    let first = last - width * (BUCKETS as i64 - 1);
    DateTime::from_timestamp_millis(first).unwrap_or(now)
}

impl StatusOut {
    /// The report as of `now`, from the store's views: `buckets` counted since
    /// [`throughput_start`] in [`BUCKET_WIDTH`] buckets.
    pub fn new(
        now: DateTime<Utc>,
        queue: QueueDepth,
        buckets: &[AttemptCount],
        breakers: Vec<OpenBreaker>,
    ) -> Self {
        let start = throughput_start(now);
        let width = chrono::Duration::from_std(BUCKET_WIDTH).unwrap_or(chrono::Duration::MAX);
        let mut throughput: Vec<BucketOut> = (0..BUCKETS)
            .map(|i| BucketOut {
                at: start + width * i32::try_from(i).unwrap_or(i32::MAX),
                delivered: 0,
                failed: 0,
            })
            .collect();
        for c in buckets {
            // Attempts stamped after `now` (another machine's clock) have no bucket.
            if let Some(b) = usize::try_from(c.bucket)
                .ok()
                .and_then(|i| throughput.get_mut(i))
            {
                b.delivered += c.delivered;
                b.failed += c.failed;
            }
        }
        let minute = &throughput[BUCKETS - LAST_MINUTE_BUCKETS..];
        let last_minute = CountsOut {
            delivered: minute.iter().map(|b| b.delivered).sum(),
            failed: minute.iter().map(|b| b.failed).sum(),
            seconds: minute
                .first()
                .map_or(0.0, |b| (now - b.at).num_milliseconds() as f64 / 1000.0),
        };
        Self {
            queue: QueueOut {
                due: queue.due,
                delayed: queue.delayed,
                sending: queue.sending,
                failed: queue.failed,
                oldest_due_seconds: queue
                    .oldest_due
                    .map(|t| (now - t).to_std().map_or(0.0, |d| d.as_secs_f64())),
            },
            last_minute,
            throughput,
            open_breakers: breakers
                .into_iter()
                .map(|b| OpenBreakerOut {
                    app_id: b.app_id.to_string(),
                    endpoint_id: b.endpoint_id.to_string(),
                    url: b.url.as_str().to_owned(),
                    state: b.state.as_str(),
                    since: b.since,
                    next_probe_at: b
                        .open_until
                        .filter(|_| b.state == crate::delivery::gate::BreakerState::Open),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn count(bucket: i64, delivered: i64, failed: i64) -> AttemptCount {
        AttemptCount {
            bucket,
            delivered,
            failed,
        }
    }

    #[test]
    fn buckets_sit_on_ten_second_boundaries_and_end_with_the_one_holding_now() {
        let now = at("2026-01-01T12:00:07.250Z");
        assert_eq!(throughput_start(now), at("2026-01-01T11:55:10Z"));
        let out = StatusOut::new(now, QueueDepth::default(), &[], Vec::new());
        assert_eq!(out.throughput.len(), BUCKETS);
        assert_eq!(out.throughput[0].at, at("2026-01-01T11:55:10Z"));
        assert_eq!(out.throughput[29].at, at("2026-01-01T12:00:00Z"));
        assert!(
            out.throughput
                .iter()
                .all(|b| b.delivered == 0 && b.failed == 0)
        );
    }

    #[test]
    fn counts_fill_their_buckets_and_the_last_minute_is_summed() {
        let now = at("2026-01-01T12:00:00Z");
        let buckets = [
            count(0, 1, 0),
            count(17, 2, 3),
            count(23, 8, 8),
            count(24, 5, 2),
            count(29, 1, 4),
            count(30, 9, 9),
        ];
        let out = StatusOut::new(now, QueueDepth::default(), &buckets, Vec::new());
        let got: Vec<(usize, i64, i64)> = out
            .throughput
            .iter()
            .enumerate()
            .filter(|(_, b)| b.delivered + b.failed > 0)
            .map(|(i, b)| (i, b.delivered, b.failed))
            .collect();
        assert_eq!(
            got,
            [(0, 1, 0), (17, 2, 3), (23, 8, 8), (24, 5, 2), (29, 1, 4)]
        );
        // Buckets 24 to 29; 23 is more than a minute ago and 30 is after now.
        assert_eq!(
            out.last_minute,
            CountsOut {
                delivered: 6,
                failed: 6,
                seconds: 50.0,
            }
        );
    }

    #[test]
    fn the_oldest_due_age_is_measured_from_now() {
        let now = at("2026-01-01T12:00:00Z");
        let queue = QueueDepth {
            due: 2,
            oldest_due: Some(at("2026-01-01T11:59:30.500Z")),
            ..QueueDepth::default()
        };
        let out = StatusOut::new(now, queue, &[], Vec::new());
        assert_eq!(out.queue.oldest_due_seconds, Some(29.5));
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["queue"]["oldestDueSeconds"], 29.5);
        assert_eq!(json["lastMinute"]["delivered"], 0);
        assert!(json["openBreakers"].as_array().unwrap().is_empty());
    }
}
