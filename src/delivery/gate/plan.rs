//! Deciding, at claim time, how many due deliveries each endpoint may have: the bulkhead
//! (in-flight cap), the rate limit (GCRA send slots for the endpoint and its application)
//! and the breaker (nothing while open, one probe when half-open), shared fairly across
//! endpoints so one deep backlog cannot fill a batch.
//!
//! The store gathers a [`Candidate`] per endpoint with due work (under a lock that keeps
//! other claimers off the same endpoint), calls [`ClaimPolicy::plan`], leases what the
//! plan grants and writes back the updated gate state. Held deliveries are not touched:
//! they keep their attempt count and stay due until their endpoint may take them.

use super::breaker::{BreakerPolicy, BreakerState, EndpointGate};
use super::sending::Sending;
use crate::domain::{AppId, EndpointId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;

/// One endpoint with due deliveries, as the store sees it at claim time.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Its application.
    pub app_id: AppId,
    /// When its oldest due delivery became due; older goes first.
    pub oldest_due: DateTime<Utc>,
    /// Due deliveries, counted up to the claim's limit.
    pub due: usize,
    /// Deliveries leased right now (unexpired), fleet-wide.
    pub in_flight: usize,
    /// Of those, the ones leased by the claiming worker.
    pub own_in_flight: usize,
    /// Disabled endpoints' due deliveries are failed, not sent.
    pub disabled: bool,
    /// Per-endpoint bulkhead override.
    pub concurrency_limit: Option<u32>,
    /// Endpoint messages per second.
    pub throttle_rate: Option<u16>,
    /// Application messages per second, a ceiling over all its endpoints.
    pub app_throttle_rate: Option<u16>,
    /// The application's GCRA slot time.
    pub app_rate_tat: Option<DateTime<Utc>>,
    /// Breaker and rate state.
    pub gate: EndpointGate,
}

/// What one endpoint may send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Send-no-earlier-than time of each delivery to lease, oldest due first; the number
    /// of entries is how many to lease.
    pub slots: Vec<DateTime<Utc>>,
    /// The endpoint's gate state to write back.
    pub gate: EndpointGate,
}

/// The decision for one claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Endpoints that may send, with how much.
    pub grants: Vec<Grant>,
    /// Applications whose rate slot time moved.
    pub app_rate_tats: Vec<(AppId, DateTime<Utc>)>,
    /// Disabled endpoints whose due deliveries are to be failed.
    pub disabled: Vec<EndpointId>,
}

/// How claims are gated; one per worker, from configuration.
#[derive(Debug, Clone)]
pub struct ClaimPolicy {
    /// In-flight cap per endpoint unless the endpoint sets its own.
    pub endpoint_concurrency: u32,
    /// How far ahead rate-limited send slots are handed out; a worker waits for its slot.
    pub rate_lookahead: Duration,
    /// Breaker thresholds.
    pub breaker: BreakerPolicy,
    /// The claiming worker's own requests still loading their receivers. With them, the
    /// bulkhead counts that worker's requests by these and other workers' by their leases,
    /// so a delivered request whose outcome is still being written no longer counts.
    /// Without them (a claimer that does not track its requests), every unexpired lease
    /// counts.
    pub sending: Option<Sending>,
}

fn interval(rate: u16) -> chrono::Duration {
    chrono::Duration::microseconds(1_000_000 / i64::from(rate.max(1)))
}

impl ClaimPolicy {
    /// Splits up to `limit` deliveries across `candidates`.
    pub fn plan(&self, candidates: &[Candidate], limit: usize, now: DateTime<Utc>) -> Plan {
        let mut plan = Plan::default();
        let own = self.sending.as_ref().map(Sending::counts);
        // Least recently served first (never served before anything), then oldest waiting:
        // successive small claims take turns instead of all going to the deepest backlog.
        let mut order: Vec<&Candidate> = candidates.iter().collect();
        order.sort_by_key(|c| (c.gate.last_served, c.oldest_due));

        // Allowance per endpoint before rate limits: bulkhead, breaker and due work.
        let mut allowed: Vec<(&Candidate, usize, EndpointGate)> = Vec::new();
        for c in order {
            if c.disabled {
                plan.disabled.push(c.endpoint_id.clone());
                continue;
            }
            let cap = c.concurrency_limit.unwrap_or(self.endpoint_concurrency) as usize;
            let mut gate = c.gate.clone();
            let sending = match &own {
                Some(own) => c.in_flight.saturating_sub(c.own_in_flight) + own.get(&c.endpoint_id),
                None => c.in_flight,
            };
            let free = cap.saturating_sub(sending);
            let breaker_allows = match gate.breaker {
                BreakerState::Closed => usize::MAX,
                BreakerState::Open if gate.open_until.is_none_or(|t| t <= now) => {
                    gate.breaker = BreakerState::HalfOpen;
                    gate.breaker_since = now;
                    1
                }
                BreakerState::Open => 0,
                // A probe is out; another only if it was lost (its lease expired).
                BreakerState::HalfOpen => usize::from(c.in_flight == 0),
            };
            let n = free.min(breaker_allows).min(c.due);
            if n > 0 {
                allowed.push((c, n, gate));
            }
        }

        // Fair share first, then hand what is left to those that can use more.
        let share = limit.div_ceil(allowed.len().max(1));
        let mut quotas: Vec<usize> = allowed.iter().map(|a| a.1.min(share)).collect();
        let mut left = limit.saturating_sub(quotas.iter().sum());
        for (q, a) in quotas.iter_mut().zip(&allowed) {
            let extra = (a.1 - *q).min(left);
            *q += extra;
            left -= extra;
        }
        let mut total: usize = quotas.iter().sum();
        while total > limit {
            // Rounding up the share can overshoot by a few; trim from the back.
            if let Some(q) = quotas.iter_mut().rev().find(|q| **q > 0) {
                *q -= 1;
                total -= 1;
            }
        }

        let horizon = now
            + chrono::Duration::from_std(self.rate_lookahead).unwrap_or(chrono::Duration::zero());
        let mut app_tats: HashMap<AppId, Option<DateTime<Utc>>> = HashMap::new();
        let mut open: Vec<(&Candidate, usize, EndpointGate, Vec<DateTime<Utc>>)> = allowed
            .into_iter()
            .zip(quotas)
            .filter(|(_, quota)| *quota > 0)
            .map(|((c, _, gate), quota)| (c, quota, gate, Vec::with_capacity(quota)))
            .collect();
        // Slots go round-robin, one per endpoint per round, so endpoints sharing an
        // application's rate budget share it instead of the first taking all of it.
        let mut progress = true;
        while progress {
            progress = false;
            for (c, quota, gate, slots) in &mut open {
                if slots.len() == *quota {
                    continue;
                }
                let app_tat = app_tats.entry(c.app_id.clone()).or_insert(c.app_rate_tat);
                let mut at = now;
                if c.throttle_rate.is_some() {
                    at = at.max(gate.rate_tat.unwrap_or(now));
                }
                if c.app_throttle_rate.is_some() {
                    at = at.max(app_tat.unwrap_or(now));
                }
                if at > horizon {
                    *quota = slots.len();
                    continue;
                }
                if let Some(rate) = c.throttle_rate {
                    gate.rate_tat = Some(at + interval(rate));
                }
                if let Some(rate) = c.app_throttle_rate {
                    *app_tat = Some(at + interval(rate));
                }
                slots.push(at);
                progress = true;
            }
        }
        for (c, _, mut gate, slots) in open {
            if !slots.is_empty() {
                gate.last_served = Some(now);
                plan.grants.push(Grant {
                    endpoint_id: c.endpoint_id.clone(),
                    slots,
                    gate,
                });
            }
        }
        for c in candidates {
            if let Some(Some(tat)) = app_tats.remove(&c.app_id) {
                if c.app_throttle_rate.is_some() && Some(tat) != c.app_rate_tat {
                    plan.app_rate_tats.push((c.app_id.clone(), tat));
                }
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::super::breaker::tests::policy as breaker_policy;
    use super::*;

    fn policy() -> ClaimPolicy {
        ClaimPolicy {
            endpoint_concurrency: 4,
            rate_lookahead: Duration::from_secs(1),
            breaker: breaker_policy(),
            sending: None,
        }
    }

    fn candidate(due: usize, age_secs: i64, now: DateTime<Utc>) -> Candidate {
        Candidate {
            endpoint_id: EndpointId::generate(),
            app_id: AppId::generate(),
            oldest_due: now - chrono::Duration::seconds(age_secs),
            due,
            in_flight: 0,
            own_in_flight: 0,
            disabled: false,
            concurrency_limit: None,
            throttle_rate: None,
            app_throttle_rate: None,
            app_rate_tat: None,
            gate: EndpointGate::new(now),
        }
    }

    fn granted(plan: &Plan, c: &Candidate) -> usize {
        plan.grants
            .iter()
            .find(|g| g.endpoint_id == c.endpoint_id)
            .map_or(0, |g| g.slots.len())
    }

    #[test]
    fn the_bulkhead_caps_each_endpoint_and_a_backlog_leaves_room_for_others() {
        let now = Utc::now();
        let deep = candidate(10_000, 3600, now);
        let mut busy = candidate(10, 10, now);
        busy.in_flight = 3;
        let fresh = candidate(1, 0, now);
        let plan = policy().plan(&[deep.clone(), busy.clone(), fresh.clone()], 100, now);
        assert_eq!(granted(&plan, &deep), 4);
        assert_eq!(granted(&plan, &busy), 1);
        assert_eq!(granted(&plan, &fresh), 1);
    }

    #[test]
    fn the_claimers_own_requests_count_as_it_tracks_them_but_a_probe_by_its_lease() {
        let now = Utc::now();
        let mut p = policy();
        let mut c = candidate(10, 10, now);
        c.in_flight = 4;
        c.own_in_flight = 3;
        assert_eq!(
            granted(&p.plan(&[c.clone()], 100, now), &c),
            0,
            "every lease counts"
        );

        let sending = Sending::new(1);
        let still_sending = sending.start(&c.endpoint_id);
        p.sending = Some(sending.clone());
        assert_eq!(
            granted(&p.plan(&[c.clone()], 100, now), &c),
            2,
            "one other worker's lease and one request of its own"
        );
        sending.answered(still_sending);
        assert_eq!(granted(&p.plan(&[c.clone()], 100, now), &c), 3);

        c.in_flight = 1;
        c.own_in_flight = 1;
        c.gate.breaker = BreakerState::HalfOpen;
        assert!(
            p.plan(&[c.clone()], 100, now).grants.is_empty(),
            "the probe's outcome decides the breaker before anything else is sent"
        );
    }

    #[test]
    fn a_small_batch_is_shared_fairly() {
        let now = Utc::now();
        let mut p = policy();
        p.endpoint_concurrency = 100;
        let a = candidate(1000, 100, now);
        let b = candidate(1000, 50, now);
        let c = candidate(1, 0, now);
        let plan = p.plan(&[a.clone(), b.clone(), c.clone()], 10, now);
        assert_eq!(granted(&plan, &c), 1, "the newcomer is not starved");
        assert_eq!(
            granted(&plan, &a) + granted(&plan, &b) + granted(&plan, &c),
            10
        );
        assert!(granted(&plan, &a) >= 4 && granted(&plan, &b) >= 4);
    }

    #[test]
    fn an_open_breaker_gets_nothing_until_its_cooldown_then_one_probe() {
        let now = Utc::now();
        let mut c = candidate(50, 10, now);
        c.gate.breaker = BreakerState::Open;
        c.gate.open_until = Some(now + chrono::Duration::seconds(5));
        assert!(policy().plan(&[c.clone()], 100, now).grants.is_empty());

        c.gate.open_until = Some(now - chrono::Duration::seconds(1));
        let plan = policy().plan(&[c.clone()], 100, now);
        assert_eq!(granted(&plan, &c), 1);
        assert_eq!(plan.grants[0].gate.breaker, BreakerState::HalfOpen);

        c.gate.breaker = BreakerState::HalfOpen;
        c.in_flight = 1;
        assert!(
            policy().plan(&[c.clone()], 100, now).grants.is_empty(),
            "probe out"
        );
        c.in_flight = 0;
        assert_eq!(
            granted(&policy().plan(&[c.clone()], 100, now), &c),
            1,
            "probe lost"
        );
    }

    #[test]
    fn rate_limits_hand_out_spaced_slots_within_the_lookahead() {
        let now = Utc::now();
        let mut c = candidate(100, 10, now);
        c.throttle_rate = Some(10);
        let plan = policy().plan(&[c.clone()], 100, now);
        let g = &plan.grants[0];
        assert_eq!(g.slots.len(), 4, "the bulkhead still applies");
        let mut p = policy();
        p.endpoint_concurrency = 100;
        let plan = p.plan(&[c.clone()], 100, now);
        let g = &plan.grants[0];
        assert_eq!(g.slots.len(), 11, "slots at 0, 100 ms … 1 s");
        for pair in g.slots.windows(2) {
            assert_eq!(pair[1] - pair[0], chrono::Duration::milliseconds(100));
        }
        assert_eq!(
            g.gate.rate_tat,
            Some(now + chrono::Duration::milliseconds(1100))
        );
        // A later claim continues from the stored slot time.
        c.gate = g.gate.clone();
        let plan = p.plan(&[c], 100, now);
        assert!(plan.grants.is_empty(), "no slot left within the lookahead");
    }

    #[test]
    fn the_application_rate_is_a_ceiling_over_its_endpoints() {
        let now = Utc::now();
        let mut p = policy();
        p.endpoint_concurrency = 100;
        let mut a = candidate(100, 10, now);
        let mut b = candidate(100, 5, now);
        b.app_id = a.app_id.clone();
        for c in [&mut a, &mut b] {
            c.app_throttle_rate = Some(4);
        }
        let plan = p.plan(&[a.clone(), b.clone()], 100, now);
        assert_eq!(
            granted(&plan, &a) + granted(&plan, &b),
            5,
            "4/s over 1 s, from now"
        );
        assert_eq!(plan.app_rate_tats.len(), 1);
        assert_eq!(
            plan.app_rate_tats[0].1,
            now + chrono::Duration::milliseconds(1250)
        );
    }

    #[test]
    fn disabled_endpoints_are_failed_not_granted() {
        let now = Utc::now();
        let mut c = candidate(5, 1, now);
        c.disabled = true;
        let plan = policy().plan(&[c.clone()], 10, now);
        assert!(plan.grants.is_empty());
        assert_eq!(plan.disabled, vec![c.endpoint_id]);
    }
}
