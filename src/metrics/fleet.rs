//! Fleet-wide gauges read from the store at scrape time: queue depth by state, the oldest
//! due delivery's age, and the breakers that are not closed.
//!
//! The store is read at most once a second however often the process is scraped; scrapes
//! in between see the cached values. Per-endpoint breaker series exist only for the
//! [`TOP_BREAKERS`] longest-open breakers, so the series count stays bounded however many
//! endpoints there are.

use crate::delivery::gate::BreakerState;
use crate::store::Store;
use crate::telemetry::error_chain;
use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard};

/// How long values read from the store are served before they are read again.
const MAX_AGE: Duration = Duration::from_secs(1);

/// Most endpoints with a per-endpoint breaker series.
pub const TOP_BREAKERS: usize = 20;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    app_id: String,
    endpoint_id: String,
    state: &'static str,
}

/// The store-derived gauges and when they were last read.
pub(super) struct FleetGauges {
    queue: Family<StateLabel, Gauge>,
    oldest_due_age: Gauge<f64, AtomicU64>,
    breakers: Family<StateLabel, Gauge>,
    endpoint_breakers: Family<BreakerLabels, Gauge<f64, AtomicU64>>,
    store_up: Gauge,
    /// When the store was last read; held while reading and while encoding, so concurrent
    /// scrapes read the store once and never see a half-updated set.
    read_at: Mutex<Option<Instant>>,
}

impl FleetGauges {
    /// Registers the gauges in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let gauges = Self {
            queue: Family::default(),
            oldest_due_age: Gauge::default(),
            breakers: Family::default(),
            endpoint_breakers: Family::default(),
            store_up: Gauge::default(),
            read_at: Mutex::new(None),
        };
        registry.register(
            "queue_deliveries",
            "Deliveries fleet-wide by state: due (claimable now), delayed (retry scheduled), \
             sending (leased), failed (out of retries)",
            gauges.queue.clone(),
        );
        registry.register_with_unit(
            "queue_oldest_due_age",
            "How long the longest-waiting due delivery has been due, fleet-wide; 0 when none is",
            Unit::Seconds,
            gauges.oldest_due_age.clone(),
        );
        registry.register(
            "breakers_open",
            "Enabled endpoints whose circuit breaker is open or half-open, by state",
            gauges.breakers.clone(),
        );
        registry.register_with_unit(
            "endpoint_breaker_open",
            "How long each of the 20 longest-open breakers has been in its state",
            Unit::Seconds,
            gauges.endpoint_breakers.clone(),
        );
        registry.register(
            "store_up",
            "1 if the last read of the fleet gauges from the store succeeded, else 0",
            gauges.store_up.clone(),
        );
        gauges
    }

    /// Reads the store if the values are older than [`MAX_AGE`]; returns a guard to hold
    /// while encoding.
    pub(super) async fn refresh(&self, store: &dyn Store) -> MutexGuard<'_, Option<Instant>> {
        let mut read_at = self.read_at.lock().await;
        if read_at.is_some_and(|t| t.elapsed() < MAX_AGE) {
            return read_at;
        }
        let up = match self.read(store).await {
            Ok(()) => 1,
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "reading queue gauges from the store failed");
                0
            }
        };
        self.store_up.set(up);
        *read_at = Some(Instant::now());
        read_at
    }

    async fn read(&self, store: &dyn Store) -> crate::store::StoreResult<()> {
        let depth = store.queue_depth().await?;
        let breakers = store.open_breakers(TOP_BREAKERS).await?;
        let now = Utc::now();
        for (state, n) in [
            ("due", depth.due),
            ("delayed", depth.delayed),
            ("sending", depth.sending),
            ("failed", depth.failed),
        ] {
            self.queue.get_or_create(&StateLabel { state }).set(n);
        }
        let age = depth.oldest_due.map_or(0.0, |t| seconds(now - t));
        self.oldest_due_age.set(age);
        for (state, n) in [
            (BreakerState::Open, breakers.open),
            (BreakerState::HalfOpen, breakers.half_open),
        ] {
            self.breakers
                .get_or_create(&StateLabel {
                    state: state.as_str(),
                })
                .set(n);
        }
        self.endpoint_breakers.clear();
        for b in breakers.longest {
            self.endpoint_breakers
                .get_or_create(&BreakerLabels {
                    app_id: b.app_id.to_string(),
                    endpoint_id: b.endpoint_id.to_string(),
                    state: b.state.as_str(),
                })
                .set(seconds(now - b.since));
        }
        Ok(())
    }
}

/// A non-negative number of seconds (clocks of different machines may disagree a little).
fn seconds(d: chrono::Duration) -> f64 {
    d.to_std().map_or(0.0, |d| d.as_secs_f64())
}
