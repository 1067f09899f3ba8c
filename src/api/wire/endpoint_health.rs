//! `GET …/endpoint/{endpoint_id}/health` on the wire: Hookline's view of one endpoint's
//! isolation (breaker, bulkhead, rate limit) and of how its recent attempts went. Not part
//! of the Svix API.

use crate::delivery::gate::BreakerState;
use crate::store::EndpointHealth;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// The health of one endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHealthOut {
    /// The circuit breaker.
    pub breaker: BreakerOut,
    /// Deliveries being sent right now, fleet-wide.
    pub in_flight: i64,
    /// The in-flight cap in force: the endpoint's own, else `HOOKLINE_ENDPOINT_CONCURRENCY`.
    pub concurrency_limit: u32,
    /// The messages per second in force: the lower of the endpoint's and its application's
    /// `throttleRate`; `null` when neither is set.
    pub rate_limit: Option<u16>,
    /// Deliveries waiting to be sent, due now or later.
    pub backlog: i64,
    /// How the most recent attempts went.
    pub recent: RecentOut,
    /// Whether deliveries are suspended.
    pub disabled: bool,
    /// Why the delivery engine disabled it; `null` when enabled or disabled by a user.
    pub disabled_reason: Option<String>,
}

/// The breaker part of [`EndpointHealthOut`].
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakerOut {
    /// `closed`, `open` or `half-open`.
    #[schema(value_type = String, examples("closed"))]
    pub state: &'static str,
    /// When it entered that state.
    pub since: DateTime<Utc>,
    /// While open, when the next probe may go; otherwise `null`.
    pub next_probe_at: Option<DateTime<Utc>>,
    /// Receiver failures in a row.
    pub consecutive_failures: u32,
    /// Trips since it last closed after a probe; each one doubles the cooldown.
    pub trips: u32,
}

/// A summary of recent attempts, as [`summarize`] computes it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentOut {
    /// How many attempts the summary covers.
    pub attempts: usize,
    /// Share of them that delivered, 0.0 to 1.0; `null` when there were none.
    #[schema(minimum = 0, maximum = 1)]
    pub success_rate: Option<f64>,
    /// Median duration in milliseconds; `null` when there were none.
    pub latency_p50_ms: Option<i64>,
    /// 99th-percentile duration in milliseconds; `null` when there were none.
    pub latency_p99_ms: Option<i64>,
}

/// Summarizes attempts given as (delivered, duration in ms), in any order. Percentiles are
/// nearest-rank: the smallest duration that at least that share of attempts do not exceed.
pub fn summarize(attempts: &[(bool, i64)]) -> RecentOut {
    let mut durations: Vec<i64> = attempts.iter().map(|&(_, ms)| ms).collect();
    durations.sort_unstable();
    let delivered = attempts.iter().filter(|&&(ok, _)| ok).count();
    let success_rate = (!attempts.is_empty()).then(|| delivered as f64 / attempts.len() as f64);
    RecentOut {
        attempts: attempts.len(),
        success_rate,
        latency_p50_ms: nearest_rank(&durations, 50),
        latency_p99_ms: nearest_rank(&durations, 99),
    }
}

/// The `percent`-th percentile (1..=100) of ascending `sorted`: the value at 1-based rank
/// ⌈percent × n / 100⌉.
fn nearest_rank(sorted: &[i64], percent: usize) -> Option<i64> {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

impl EndpointHealthOut {
    /// The health report for `health`, with `default_concurrency` as the in-flight cap of
    /// an endpoint that sets none.
    pub fn new(health: EndpointHealth, default_concurrency: u32) -> Self {
        let gate = &health.gate;
        let rate_limit = match (health.throttle_rate, health.app_throttle_rate) {
            (Some(own), Some(app)) => Some(own.min(app)),
            (own, app) => own.or(app),
        };
        Self {
            breaker: BreakerOut {
                state: gate.breaker.as_str(),
                since: gate.breaker_since,
                next_probe_at: gate
                    .open_until
                    .filter(|_| gate.breaker == BreakerState::Open),
                consecutive_failures: gate.consecutive_failures,
                trips: gate.trips,
            },
            in_flight: health.in_flight,
            concurrency_limit: health.concurrency_limit.unwrap_or(default_concurrency),
            rate_limit,
            backlog: health.backlog,
            recent: summarize(&health.recent),
            disabled: health.disabled,
            disabled_reason: health.disabled_reason,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::delivery::gate::EndpointGate;

    fn durations(ms: impl IntoIterator<Item = i64>) -> Vec<(bool, i64)> {
        ms.into_iter().map(|d| (true, d)).collect()
    }

    #[test]
    fn no_attempts_have_no_rate_and_no_latency() {
        let empty = summarize(&[]);
        assert_eq!(empty.attempts, 0);
        assert_eq!(empty.success_rate, None);
        assert_eq!((empty.latency_p50_ms, empty.latency_p99_ms), (None, None));
    }

    #[test]
    fn the_success_rate_is_the_share_delivered() {
        let recent = [(true, 10), (false, 20), (true, 30), (true, 40)];
        assert_eq!(summarize(&recent).success_rate, Some(0.75));
        assert_eq!(summarize(&[(false, 5)]).success_rate, Some(0.0));
        assert_eq!(summarize(&[(true, 5)]).success_rate, Some(1.0));
    }

    #[test]
    fn percentiles_are_nearest_rank_whatever_the_order() {
        let one = summarize(&durations([42]));
        assert_eq!(
            (one.latency_p50_ms, one.latency_p99_ms),
            (Some(42), Some(42))
        );

        // Ranks ⌈0.5 × 2⌉ = 1 and ⌈0.99 × 2⌉ = 2.
        let two = summarize(&durations([900, 100]));
        assert_eq!(
            (two.latency_p50_ms, two.latency_p99_ms),
            (Some(100), Some(900))
        );

        // 1..=100 newest first: rank 50 is 50, rank 99 is 99.
        let hundred = summarize(&durations((1..=100).rev()));
        assert_eq!(hundred.latency_p50_ms, Some(50));
        assert_eq!(hundred.latency_p99_ms, Some(99));

        // With 10, p99 is the slowest: ⌈9.9⌉ = 10.
        let ten = summarize(&durations([5, 1, 9, 3, 7, 2, 8, 4, 10_000, 6]));
        assert_eq!(ten.latency_p50_ms, Some(5));
        assert_eq!(ten.latency_p99_ms, Some(10_000));
    }

    #[test]
    fn failed_attempts_count_towards_latency_too() {
        let recent = [(false, 30_000), (true, 10), (true, 20)];
        assert_eq!(summarize(&recent).latency_p99_ms, Some(30_000));
    }

    fn health(gate: EndpointGate) -> EndpointHealth {
        EndpointHealth {
            gate,
            in_flight: 2,
            backlog: 40,
            recent: vec![(true, 12), (false, 30_000)],
            throttle_rate: Some(50),
            app_throttle_rate: Some(20),
            concurrency_limit: None,
            disabled: false,
            disabled_reason: None,
        }
    }

    #[test]
    fn the_report_shows_the_limits_in_force() {
        let now = Utc::now();
        let out = EndpointHealthOut::new(health(EndpointGate::new(now)), 16);
        assert_eq!((out.concurrency_limit, out.rate_limit), (16, Some(20)));

        let own = EndpointHealth {
            concurrency_limit: Some(3),
            app_throttle_rate: None,
            ..health(EndpointGate::new(now))
        };
        let out = EndpointHealthOut::new(own, 16);
        assert_eq!((out.concurrency_limit, out.rate_limit), (3, Some(50)));

        let app_only = EndpointHealth {
            throttle_rate: None,
            ..health(EndpointGate::new(now))
        };
        assert_eq!(EndpointHealthOut::new(app_only, 16).rate_limit, Some(20));

        let unlimited = EndpointHealth {
            throttle_rate: None,
            app_throttle_rate: None,
            ..health(EndpointGate::new(now))
        };
        assert_eq!(EndpointHealthOut::new(unlimited, 16).rate_limit, None);
    }

    #[test]
    fn the_next_probe_is_shown_only_while_open() {
        let now = Utc::now();
        let later = now + chrono::Duration::seconds(10);
        let open = EndpointGate {
            breaker: BreakerState::Open,
            open_until: Some(later),
            trips: 1,
            consecutive_failures: 5,
            ..EndpointGate::new(now)
        };
        let out = EndpointHealthOut::new(health(open.clone()), 16);
        assert_eq!(out.breaker.state, "open");
        assert_eq!(out.breaker.next_probe_at, Some(later));

        let half_open = EndpointGate {
            breaker: BreakerState::HalfOpen,
            ..open
        };
        let out = EndpointHealthOut::new(health(half_open), 16);
        assert_eq!(out.breaker.state, "half-open");
        assert_eq!(out.breaker.next_probe_at, None);
    }

    #[test]
    fn the_report_is_camel_case_json() {
        let now = Utc::now();
        let json = serde_json::to_value(EndpointHealthOut::new(health(EndpointGate::new(now)), 16))
            .unwrap();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(
            keys(&json),
            [
                "backlog",
                "breaker",
                "concurrencyLimit",
                "disabled",
                "disabledReason",
                "inFlight",
                "rateLimit",
                "recent"
            ]
        );
        assert_eq!(
            keys(&json["breaker"]),
            [
                "consecutiveFailures",
                "nextProbeAt",
                "since",
                "state",
                "trips"
            ]
        );
        assert_eq!(
            keys(&json["recent"]),
            ["attempts", "latencyP50Ms", "latencyP99Ms", "successRate"]
        );
        assert_eq!(json["breaker"]["state"], "closed");
        assert_eq!(json["recent"]["successRate"], 0.5);
        assert_eq!(json["recent"]["latencyP99Ms"], 30_000);
    }
}
