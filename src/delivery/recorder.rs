//! Writes attempt outcomes in batches: whatever has queued up while the previous batch was
//! being written goes into the next transaction.
//!
//! One recorder per worker. Every batch locks the endpoint rows of its breakers, so
//! concurrent recorders of a worker wrote one at a time anyway, waiting for each other's
//! locks, and each wrote smaller batches: with three, Postgres spent about a tenth more time
//! per delivery on statements (an eighth of it waiting for those locks), and one recorder
//! delivered 1.14× (ten endpoints) and 1.23× (one endpoint) as much in the end-to-end bench.

use super::gate::{BreakerPolicy, SendingMark};
use crate::store::{DynStore, Outcome};
use crate::telemetry::error_chain;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc};

/// Most outcomes written in one transaction.
const MAX_BATCH: usize = 512;

/// What an outcome holds until it is written: its lease slot in the worker, and for a
/// failed request the mark that counts it against the endpoint's bulkhead (a delivered
/// one stopped counting when it was answered).
pub type Held = (OwnedSemaphorePermit, Option<SendingMark>);

/// Records outcomes until every sender of `rx` is dropped, then returns after the last write.
/// What each outcome holds is released once the outcome is written, and `recorded` is
/// notified, since the written outcomes may have freed worker capacity or bulkhead room.
///
/// A batch that cannot be written is retried with backoff; if the store stays down, the
/// deliveries' leases expire and they are attempted again (at least once, never lost).
pub async fn run(
    store: DynStore,
    breaker: BreakerPolicy,
    mut rx: mpsc::Receiver<(Outcome, Held)>,
    recorded: Arc<Notify>,
) {
    let mut received = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut received, MAX_BATCH).await > 0 {
        let held: Vec<Held> = received
            .drain(..)
            .map(|(outcome, held)| {
                batch.push(outcome);
                held
            })
            .collect();
        let mut delay = Duration::from_millis(50);
        for attempt in 1.. {
            match store.record_outcomes(&batch, &breaker).await {
                Ok(()) => break,
                Err(e) if attempt < 8 => {
                    tracing::warn!(error = %error_chain(&e), attempt, "recording outcomes failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(
                        error = %error_chain(&e),
                        lost = batch.len(),
                        "giving up recording outcomes; their leases will expire and they will be retried"
                    );
                    break;
                }
            }
        }
        batch.clear();
        drop(held);
        recorded.notify_one();
    }
}
