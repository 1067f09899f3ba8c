//! This worker's requests that still load their receivers, counted per endpoint.
//!
//! The store counts an endpoint's in-flight deliveries by their unexpired leases, and a
//! lease ends only when its outcome is written. A delivered request stops loading the
//! receiver as soon as it is answered, so a bulkhead counting leases would hold a healthy
//! endpoint to its cap per claim-send-record cycle, the record part being a database write.
//! The worker therefore counts its own requests here: from the claim until the answer for
//! a delivered one, and until its outcome is written for a failed one, so the breaker has
//! seen a failure before the endpoint is sent more. A claim counts other workers' leases
//! from the store and this worker's requests from here.
//!
//! The plan reads these counts after the store has read the breaker state, so that the
//! requests answered meanwhile free their room at once. A failure whose outcome was written
//! in between would then be in neither, so failures written since the claim began still
//! count until the next one. Only the claim loop starts requests, so none starts during a
//! claim.

use crate::domain::EndpointId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// Shared by a worker's claim loop and claims (which start requests and read the counts)
/// and its attempts and recorder (which end them).
#[derive(Debug, Clone)]
pub struct Sending {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Delivered answers since the last claim after which the claim loop is woken.
    wake_after: usize,
    freed: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Requests not answered yet, and failures whose outcomes are not written yet.
    sending: HashMap<EndpointId, usize>,
    /// Failures ended (their outcomes written) since the current claim began.
    ended: HashMap<EndpointId, usize>,
    /// Delivered answers since the current claim began.
    answered: usize,
}

impl State {
    /// Uncounts one request to `endpoint`; a failure also counts as ended in this claim.
    fn end(&mut self, endpoint: &EndpointId, delivered: bool) {
        if let Some(n) = self.sending.get_mut(endpoint) {
            *n -= 1;
            if *n == 0 {
                self.sending.remove(endpoint);
            }
        }
        if delivered {
            self.answered += 1;
        } else {
            add(&mut self.ended, endpoint);
        }
    }
}

fn add(counts: &mut HashMap<EndpointId, usize>, endpoint: &EndpointId) {
    // The key is cloned only for an endpoint not counted yet (this runs per delivery).
    match counts.get_mut(endpoint) {
        Some(n) => *n += 1,
        None => {
            counts.insert(endpoint.clone(), 1);
        }
    }
}

impl Sending {
    /// Counts with nobody counted yet; [`Self::freed`] fires once `wake_after` delivered
    /// answers have freed bulkhead room since the last claim began.
    pub fn new(wake_after: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                wake_after: wake_after.max(1),
                freed: Notify::new(),
            }),
        }
    }

    /// Counts one request to `endpoint` until its mark is answered or dropped.
    #[must_use]
    pub fn start(&self, endpoint: &EndpointId) -> SendingMark {
        add(&mut self.lock().sending, endpoint);
        SendingMark {
            sending: self.clone(),
            endpoint: endpoint.clone(),
            ended: false,
        }
    }

    /// Ends a delivered request: it no longer loads its receiver. Enough of these since
    /// the last claim began wake the claim loop, which may be waiting on a full bulkhead.
    pub fn answered(&self, mut mark: SendingMark) {
        mark.ended = true;
        let mut state = self.lock();
        state.end(&mark.endpoint, true);
        let wake = state.answered == self.inner.wake_after;
        drop(state);
        if wake {
            self.inner.freed.notify_one();
        }
    }

    /// Resolves once enough delivered answers have freed room since the last claim began
    /// (at once if they already have).
    pub async fn freed(&self) {
        self.inner.freed.notified().await;
    }

    /// Marks the start of a claim, before it reads the store.
    pub fn claim_begins(&self) {
        let mut state = self.lock();
        state.ended.clear();
        state.answered = 0;
    }

    /// Requests per endpoint that count against its bulkhead in the current claim: those
    /// sending now, and failures ended since the claim began.
    pub fn counts(&self) -> SendingCounts {
        let state = self.lock();
        let mut counts = state.sending.clone();
        for (endpoint, n) in &state.ended {
            *counts.entry(endpoint.clone()).or_default() += n;
        }
        SendingCounts(counts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain counts, consistent after any panic.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The counts of [`Sending`] read for one claim's plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendingCounts(HashMap<EndpointId, usize>);

impl SendingCounts {
    /// Requests to `endpoint` counted.
    pub fn get(&self, endpoint: &EndpointId) -> usize {
        self.0.get(endpoint).copied().unwrap_or(0)
    }
}

/// One counted request. Dropped without [`Sending::answered`], it ends as a failure.
#[derive(Debug)]
pub struct SendingMark {
    sending: Sending,
    endpoint: EndpointId,
    /// Set once [`Sending::answered`] has uncounted it.
    ended: bool,
}

impl Drop for SendingMark {
    fn drop(&mut self) {
        if !self.ended {
            self.sending.lock().end(&self.endpoint, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_until_answered_and_failures_until_the_next_claim() {
        let sending = Sending::new(1);
        let (a, b) = (EndpointId::generate(), EndpointId::generate());
        let first = sending.start(&a);
        let second = sending.start(&a);
        let other = sending.start(&b);
        let counts = sending.counts();
        assert_eq!((counts.get(&a), counts.get(&b)), (2, 1));
        sending.answered(first);
        assert_eq!(
            sending.counts().get(&a),
            1,
            "answered, so no longer counted"
        );
        drop(second);
        assert_eq!(
            sending.counts().get(&a),
            1,
            "a failure written during a claim still counts in it"
        );
        sending.claim_begins();
        assert_eq!(
            sending.counts().get(&a),
            0,
            "the next claim sees it in the store"
        );
        sending.answered(other);
        sending.claim_begins();
        assert_eq!(
            sending.counts(),
            SendingCounts::default(),
            "nothing outlives its marks"
        );
    }

    #[tokio::test]
    async fn the_claim_loop_is_woken_after_enough_answers_since_the_claim_began() {
        let sending = Sending::new(2);
        let ep = EndpointId::generate();
        let woken = || async {
            tokio::time::timeout(std::time::Duration::from_millis(50), sending.freed())
                .await
                .is_ok()
        };
        sending.answered(sending.start(&ep));
        assert!(!woken().await, "one answer is not enough");
        sending.answered(sending.start(&ep));
        assert!(woken().await, "the second one wakes it");

        sending.answered(sending.start(&ep));
        sending.claim_begins();
        sending.answered(sending.start(&ep));
        assert!(!woken().await, "a claim starts the count again");
        drop(sending.start(&ep));
        assert!(
            !woken().await,
            "a failure ends without waking: its recorder does"
        );
    }
}
