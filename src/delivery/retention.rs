//! The retention sweep: expunges message payloads past their retention period and forgets
//! idempotency keys after a day. Every worker process runs it; the store makes concurrent
//! sweeps safe, so there is no leader to elect.

use crate::store::DynStore;
use crate::telemetry::error_chain;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long an `idempotency-key` is remembered, as Svix does.
pub const IDEMPOTENCY_KEY_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Rows changed per statement, so a sweep never holds the database for long.
const BATCH: usize = 1000;

/// Sweeps every `interval` (with jitter, so a fleet's sweeps spread out) until `shutdown`.
pub async fn run(store: DynStore, interval: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(super::retry::jitter(interval)) => {}
            () = shutdown.cancelled() => return,
        }
        let keys_before = chrono::Utc::now()
            - chrono::Duration::from_std(IDEMPOTENCY_KEY_TTL).unwrap_or(chrono::Duration::MAX);
        loop {
            match store.sweep_expired(keys_before, BATCH).await {
                Ok(report) => {
                    if report.payloads > 0 || report.idempotency_keys > 0 {
                        tracing::info!(
                            payloads = report.payloads,
                            idempotency_keys = report.idempotency_keys,
                            "retention sweep"
                        );
                    }
                    let full = BATCH as u64;
                    if (report.payloads < full && report.idempotency_keys < full)
                        || shutdown.is_cancelled()
                    {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "retention sweep failed; trying again later");
                    break;
                }
            }
        }
    }
}
