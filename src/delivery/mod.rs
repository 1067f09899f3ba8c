//! Delivery: the worker loop that claims due deliveries, signs and sends them, and records
//! what happened.

use crate::config::Config;
use crate::store::DynStore;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A delivery worker.
pub struct Worker {}

impl Worker {
    /// Builds a worker with its HTTP client.
    ///
    /// # Errors
    /// If the HTTP client cannot be built.
    pub fn new(_store: DynStore, _config: Arc<Config>) -> anyhow::Result<Self> {
        todo!()
    }

    /// Claims, sends and records until `shutdown` is cancelled.
    ///
    /// # Errors
    /// If the store fails persistently.
    pub async fn run(self, _shutdown: CancellationToken) -> anyhow::Result<()> {
        todo!()
    }
}
