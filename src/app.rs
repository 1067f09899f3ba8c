//! Wiring: open the store, resolve API tokens, bind the listener, run API and/or workers
//! until a shutdown is requested.

use crate::api::{self, ApiState, Auth};
use crate::config::Config;
use crate::delivery::Worker;
use crate::store::{self, DynStore};
use anyhow::Context;
use axum::ServiceExt;
use axum::extract::Request;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

/// How often each worker process runs the retention sweep.
const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Which parts of Hookline a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// API and delivery workers in one process.
    Serve,
    /// The management API only.
    Api,
    /// Delivery workers only.
    Worker,
}

impl Role {
    fn runs_api(self) -> bool {
        matches!(self, Self::Serve | Self::Api)
    }
    fn runs_worker(self) -> bool {
        matches!(self, Self::Serve | Self::Worker)
    }
}

/// A built, not yet running Hookline process.
pub struct Application {
    config: Arc<Config>,
    role: Role,
    store: DynStore,
    listener: Option<TcpListener>,
    auth: Arc<Auth>,
    generated_token: Option<String>,
}

impl Application {
    /// Opens the store (applying migrations unless disabled), resolves the API tokens and
    /// binds the listener if the role serves the API.
    ///
    /// # Errors
    /// If the database cannot be opened or migrated, or the address cannot be bound.
    pub async fn build(config: Config, role: Role) -> anyhow::Result<Self> {
        let store = store::open(&config.database_url).await?;
        if config.run_migrations {
            store.migrate().await.context("applying migrations")?;
        }
        let (auth, generated_token) = Auth::resolve(&config.api_tokens, store.as_ref()).await?;
        let listener = if role.runs_api() {
            Some(
                TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("binding {}", config.listen))?,
            )
        } else {
            None
        };
        Ok(Self {
            config: Arc::new(config),
            role,
            store,
            listener,
            auth: Arc::new(auth),
            generated_token,
        })
    }

    /// The bound API port, if this process serves the API.
    pub fn port(&self) -> Option<u16> {
        self.listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// The API token generated on this start, if none existed before. Shown once.
    pub fn generated_token(&self) -> Option<&str> {
        self.generated_token.as_deref()
    }

    /// The store this process uses.
    pub fn store(&self) -> DynStore {
        self.store.clone()
    }

    /// Runs until `shutdown` is cancelled, then drains: the API stops accepting, workers
    /// stop claiming and finish in-flight attempts.
    ///
    /// # Errors
    /// If the server or a worker fails.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        if self.role.runs_worker() {
            let worker = Worker::new(self.store.clone(), self.config.clone())?;
            let token = shutdown.clone();
            tasks.spawn(async move { worker.run(token).await });
            let (store, token) = (self.store.clone(), shutdown.clone());
            tasks.spawn(async move {
                crate::delivery::retention::run(store, RETENTION_INTERVAL, token).await;
                Ok(())
            });
        }
        if let Some(listener) = self.listener {
            let state = ApiState {
                store: self.store.clone(),
                config: self.config.clone(),
                auth: self.auth.clone(),
            };
            // Svix's examples write collection paths with a trailing slash; accept both.
            let router = api::router(state).context("serializing the OpenAPI document")?;
            let service = NormalizePathLayer::trim_trailing_slash().layer(router);
            let token = shutdown.clone();
            tasks.spawn(async move {
                axum::serve(listener, ServiceExt::<Request>::into_make_service(service))
                    .with_graceful_shutdown(token.cancelled_owned())
                    .await
                    .context("serving the API")
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.context("task panicked")??;
        }
        Ok(())
    }
}
