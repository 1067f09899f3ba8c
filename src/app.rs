//! Wiring: open the store, resolve API tokens, bind the listeners, run API and/or workers
//! until a shutdown is requested. One [`Metrics`] registry per process is shared by the
//! API, the worker and the `/metrics` route.

use crate::api::{self, ApiState, Auth};
use crate::config::Config;
use crate::delivery::Worker;
use crate::metrics::Metrics;
use crate::store::{self, DynStore, Sealer};
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

/// Opens the configured store, applies migrations if `migrate`, and makes its endpoint
/// secrets agree with `HOOKLINE_MAIN_SECRET` (sealing plaintext ones when it is set): what
/// every command does before touching the database.
///
/// # Errors
/// If the database cannot be opened or migrated, or `HOOKLINE_MAIN_SECRET` is not the key
/// its secrets were encrypted with (or is unset while they are encrypted).
pub async fn open_store(config: &Config, migrate: bool) -> anyhow::Result<DynStore> {
    let sealer = Sealer::new(config.main_secret.as_deref());
    let store = store::open(&config.database_url, sealer).await?;
    if migrate {
        store.migrate().await.context("applying migrations")?;
    }
    let sealed = store
        .prepare_secrets_at_rest()
        .await
        .context("checking the endpoint secrets at rest")?;
    if sealed > 0 {
        tracing::info!(endpoints = sealed, "encrypted existing endpoint secrets");
    }
    Ok(store)
}

/// A built, not yet running Hookline process.
pub struct Application {
    config: Arc<Config>,
    role: Role,
    store: DynStore,
    listener: Option<TcpListener>,
    metrics_listener: Option<TcpListener>,
    auth: Arc<Auth>,
    metrics: Metrics,
    generated_token: Option<String>,
}

impl Application {
    /// Opens the store (see [`open_store`]; migrations unless disabled), resolves the API
    /// tokens and binds the listener if the role serves the API, and
    /// `HOOKLINE_METRICS_LISTEN` if set.
    ///
    /// # Errors
    /// If the database cannot be opened or migrated, its endpoint secrets do not go with
    /// `HOOKLINE_MAIN_SECRET`, or the address cannot be bound.
    pub async fn build(config: Config, role: Role) -> anyhow::Result<Self> {
        let store = open_store(&config, config.run_migrations).await?;
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
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding HOOKLINE_METRICS_LISTEN {addr}"))?,
            ),
            None => None,
        };
        Ok(Self {
            config: Arc::new(config),
            role,
            store,
            listener,
            metrics_listener,
            auth: Arc::new(auth),
            metrics: Metrics::new(),
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

    /// The bound `HOOKLINE_METRICS_LISTEN` port, if one is configured.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener
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
            let worker = Worker::new(
                self.store.clone(),
                self.config.clone(),
                self.metrics.clone(),
            )?;
            let token = shutdown.clone();
            tasks.spawn(async move { worker.run(token).await });
            let (store, token) = (self.store.clone(), shutdown.clone());
            tasks.spawn(async move {
                crate::delivery::retention::run(store, RETENTION_INTERVAL, token).await;
                Ok(())
            });
        }
        let state = ApiState {
            store: self.store.clone(),
            config: self.config.clone(),
            auth: self.auth.clone(),
            metrics: self.metrics.clone(),
        };
        if let Some(listener) = self.metrics_listener {
            let service = api::metrics_router(state.clone());
            let token = shutdown.clone();
            tasks.spawn(async move {
                axum::serve(listener, service)
                    .with_graceful_shutdown(token.cancelled_owned())
                    .await
                    .context("serving HOOKLINE_METRICS_LISTEN")
            });
        }
        if let Some(listener) = self.listener {
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
