//! The per-endpoint circuit breaker: closed → open after consecutive failures or a failure
//! rate over a window; open for a cooldown that doubles with each trip that did not end in
//! a close; then half-open, letting one probe through; the probe's result closes or reopens.

use crate::store::{Attempt, DeliveryStatus, ErrorClass};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// Where an endpoint's breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Deliveries flow.
    Closed = 0,
    /// Nothing is claimed until `open_until`.
    Open = 1,
    /// One probe is (or may be) in flight; its result decides.
    HalfOpen = 2,
}

impl BreakerState {
    /// From the stored integer; unknown values read as closed.
    pub fn from_i64(v: i64) -> Self {
        match v {
            1 => Self::Open,
            2 => Self::HalfOpen,
            _ => Self::Closed,
        }
    }

    /// Stable lowercase name, as shown in the health API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        }
    }
}

/// The isolation state the store keeps for each endpoint, shared by every worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointGate {
    /// Breaker state.
    pub breaker: BreakerState,
    /// When the breaker entered its current state.
    pub breaker_since: DateTime<Utc>,
    /// While open: when the next probe may go.
    pub open_until: Option<DateTime<Utc>>,
    /// Trips since the breaker last closed after a probe; grows the cooldown.
    pub trips: u32,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Start of the current failure-rate window.
    pub window_start: DateTime<Utc>,
    /// Results in the window.
    pub window_total: u32,
    /// Failures in the window.
    pub window_failures: u32,
    /// Start of the current run of attempts without a single 2xx, if one is running.
    pub failing_since: Option<DateTime<Utc>>,
    /// GCRA theoretical arrival time of the endpoint's next send slot.
    pub rate_tat: Option<DateTime<Utc>>,
    /// When a claim last granted it deliveries; the least recently served goes first.
    pub last_served: Option<DateTime<Utc>>,
}

impl EndpointGate {
    /// A new endpoint's state: closed, no history.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            breaker: BreakerState::Closed,
            breaker_since: now,
            open_until: None,
            trips: 0,
            consecutive_failures: 0,
            window_start: now,
            window_total: 0,
            window_failures: 0,
            failing_since: None,
            rate_tat: None,
            last_served: None,
        }
    }
}

/// Breaker thresholds, from configuration.
#[derive(Debug, Clone)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker.
    pub consecutive_failures: u32,
    /// Failure ratio over the window that opens it (0.0–1.0)…
    pub failure_rate: f64,
    /// …once the window holds at least this many results.
    pub min_volume: u32,
    /// Length of the failure-rate window.
    pub window: Duration,
    /// First cooldown; doubles with each further trip.
    pub cooldown: Duration,
    /// Longest cooldown.
    pub max_cooldown: Duration,
    /// An endpoint with no 2xx for this long is disabled.
    pub disable_after: Duration,
}

/// Whether an attempt says the receiver is unwell: no answer (timeout, connection, TLS,
/// DNS, blocked address), a 5xx, 408 or 429. Other 4xx mean the receiver is up but refuses
/// this message, which is no reason to stop sending it others.
pub fn is_receiver_failure(attempt: &Attempt) -> bool {
    match attempt.error_class {
        Some(ErrorClass::HttpStatus) => {
            let code = attempt.response_status_code;
            code >= 500 || code == 408 || code == 429
        }
        Some(_) => true,
        None => false,
    }
}

/// Why an endpoint was disabled by the delivery engine.
pub const DISABLED_GONE: &str = "the receiver answered 410 Gone";

/// A batch of outcomes by endpoint: each endpoint's attempts, oldest first, and whether
/// any of them answered `410 Gone`. Endpoint ids come sorted, the order in which a store
/// locks their rows.
pub fn by_endpoint(outcomes: &[crate::store::Outcome]) -> BTreeMap<&str, (Vec<&Attempt>, bool)> {
    let mut grouped: BTreeMap<&str, (Vec<&Attempt>, bool)> = BTreeMap::new();
    for o in outcomes {
        let entry = grouped.entry(o.attempt.endpoint_id.as_str()).or_default();
        entry.0.push(&o.attempt);
        entry.1 |= o.disable_endpoint;
    }
    for (attempts, _) in grouped.values_mut() {
        attempts.sort_by_key(|a| a.created_at);
    }
    grouped
}

impl BreakerPolicy {
    /// The cooldown after the `trip`-th trip in a row (1-based).
    pub fn cooldown_for(&self, trip: u32) -> Duration {
        let factor = 2u32.saturating_pow(trip.saturating_sub(1).min(20));
        self.cooldown.saturating_mul(factor).min(self.max_cooldown)
    }

    /// Folds one endpoint's share of [`by_endpoint`] into its state. Returns why the
    /// endpoint is to be disabled: it answered `410 Gone`, or it has failed everything for
    /// `disable_after`.
    pub fn record_batch(
        &self,
        gate: &mut EndpointGate,
        attempts: &[&Attempt],
        gone: bool,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let stale = self.record(gate, attempts, now);
        if gone {
            Some(DISABLED_GONE.to_owned())
        } else {
            stale
        }
    }

    /// Folds a batch of attempts to one endpoint (oldest first) into its state. Returns
    /// a reason when the endpoint has failed everything for `disable_after`.
    pub fn record(
        &self,
        gate: &mut EndpointGate,
        attempts: &[&Attempt],
        now: DateTime<Utc>,
    ) -> Option<String> {
        for attempt in attempts {
            let failure = is_receiver_failure(attempt);
            if attempt.status == DeliveryStatus::Success {
                gate.failing_since = None;
            } else if gate.failing_since.is_none() {
                gate.failing_since = Some(attempt.created_at);
            }
            if to_std(now - gate.window_start) > self.window {
                gate.window_start = now;
                gate.window_total = 0;
                gate.window_failures = 0;
            }
            gate.window_total += 1;
            gate.window_failures += u32::from(failure);
            gate.consecutive_failures = if failure {
                gate.consecutive_failures + 1
            } else {
                0
            };
            // Only the probe decides a half-open breaker: a request sent before the trip
            // that fails (or succeeds) late says nothing about the receiver now.
            if gate.breaker == BreakerState::HalfOpen && attempt.created_at < gate.breaker_since {
                continue;
            }
            match (gate.breaker, failure) {
                (BreakerState::HalfOpen, true) => self.trip(gate, now),
                (BreakerState::HalfOpen, false) => {
                    gate.breaker = BreakerState::Closed;
                    gate.breaker_since = now;
                    gate.open_until = None;
                    gate.trips = 0;
                    gate.window_start = now;
                    gate.window_total = 0;
                    gate.window_failures = 0;
                }
                (BreakerState::Closed, true) if self.should_trip(gate) => self.trip(gate, now),
                // Results of requests that were in flight when the breaker opened change
                // nothing: the probe decides.
                _ => {}
            }
        }
        let since = gate.failing_since?;
        (to_std(now - since) >= self.disable_after).then(|| {
            format!(
                "no successful delivery for {}",
                humantime::format_duration(self.disable_after)
            )
        })
    }

    fn should_trip(&self, gate: &EndpointGate) -> bool {
        gate.consecutive_failures >= self.consecutive_failures
            || (gate.window_total >= self.min_volume
                && f64::from(gate.window_failures)
                    >= self.failure_rate * f64::from(gate.window_total))
    }

    fn trip(&self, gate: &mut EndpointGate, now: DateTime<Utc>) {
        gate.trips += 1;
        gate.breaker = BreakerState::Open;
        gate.breaker_since = now;
        let cooldown = chrono::Duration::from_std(self.cooldown_for(gate.trips))
            .unwrap_or(chrono::Duration::MAX);
        gate.open_until = now.checked_add_signed(cooldown);
    }
}

fn to_std(d: chrono::Duration) -> Duration {
    d.to_std().unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{AppId, AttemptId, EndpointId, EndpointUrl, MessageId};
    use crate::store::TriggerType;

    pub(crate) fn policy() -> BreakerPolicy {
        BreakerPolicy {
            consecutive_failures: 3,
            failure_rate: 0.5,
            min_volume: 10,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(60),
            disable_after: Duration::from_secs(5 * 24 * 3600),
        }
    }

    fn attempt(code: i16, class: Option<ErrorClass>, at: DateTime<Utc>) -> Attempt {
        Attempt {
            id: AttemptId::generate(),
            msg_id: MessageId::generate(),
            endpoint_id: EndpointId::generate(),
            app_id: AppId::generate(),
            url: EndpointUrl::from_trusted("http://x".into()),
            status: if class.is_none() {
                DeliveryStatus::Success
            } else {
                DeliveryStatus::Fail
            },
            response_status_code: code,
            response: String::new(),
            response_duration_ms: 1,
            trigger_type: TriggerType::Scheduled,
            error_class: class,
            created_at: at,
        }
    }

    fn ok(at: DateTime<Utc>) -> Attempt {
        attempt(200, None, at)
    }
    fn fail(at: DateTime<Utc>) -> Attempt {
        attempt(500, Some(ErrorClass::HttpStatus), at)
    }

    #[test]
    fn consecutive_failures_open_it_and_a_success_resets_the_count() {
        let now = Utc::now();
        let p = policy();
        let mut g = EndpointGate::new(now);
        let (f, s) = (fail(now), ok(now));
        p.record(&mut g, &[&f, &f, &s, &f, &f], now);
        assert_eq!(g.breaker, BreakerState::Closed);
        p.record(&mut g, &[&f], now);
        assert_eq!(g.breaker, BreakerState::Open);
        assert_eq!(g.open_until, Some(now + chrono::Duration::seconds(10)));
    }

    #[test]
    fn a_failure_rate_over_the_window_opens_it() {
        let now = Utc::now();
        let p = policy();
        let mut g = EndpointGate::new(now);
        let (f, s) = (fail(now), ok(now));
        // Alternating: never 3 in a row, but half of 10 fail.
        let batch: Vec<&Attempt> = (0..10).map(|i| if i % 2 == 0 { &f } else { &s }).collect();
        p.record(&mut g, &batch[..9], now);
        assert_eq!(g.breaker, BreakerState::Closed, "below the minimum volume");
        p.record(&mut g, &batch[9..], now);
        assert_eq!(g.breaker, BreakerState::Closed, "the tenth was a success");
        p.record(&mut g, &[&f], now);
        assert_eq!(g.breaker, BreakerState::Open);
    }

    #[test]
    fn client_errors_other_than_408_and_429_do_not_count() {
        let now = Utc::now();
        let p = policy();
        let mut g = EndpointGate::new(now);
        let bad_request = attempt(400, Some(ErrorClass::HttpStatus), now);
        p.record(&mut g, &[&bad_request; 5], now);
        assert_eq!(g.breaker, BreakerState::Closed);
        let timeout = attempt(0, Some(ErrorClass::Timeout), now);
        let throttled = attempt(429, Some(ErrorClass::HttpStatus), now);
        p.record(&mut g, &[&timeout, &throttled, &timeout], now);
        assert_eq!(g.breaker, BreakerState::Open);
    }

    #[test]
    fn a_probe_closes_or_reopens_it_with_a_growing_capped_cooldown() {
        let now = Utc::now();
        let p = policy();
        let mut g = EndpointGate::new(now);
        let f = fail(now);
        p.record(&mut g, &[&f, &f, &f], now);
        assert_eq!(g.trips, 1);
        for (trip, secs) in [(2, 20), (3, 40), (4, 60), (5, 60)] {
            g.breaker = BreakerState::HalfOpen;
            p.record(&mut g, &[&f], now);
            assert_eq!(g.breaker, BreakerState::Open);
            assert_eq!(g.trips, trip);
            assert_eq!(g.open_until, Some(now + chrono::Duration::seconds(secs)));
        }
        g.breaker = BreakerState::HalfOpen;
        p.record(&mut g, &[&ok(now)], now);
        assert_eq!(g.breaker, BreakerState::Closed);
        assert_eq!((g.trips, g.consecutive_failures), (0, 0));
    }

    #[test]
    fn results_arriving_while_open_do_not_change_the_state() {
        let now = Utc::now();
        let p = policy();
        let mut g = EndpointGate::new(now);
        let f = fail(now);
        p.record(&mut g, &[&f, &f, &f], now);
        let before = g.open_until;
        p.record(&mut g, &[&f, &ok(now)], now);
        assert_eq!((g.breaker, g.open_until), (BreakerState::Open, before));
    }

    #[test]
    fn failing_everything_for_the_disable_period_disables() {
        let start = Utc::now() - chrono::Duration::days(6);
        let p = policy();
        let mut g = EndpointGate::new(start);
        assert_eq!(p.record(&mut g, &[&fail(start)], start), None);
        let reason = p.record(&mut g, &[&fail(Utc::now())], Utc::now());
        assert!(reason.is_some_and(|r| r.contains("5days")), "{g:?}");
        // One success in between restarts the clock.
        let mut g = EndpointGate::new(start);
        p.record(&mut g, &[&fail(start)], start);
        p.record(&mut g, &[&ok(Utc::now())], Utc::now());
        assert_eq!(p.record(&mut g, &[&fail(Utc::now())], Utc::now()), None);
    }
}
