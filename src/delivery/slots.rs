//! A worker's two limits on claimed deliveries: requests in flight
//! (`HOOKLINE_WORKER_CONCURRENCY`) and leases whose outcomes are not written yet (twice
//! that). An outcome waiting for a recorder no longer holds a request slot, so a recorder
//! that falls behind lets its queue, and with it its batches, grow before claims slow down;
//! the lease slots bound what a crash can leave to be sent twice.

use std::sync::Arc;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

/// Both limits of one worker.
#[derive(Debug, Clone)]
pub struct Slots {
    requests: Arc<Semaphore>,
    leases: Arc<Semaphore>,
}

/// One claimed delivery's places.
#[derive(Debug)]
pub struct Slot {
    /// Freed once the outcome is queued for a recorder.
    pub request: OwnedSemaphorePermit,
    /// Freed once the outcome is written.
    pub lease: OwnedSemaphorePermit,
}

impl Slots {
    /// Room for `concurrency` requests in flight and twice as many unrecorded leases.
    pub fn new(concurrency: usize) -> Self {
        Self {
            requests: Arc::new(Semaphore::new(concurrency)),
            leases: Arc::new(Semaphore::new(concurrency.saturating_mul(2))),
        }
    }

    /// Waits for a place in both.
    ///
    /// # Errors
    /// Never: the semaphores are not closed.
    pub async fn acquire(&self) -> Result<Slot, AcquireError> {
        let lease = self.leases.clone().acquire_owned().await?;
        let request = self.requests.clone().acquire_owned().await?;
        Ok(Slot { request, lease })
    }

    /// A place in both, if both have one now.
    pub fn try_acquire(&self) -> Option<Slot> {
        let lease = self.leases.clone().try_acquire_owned().ok()?;
        let request = self.requests.clone().try_acquire_owned().ok()?;
        Some(Slot { request, lease })
    }

    /// Places free in both now.
    pub fn available(&self) -> usize {
        self.requests
            .available_permits()
            .min(self.leases.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_outcome_frees_its_request_but_not_its_lease() {
        let slots = Slots::new(2);
        let (a, b) = (
            slots.try_acquire().expect("room"),
            slots.try_acquire().expect("room"),
        );
        assert!(slots.try_acquire().is_none(), "two requests in flight");
        drop((a.request, b.request));
        let _c = slots
            .try_acquire()
            .expect("a and b are queued for a recorder");
        let d = slots.try_acquire().expect("room");
        assert!(
            slots.try_acquire().is_none(),
            "four leases unrecorded, two requests in flight"
        );
        drop(a.lease);
        assert_eq!(
            slots.available(),
            0,
            "a is written, but c and d are in flight"
        );
        drop(d.request);
        assert!(slots.try_acquire().is_some());
    }
}
