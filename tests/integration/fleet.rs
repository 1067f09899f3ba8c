//! The fleet: the real binary as `hookline api` and `hookline worker` processes sharing one
//! fresh Postgres database, as operators run it. Workers are killed, drained and restarted;
//! API processes race each other.
//!
//! Every process is killed when its handle drops and the database is dropped after them,
//! on every path. Fleet tests take [`Fleet::exclusive`] so that at most one runs at a time:
//! each keeps several processes busy, and two at once on a small machine would only measure
//! the machine.

mod crash;
mod drain;
mod idempotency;

use crate::helpers::{DEADLINE, TOKEN, TestApp};
use crate::pg_support::{PgDatabaseGuard, fresh_pg_database};
use crate::process::{Process, free_port};
use serde_json::json;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard};

/// Request timeout of every process; the lease is longer, as the configuration requires.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Lease of every worker: short, so a killed worker's deliveries are due again quickly.
const LEASE: &str = "3s";

/// A fresh Postgres database, a working directory, and a pool for looking at the tables.
pub struct Fleet {
    /// For `SELECT`s straight from the tables (the API does not show leases).
    pub pool: PgPool,
    dir: tempfile::TempDir,
    // Declared last so it drops last: the pool closes first.
    db: PgDatabaseGuard,
    _exclusive: MutexGuard<'static, ()>,
}

/// An `api` process and a client for it.
pub struct Api {
    /// A client for its port.
    pub client: TestApp,
    /// Its port.
    pub port: u16,
    /// The process; dropping it kills it.
    pub process: Process,
}

/// A `worker` process and the id it claims under (`deliveries.locked_by`).
pub struct Worker {
    /// The worker id from its start-up log line.
    pub id: String,
    /// The process; dropping it kills it.
    pub process: Process,
}

impl Fleet {
    /// Waits until no other fleet test runs, then creates the database.
    pub async fn exclusive() -> Self {
        static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());
        let exclusive = ONE_AT_A_TIME.lock().await;
        let db = fresh_pg_database().await;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_lazy(db.url())
            .expect("a valid database URL");
        Self {
            pool,
            dir: tempfile::tempdir().expect("temporary directory"),
            db,
            _exclusive: exclusive,
        }
    }

    /// The environment every process gets, plus `extra` (which wins).
    fn env(&self, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut vars: BTreeMap<&str, String> = [
            ("HOOKLINE_DATABASE_URL", self.db.url().to_owned()),
            ("HOOKLINE_API_TOKEN", TOKEN.to_owned()),
            ("HOOKLINE_ALLOWED_SUBNETS", "127.0.0.0/8".to_owned()),
            ("HOOKLINE_POLL_INTERVAL", "100ms".to_owned()),
            ("HOOKLINE_RETRY_SCHEDULE", "200ms,200ms,200ms".to_owned()),
            (
                "HOOKLINE_REQUEST_TIMEOUT",
                humantime::format_duration(REQUEST_TIMEOUT).to_string(),
            ),
            ("HOOKLINE_LEASE", LEASE.to_owned()),
            ("HOOKLINE_LOG_FORMAT", "json".to_owned()),
        ]
        .into_iter()
        .collect();
        for (k, v) in extra {
            vars.insert(k, v.clone());
        }
        vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// Starts `hookline api` on a free port and waits until it is healthy (it applies the
    /// migrations; start one before any worker).
    pub async fn start_api(&self) -> Api {
        let port = free_port();
        let env = self.env(&[("HOOKLINE_LISTEN", format!("127.0.0.1:{port}"))]);
        let mut process = Process::start("api", self.dir.path(), &env);
        process.wait_healthy(port).await;
        Api {
            client: TestApp::external(port, TOKEN),
            port,
            process,
        }
    }

    /// Starts `hookline worker` with `extra` settings and waits until its loop runs.
    pub async fn start_worker(&self, extra: &[(&str, String)]) -> Worker {
        let mut process = Process::start("worker", self.dir.path(), &self.env(extra));
        let line = process
            .wait_for_line("delivery worker started", DEADLINE)
            .await;
        let log: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the log line is JSON ({e}): {line}"));
        let id = log["fields"]["worker_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no worker_id in {line}"))
            .to_owned();
        Worker { id, process }
    }

    /// How many deliveries are in each status (0 success, 1 pending, 2 fail, 3 sending).
    pub async fn delivery_statuses(&self) -> BTreeMap<i16, i64> {
        sqlx::query_as::<_, (i16, i64)>(
            "SELECT status::smallint, count(*) FROM deliveries GROUP BY status",
        )
        .fetch_all(&self.pool)
        .await
        .expect("counting deliveries by status")
        .into_iter()
        .collect()
    }

    /// How many deliveries are `sending` (3): leased, with no outcome recorded.
    pub async fn sending(&self) -> i64 {
        self.delivery_statuses().await.get(&3).copied().unwrap_or(0)
    }

    /// Waits until all `total` deliveries are delivered (status 0), failing after
    /// `deadline` with the counts seen last.
    pub async fn wait_all_delivered(&self, total: i64, deadline: Instant) {
        loop {
            let statuses = self.delivery_statuses().await;
            if statuses.get(&0) == Some(&total) && statuses.values().sum::<i64>() == total {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not all {total} deliveries were delivered in time; by status: {statuses:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Creates an application with one unfiltered endpoint per path and returns their ids.
pub async fn app_with_endpoints(
    client: &TestApp,
    rx: &crate::helpers::Receiver,
    paths: &[String],
) -> (String, Vec<String>) {
    let app_id = client.create_app("Fleet").await;
    let mut endpoints = Vec::new();
    for path in paths {
        endpoints.push(
            client
                .create_endpoint_id(&app_id, &rx.url(path), json!({}))
                .await,
        );
    }
    (app_id, endpoints)
}
