//! The claim loop: lease due deliveries in batches sized to free capacity, send each on its
//! own task, hand outcomes to the recorder.

use super::gate::{BreakerPolicy, ClaimPolicy, Sending, SendingMark};
use super::recorder;
use super::retry::RetryPolicy;
use super::sender::{SendResult, Sender};
use super::slots::{Slot, Slots};
use crate::config::Config;
use crate::domain::AttemptId;
use crate::metrics::{Finish, Metrics};
use crate::store::{Attempt, ClaimedDelivery, DeliveryStatus, DynStore, Outcome};
use crate::telemetry::error_chain;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a claim loop woken only by recorded outcomes waits before claiming (see
/// [`Worker::wait_for_room`]).
const RECORDED_SETTLE: Duration = Duration::from_millis(20);

/// A delivery worker: one per process, running up to `HOOKLINE_WORKER_CONCURRENCY`
/// attempts at once.
pub struct Worker {
    id: String,
    store: DynStore,
    config: Arc<Config>,
    sender: Sender,
    retry: RetryPolicy,
    claim_policy: ClaimPolicy,
    breaker: BreakerPolicy,
    /// This worker's requests that still count against their endpoints' bulkheads.
    sending: Sending,
    metrics: Metrics,
}

impl Worker {
    /// Builds a worker with its HTTP client, counting what it does in `metrics`.
    ///
    /// # Errors
    /// If the HTTP client cannot be built.
    pub fn new(store: DynStore, config: Arc<Config>, metrics: Metrics) -> anyhow::Result<Self> {
        // A quarter of a bulkhead freed is worth a claim, if nothing else prompted one.
        let sending = Sending::new(config.endpoint_concurrency / 4);
        Ok(Self {
            id: format!("wkr_{}", ulid::Ulid::new()),
            sender: Sender::new(&config)?,
            retry: RetryPolicy::new(config.retry_schedule.clone()),
            claim_policy: ClaimPolicy {
                sending: Some(sending.clone()),
                ..config.claim_policy()
            },
            sending,
            breaker: config.breaker_policy(),
            store,
            config,
            metrics,
        })
    }

    /// Claims, sends and records until `shutdown` is cancelled. Then it stops claiming,
    /// lets in-flight attempts finish (each is bounded by the request timeout) and writes
    /// their outcomes before returning.
    ///
    /// # Errors
    /// Never at present; store failures are logged and retried with backoff.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let this = Arc::new(self);
        let (tx, rx) = mpsc::channel(this.config.worker_concurrency.max(64) * 2);
        // Recorded outcomes free lease slots (and a failure's bulkhead room): the
        // recorder says so, and the loop claims. Delivered answers say so through `sending`.
        let recorded = Arc::new(Notify::new());
        let recorder = tokio::spawn(recorder::run(
            this.store.clone(),
            this.breaker.clone(),
            rx,
            recorded.clone(),
        ));
        let slots = Slots::new(this.config.worker_concurrency);
        let mut in_flight = JoinSet::new();
        let mut backoff = Duration::from_millis(100);
        tracing::info!(worker_id = %this.id, "delivery worker started");

        while !shutdown.is_cancelled() {
            while in_flight.try_join_next().is_some() {}
            // Wait for at least one free slot before claiming.
            let first = tokio::select! {
                slot = slots.acquire() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
                () = shutdown.cancelled() => break,
            };
            let want = (slots.available() + 1).min(this.config.claim_batch);
            let started = std::time::Instant::now();
            this.sending.claim_begins();
            let claimed = match this
                .store
                .claim(&this.id, want, this.config.lease, &this.claim_policy)
                .await
            {
                Ok(claimed) => {
                    this.metrics.claimed(claimed.len(), started.elapsed());
                    backoff = Duration::from_millis(100);
                    claimed
                }
                Err(e) => {
                    drop(first);
                    tracing::warn!(error = %error_chain(&e), "claiming deliveries failed; backing off");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            if claimed.is_empty() {
                drop(first);
                if !this.wait_for_room(&recorded, &shutdown).await {
                    break;
                }
                continue;
            }
            // A short batch means nothing more may go now (the queue is drained, or the
            // rest is held back by bulkheads, rate limits or breakers): wait for new work or
            // freed room instead of spending a query on an empty claim.
            let drained = claimed.len() < want;
            let mut free = std::iter::once(first).chain(std::iter::from_fn(|| slots.try_acquire()));
            for delivery in claimed {
                // `want` never exceeds the free slots, and only this loop takes them.
                let Some(slot) = free.next() else {
                    tracing::error!("claimed more deliveries than free capacity");
                    break;
                };
                let mark = this.sending.start(&delivery.endpoint_id);
                let (this, tx) = (this.clone(), tx.clone());
                in_flight.spawn(async move { this.attempt(delivery, (slot, mark), tx).await });
            }
            if drained && !this.wait_for_room(&recorded, &shutdown).await {
                break;
            }
        }

        tracing::info!(in_flight = in_flight.len(), "delivery worker draining");
        while in_flight.join_next().await.is_some() {}
        drop(tx);
        let _ = recorder.await;
        tracing::info!(worker_id = %this.id, "delivery worker stopped");
        Ok(())
    }

    /// Waits, after a claim that took all it could, for what may let the next one take
    /// more: new work, freed bulkhead room, or the poll interval. Recorded outcomes (a
    /// failure's bulkhead room, a breaker closed by its probe) count only after
    /// [`RECORDED_SETTLE`], unless something else comes first: at light load the recorder
    /// writes a batch every few deliveries, and a claim for each would read the gate state
    /// of every endpoint with waiting work (held-back ones included) several times per
    /// message. False once shutdown begins.
    async fn wait_for_room(&self, recorded: &Notify, shutdown: &CancellationToken) -> bool {
        let settle = tokio::select! {
            () = self.store.wait_for_work(self.config.poll_interval) => false,
            () = recorded.notified() => true,
            () = self.sending.freed() => false,
            () = shutdown.cancelled() => return false,
        };
        if settle {
            tokio::select! {
                () = self.store.wait_for_work(RECORDED_SETTLE) => {}
                () = self.sending.freed() => {}
                () = shutdown.cancelled() => return false,
            }
        }
        true
    }

    #[tracing::instrument(
        skip_all,
        fields(msg_id = %delivery.msg_id, endpoint_id = %delivery.endpoint_id,
               app_id = %delivery.app_id, attempt = delivery.attempts_made + 1)
    )]
    async fn attempt(
        &self,
        delivery: ClaimedDelivery,
        (slot, mark): (Slot, SendingMark),
        outcomes: mpsc::Sender<(Outcome, recorder::Held)>,
    ) {
        let _in_flight = self.metrics.in_flight();
        // A rate-limited endpoint's slot may lie up to a second ahead: wait for it, holding
        // the lease (and the request slot, which bounds how many can wait).
        if let Ok(wait) = (delivery.not_before - chrono::Utc::now()).to_std() {
            tokio::time::sleep(wait).await;
        }
        let result = self.sender.send(&delivery).await;
        let (status, error_class, duration, verdict) = (
            result.status,
            result.error_class,
            result.duration,
            result.verdict,
        );
        let outcome = self.outcome(delivery, result);
        // Only a delivered request frees its bulkhead room before it is recorded: a failure
        // has to reach the breaker first, or a failing receiver would be sent more while
        // its failures wait for the recorder.
        let mark = if matches!(outcome.next, crate::store::NextStep::Delivered) {
            self.sending.answered(mark);
            None
        } else {
            Some(mark)
        };
        let finish = Finish::of(&outcome.next, verdict);
        self.metrics
            .attempt_finished(status, error_class, duration, finish);
        // The one line per attempt; the span carries msg_id, endpoint_id, app_id, attempt.
        tracing::info!(
            outcome = finish.as_str(),
            status,
            error_class = error_class.map(|c| c.as_str()),
            duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            "attempt"
        );
        // The request slot is freed once the outcome is queued for the recorder; the lease
        // slot, and a failure's mark, travel with the outcome and are freed once it is
        // written.
        if outcomes.send((outcome, (slot.lease, mark))).await.is_err() {
            tracing::error!("outcome recorder stopped before the worker");
        }
        drop(slot.request);
    }

    fn outcome(&self, delivery: ClaimedDelivery, result: SendResult) -> Outcome {
        let next = self.retry.next_step(
            result.verdict,
            delivery.trigger_type,
            delivery.attempts_made,
            chrono::Utc::now(),
        );
        let delivered = matches!(next, crate::store::NextStep::Delivered);
        Outcome {
            delivery_id: delivery.delivery_id,
            row_version: delivery.row_version,
            worker_id: self.id.clone(),
            attempt: Attempt {
                id: AttemptId::generate(),
                msg_id: delivery.msg_id,
                endpoint_id: delivery.endpoint_id,
                app_id: delivery.app_id,
                url: delivery.url,
                status: if delivered {
                    DeliveryStatus::Success
                } else {
                    DeliveryStatus::Fail
                },
                response_status_code: result
                    .status
                    .and_then(|s| i16::try_from(s).ok())
                    .unwrap_or(0),
                response: result.body,
                response_duration_ms: i64::try_from(result.duration.as_millis())
                    .unwrap_or(i64::MAX),
                trigger_type: delivery.trigger_type,
                error_class: result.error_class,
                created_at: result.started_at,
            },
            next,
            disable_endpoint: result.status == Some(410),
        }
    }
}
