//! Group commit for `create_message`, shared by both stores: messages posted concurrently are
//! handed to a few writer tasks that each take whatever is waiting (up to [`MAX_BATCH`]) and
//! commit it together, so a commit (and its fsync) is paid per batch rather than per message.
//! While one batch is written the next requests gather for the next writer, so batches grow
//! with the load and a lone request waits for nothing. Every caller still gets its own answer,
//! and only after its message is committed.

use super::{NewMessage, StoreError, StoreResult};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Most messages committed together.
pub const MAX_BATCH: usize = 256;

/// One caller waiting for its message to be committed.
pub struct Job {
    /// What to store.
    pub message: NewMessage,
    /// Where its answer goes: the deliveries created, or why it was refused.
    pub reply: oneshot::Sender<StoreResult<usize>>,
}

/// The queue in front of the writer tasks. Dropping it lets them finish what is queued and
/// stop.
pub struct Ingest {
    queue: mpsc::Sender<Job>,
}

impl Ingest {
    /// Starts `writers` tasks on the current runtime, each calling `write` with a batch and
    /// expected to answer every job in it.
    pub fn spawn<W, F>(writers: usize, write: W) -> Self
    where
        W: Fn(Vec<Job>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send,
    {
        let writers = writers.max(1);
        let (queue, jobs) = mpsc::channel(MAX_BATCH * writers);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..writers {
            let (jobs, write) = (jobs.clone(), write.clone());
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(MAX_BATCH);
                loop {
                    if jobs.lock().await.recv_many(&mut batch, MAX_BATCH).await == 0 {
                        return;
                    }
                    write(std::mem::take(&mut batch)).await;
                }
            });
        }
        Self { queue }
    }

    /// Queues `message` and waits until it is committed (or refused).
    ///
    /// # Errors
    /// Whatever the store's writer answers; a database error if the writers have stopped.
    pub async fn create(&self, message: NewMessage) -> StoreResult<usize> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Database(sqlx::Error::PoolClosed);
        self.queue
            .send(Job { message, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
