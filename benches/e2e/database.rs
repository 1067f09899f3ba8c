//! The database one run uses: a SQLite file in the run's directory, or a fresh, uniquely
//! named Postgres database that is dropped afterwards (`WITH (FORCE)`, so connections a killed
//! process left behind cannot keep it alive).

use crate::args::StoreKind;
use anyhow::Context;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// A database created for one run. Call [`Database::drop_now`] on every exit path.
pub enum Database {
    /// The file lives in the run's temporary directory, which removes it.
    Sqlite {
        /// `sqlite://…` for Hookline.
        url: String,
    },
    /// Created on `admin_url`'s server.
    Postgres {
        /// The maintenance database used to create and drop it.
        admin_url: String,
        /// The database's name.
        name: String,
        /// `postgres://…/name` for Hookline.
        url: String,
    },
}

impl Database {
    /// Creates the run's database.
    ///
    /// # Errors
    /// If Postgres cannot be reached or refuses `CREATE DATABASE`.
    pub async fn create(kind: StoreKind, dir: &Path, admin_url: &str) -> anyhow::Result<Self> {
        match kind {
            StoreKind::Sqlite => Ok(Self::Sqlite {
                url: format!("sqlite://{}", dir.join("hookline.db").display()),
            }),
            StoreKind::Postgres => {
                let name = format!(
                    "hookline_bench_{}",
                    ulid::Ulid::new().to_string().to_ascii_lowercase()
                );
                let mut url = url::Url::parse(admin_url)
                    .with_context(|| format!("--postgres-url {admin_url:?} is not a URL"))?;
                url.set_path(&format!("/{name}"));
                let mut conn = PgConnection::connect(admin_url)
                    .await
                    .with_context(|| format!("connecting to {admin_url}"))?;
                sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("creating database {name}"))?;
                let _ = conn.close().await;
                Ok(Self::Postgres {
                    admin_url: admin_url.to_owned(),
                    name,
                    url: url.to_string(),
                })
            }
        }
    }

    /// `HOOKLINE_DATABASE_URL` for the run.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url } | Self::Postgres { url, .. } => url,
        }
    }

    /// A handle that measures the CPU time of the Postgres backends serving this database;
    /// `None` for SQLite, whose work happens inside the Hookline processes.
    pub fn backends(&self) -> Option<Backends> {
        match self {
            Self::Sqlite { .. } => None,
            Self::Postgres {
                admin_url, name, ..
            } => Some(Backends {
                admin_url: admin_url.clone(),
                name: name.clone(),
            }),
        }
    }

    /// Waits for `task`, the run on this database (aborting it on Ctrl-C), then drops the
    /// database whatever happened. On its own task a panic still comes back here; the task
    /// owns the processes, whose guard kills them when it ends or is aborted.
    ///
    /// # Errors
    /// The run's error (a panic or Ctrl-C included), or else the drop's.
    pub async fn run_then_drop<T: Send + 'static>(
        self,
        mut task: tokio::task::JoinHandle<anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let result = tokio::select! {
            joined = &mut task => joined
                .map_err(|e| anyhow::anyhow!("the bench panicked: {e}"))
                .and_then(|r| r),
            _ = tokio::signal::ctrl_c() => {
                task.abort();
                let _ = (&mut task).await;
                Err(anyhow::anyhow!("interrupted"))
            }
        };
        match (result, self.drop_now().await) {
            (Ok(done), Ok(())) => Ok(done),
            (Ok(_), Err(drop_err)) => Err(drop_err),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(drop_err)) => Err(e.context(format!("also: {drop_err:#}"))),
        }
    }

    /// Drops a Postgres database, disconnecting whoever is still connected.
    ///
    /// # Errors
    /// If Postgres cannot be reached or refuses the drop; the database is then left behind
    /// and named in the error.
    pub async fn drop_now(self) -> anyhow::Result<()> {
        let Self::Postgres {
            admin_url, name, ..
        } = self
        else {
            return Ok(());
        };
        let result = async {
            let mut conn = PgConnection::connect(&admin_url).await?;
            sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                .execute(&mut conn)
                .await?;
            conn.close().await
        }
        .await;
        result.with_context(|| format!("dropping database {name} (drop it by hand)"))
    }
}

/// The Postgres server processes connected to the bench's database (the server runs on
/// this host, so their CPU time is readable in `/proc`).
pub struct Backends {
    admin_url: String,
    name: String,
}

/// CPU time used so far by each backend, by pid.
pub type BackendCpu = HashMap<u32, Duration>;

impl Backends {
    /// Samples the CPU time of every backend connected to the database now.
    ///
    /// # Errors
    /// If `pg_stat_activity` cannot be read.
    pub async fn sample(&self) -> anyhow::Result<BackendCpu> {
        let mut conn = PgConnection::connect(&self.admin_url).await?;
        let pids: Vec<i32> =
            sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
                .bind(&self.name)
                .fetch_all(&mut conn)
                .await?;
        let _ = conn.close().await;
        Ok(pids
            .into_iter()
            .filter_map(|pid| {
                let pid = u32::try_from(pid).ok()?;
                Some((pid, crate::fleet::cpu_time(&pid.to_string())?))
            })
            .collect())
    }

    /// CPU time used between two samples. A backend that disconnected in between is not
    /// counted, so this is a lower bound; the pooled connections live for the whole run.
    pub fn used(before: &BackendCpu, after: &BackendCpu) -> Duration {
        after
            .iter()
            .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or_default()))
            .sum()
    }
}
