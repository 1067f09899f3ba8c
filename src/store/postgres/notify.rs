//! Waking idle workers across processes with `LISTEN/NOTIFY`.
//!
//! Writers that make work due (`create_message`, `resend`, `recover`, `release`) call
//! [`work_available`] inside their transaction; Postgres delivers the notification when it
//! commits, and drops it if it rolls back, so a worker is never woken for work that does
//! not exist. Each store keeps one background listener, started by the first
//! `wait_for_work`, that turns notifications into a [`Notify`] wake-up. Notifications are
//! best effort (they are lost while the listener reconnects); the caller's poll interval is
//! the fallback that makes delivery independent of them.

use crate::store::StoreResult;
use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The channel every Hookline process listens on. Payloads are empty: a notification only
/// says "claim now", the claim query finds out what.
pub(super) const CHANNEL: &str = "hookline_work";
/// First delay before reconnecting a failed listener; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest delay between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Queues a wake-up for every listening worker, sent when the transaction commits.
///
/// # Errors
/// If the statement fails (the transaction is then unusable anyway).
pub(super) async fn work_available(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// The store's side of `wait_for_work`: a lazily started listener task and the [`Notify`]
/// it signals. Dropping it stops the task and closes its connection.
pub(super) struct Wakeup {
    /// Signalled on every notification and after every re-subscription.
    work: Arc<Notify>,
    /// How to open the listener's own connection (a dedicated one, so a busy query pool
    /// never delays or starves it).
    options: PgConnectOptions,
    /// The listener task, once started.
    task: OnceLock<JoinHandle<()>>,
}

impl Wakeup {
    /// A wake-up source whose listener will connect with `options`.
    pub(super) fn new(options: PgConnectOptions) -> Self {
        Self {
            work: Arc::new(Notify::new()),
            options,
            task: OnceLock::new(),
        }
    }

    /// Returns on the next notification, or after `timeout`. Starts the listener on first
    /// use, so work queued while that first connection is being set up is only seen by
    /// the caller's next claim (at the latest after `timeout`).
    pub(super) async fn wait(&self, timeout: Duration) {
        self.task
            .get_or_init(|| tokio::spawn(listen(self.options.clone(), Arc::clone(&self.work))));
        // Elapsing is the polling fallback, not an error.
        let _ = tokio::time::timeout(timeout, self.work.notified()).await;
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// Wakes every waiting worker, and the next one to wait if none is waiting, so a
/// notification that arrives between an empty claim and the wait is not missed.
fn wake(work: &Notify) {
    work.notify_waiters();
    work.notify_one();
}

/// Listens until aborted, reconnecting with backoff whenever the connection fails.
async fn listen(options: PgConnectOptions, work: Arc<Notify>) {
    // A pool of one lets `PgListener` re-establish its connection by itself after a drop.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(options);
    let mut backoff = MIN_BACKOFF;
    let mut resubscribing = false;
    loop {
        match subscribe(&pool).await {
            Ok(mut listener) => {
                backoff = MIN_BACKOFF;
                // Anything sent while we were not subscribed is lost: after an outage, let
                // workers look. Not on the first subscription: its caller has just claimed,
                // and a wait with nothing due should run its course.
                if resubscribing {
                    wake(&work);
                }
                loop {
                    match listener.try_recv().await {
                        Ok(Some(_)) => wake(&work),
                        // The connection dropped and was re-established; notifications in
                        // between were lost.
                        Ok(None) => wake(&work),
                        Err(error) => {
                            tracing::warn!(%error, "work listener lost its connection");
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "work listener cannot subscribe");
            }
        }
        resubscribing = true;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscribe(pool: &sqlx::PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.ignore_pool_close_event(true);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
