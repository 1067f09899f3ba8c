//! Requests a worker has had delivered but whose outcomes are not yet recorded.
//!
//! The store counts an endpoint's in-flight deliveries by their unexpired leases, and a
//! lease ends only when its outcome is written. While a delivered outcome waits for a
//! recorder the receiver is no longer loaded, so the bulkhead should not count it: that
//! wait would otherwise cap a healthy endpoint at its bulkhead per claim-send-record cycle.
//! Failures are not marked: they still count until recorded, so the breaker sees them
//! before the endpoint is sent more (at most the bulkhead goes out past a tripping failure).
//!
//! The worker marks each delivery here until a recorder takes the outcome, and the claim plan,
//! which runs after the store has counted, subtracts the marks left. A mark is dropped before
//! its write starts, so any mark the plan sees belongs to a lease the store still counted:
//! nothing is subtracted twice. (During the write itself the lease counts again, which
//! errs on the side of the receiver.) Only this worker's own leases are marked.

use crate::domain::EndpointId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Shared by a worker's attempts (which mark answers) and its claims (which read them).
#[derive(Debug, Clone, Default)]
pub struct Answered {
    counts: Arc<Mutex<HashMap<EndpointId, usize>>>,
}

impl Answered {
    /// Marks one answered request to `endpoint`, until the returned guard is dropped (when
    /// a recorder takes its outcome).
    #[must_use]
    pub fn mark(&self, endpoint: &EndpointId) -> AnswerMark {
        let mut counts = self.lock();
        // The key is cloned only for an endpoint not marked yet (this runs per delivery).
        match counts.get_mut(endpoint) {
            Some(n) => *n += 1,
            None => {
                counts.insert(endpoint.clone(), 1);
            }
        }
        drop(counts);
        AnswerMark {
            answered: self.clone(),
            endpoint: endpoint.clone(),
        }
    }

    /// Answered requests to `endpoint` not yet recorded.
    pub fn count(&self, endpoint: &EndpointId) -> usize {
        self.lock().get(endpoint).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EndpointId, usize>> {
        // The map holds plain counts, consistent after any panic.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One answered request; unmarks it when dropped.
#[derive(Debug)]
pub struct AnswerMark {
    answered: Answered,
    endpoint: EndpointId,
}

impl Drop for AnswerMark {
    fn drop(&mut self) {
        let mut counts = self.answered.lock();
        if let Some(n) = counts.get_mut(&self.endpoint) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.endpoint);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_count_until_dropped() {
        let answered = Answered::default();
        let (a, b) = (EndpointId::generate(), EndpointId::generate());
        let first = answered.mark(&a);
        let second = answered.mark(&a);
        let other = answered.mark(&b);
        assert_eq!((answered.count(&a), answered.count(&b)), (2, 1));
        drop(first);
        assert_eq!(answered.count(&a), 1);
        drop((second, other));
        assert_eq!((answered.count(&a), answered.count(&b)), (0, 0));
        assert!(answered.lock().is_empty(), "no entry outlives its marks");
    }
}
