//! Prometheus metrics: one registry per process behind a cheap-to-clone [`Metrics`] handle
//! that the API, the worker and the scrape endpoint share.
//!
//! Counters and histograms count what *this* process did (Prometheus sums the fleet);
//! the queue and breaker gauges are fleet-wide, read from the store at scrape time (see
//! [`fleet`]). Every family is named `hookline_…`; labels have bounded values only.

mod fleet;

use crate::delivery::retry::Verdict;
use crate::store::{ErrorClass, NextStep, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;
use std::time::Duration;

/// The `Content-Type` of the exposition: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Attempt latency buckets, in seconds: 5 ms to 30 s (the longest sensible request timeout).
const LATENCY_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0,
];
/// Claim latency buckets, in seconds: 1 ms to 2.5 s.
const CLAIM_LATENCY_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Claim batch sizes; 0 is an empty claim (nothing due or everything held back).
const BATCH_BUCKETS: [f64; 11] = [
    0.0, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
];

/// How a delivery stood after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Delivered (2xx).
    Delivered,
    /// Failed; another attempt is scheduled.
    RetryScheduled,
    /// Failed and out of retries.
    Exhausted,
    /// Failed with nothing to retry (`410 Gone`, or the payload was expunged).
    Fatal,
}

impl Finish {
    /// The delivery's state after an attempt that ended in `verdict` and led to `next`.
    pub fn of(next: &NextStep, verdict: Verdict) -> Self {
        match next {
            NextStep::Delivered => Self::Delivered,
            NextStep::RetryAt(_) => Self::RetryScheduled,
            NextStep::Failed if verdict == Verdict::Fatal => Self::Fatal,
            NextStep::Failed => Self::Exhausted,
        }
    }

    /// The `outcome` label and log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::RetryScheduled => "retry_scheduled",
            Self::Exhausted => "exhausted",
            Self::Fatal => "fatal",
        }
    }
}

/// `2xx` … `5xx` for an HTTP status, `none` when the receiver never answered.
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
        None => "none",
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    status_class: &'static str,
    error_class: &'static str,
}

struct Inner {
    registry: Registry,
    messages_accepted: Counter,
    deliveries_finished: Family<OutcomeLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    attempt_duration: Histogram,
    in_flight: Gauge,
    claim_batch: Histogram,
    claim_duration: Histogram,
    fleet: fleet::FleetGauges,
}

/// The process's metrics. Clones share one registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every Hookline metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hookline");
        let messages_accepted = Counter::default();
        registry.register(
            "messages_accepted",
            "Messages accepted by this process's API (202)",
            messages_accepted.clone(),
        );
        let deliveries_finished = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "deliveries_finished",
            "Attempts by this worker by what they left the delivery as: delivered, \
             retry_scheduled, exhausted (out of retries) or fatal (410 Gone, payload expunged)",
            deliveries_finished.clone(),
        );
        let attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "attempts",
            "HTTP attempts by this worker, by response status class (none: no response) and \
             error class (none: delivered)",
            attempts.clone(),
        );
        let attempt_duration = Histogram::new(LATENCY_BUCKETS);
        registry.register_with_unit(
            "attempt_duration",
            "Time from sending an attempt to the last byte of its response",
            Unit::Seconds,
            attempt_duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "worker_in_flight_deliveries",
            "Deliveries this worker has claimed and not yet finished attempting",
            in_flight.clone(),
        );
        let claim_batch = Histogram::new(BATCH_BUCKETS);
        registry.register(
            "claim_batch_size",
            "Deliveries leased per claim query by this worker",
            claim_batch.clone(),
        );
        let claim_duration = Histogram::new(CLAIM_LATENCY_BUCKETS);
        registry.register_with_unit(
            "claim_duration",
            "Time a claim query of this worker took",
            Unit::Seconds,
            claim_duration.clone(),
        );
        let fleet = fleet::FleetGauges::register(&mut registry);
        // Series that exist from the start, so `rate()` sees their first increase.
        for finish in [
            Finish::Delivered,
            Finish::RetryScheduled,
            Finish::Exhausted,
            Finish::Fatal,
        ] {
            deliveries_finished.get_or_create_owned(&OutcomeLabels {
                outcome: finish.as_str(),
            });
        }
        attempts.get_or_create_owned(&AttemptLabels {
            status_class: "2xx",
            error_class: "none",
        });
        Self(Arc::new(Inner {
            registry,
            messages_accepted,
            deliveries_finished,
            attempts,
            attempt_duration,
            in_flight,
            claim_batch,
            claim_duration,
            fleet,
        }))
    }

    /// Counts a message the API accepted.
    pub fn message_accepted(&self) {
        self.0.messages_accepted.inc();
    }

    /// Counts one finished attempt: its status and error class, latency and what it left
    /// the delivery as.
    pub fn attempt_finished(
        &self,
        status: Option<u16>,
        error_class: Option<ErrorClass>,
        duration: Duration,
        finish: Finish,
    ) {
        let m = &self.0;
        m.attempts
            .get_or_create(&AttemptLabels {
                status_class: status_class(status),
                error_class: error_class.map_or("none", ErrorClass::as_str),
            })
            .inc();
        m.attempt_duration.observe(duration.as_secs_f64());
        m.deliveries_finished
            .get_or_create(&OutcomeLabels {
                outcome: finish.as_str(),
            })
            .inc();
    }

    /// Records one claim query: how many deliveries it leased and how long it took.
    pub fn claimed(&self, leased: usize, took: Duration) {
        self.0.claim_batch.observe(leased as f64);
        self.0.claim_duration.observe(took.as_secs_f64());
    }

    /// Counts a delivery as in flight until the returned guard is dropped.
    pub fn in_flight(&self) -> InFlight {
        self.0.in_flight.inc();
        InFlight(self.0.in_flight.clone())
    }

    /// The whole registry in the Prometheus text format, with the fleet gauges read from
    /// `store` unless they were read less than a second ago. If the store cannot be read,
    /// the last values are kept and `hookline_store_up` is 0.
    pub async fn render(&self, store: &dyn Store) -> String {
        let _guard = self.0.fleet.refresh(store).await;
        let mut out = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.0.registry)
        {
            // Writing to a String cannot fail; log rather than panic if it ever does.
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

/// A delivery counted in `hookline_worker_in_flight_deliveries`; uncounted when dropped.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_classified_by_status_and_outcome() {
        assert_eq!(status_class(Some(204)), "2xx");
        assert_eq!(status_class(Some(302)), "3xx");
        assert_eq!(status_class(Some(410)), "4xx");
        assert_eq!(status_class(Some(503)), "5xx");
        assert_eq!(status_class(None), "none");
        let retry = Verdict::Retry { retry_after: None };
        assert_eq!(Finish::of(&NextStep::Failed, Verdict::Fatal), Finish::Fatal);
        assert_eq!(Finish::of(&NextStep::Failed, retry), Finish::Exhausted);
        assert_eq!(
            Finish::of(&NextStep::RetryAt(chrono::Utc::now()), retry),
            Finish::RetryScheduled
        );
    }

    #[test]
    fn the_in_flight_gauge_follows_its_guards() {
        let m = Metrics::new();
        let a = m.in_flight();
        let b = m.in_flight();
        assert_eq!(m.0.in_flight.get(), 2);
        drop(a);
        assert_eq!(m.0.in_flight.get(), 1);
        drop(b);
        assert_eq!(m.0.in_flight.get(), 0);
    }
}
