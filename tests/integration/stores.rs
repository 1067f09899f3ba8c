//! Both stores from one test body: [`StoreKind`], a test's own empty database of either
//! kind, and [`per_store!`], which turns a list of tests into `sqlite::<name>` and
//! `postgres::<name>` `#[tokio::test]`s.

use crate::pg_support::{PgDatabaseGuard, fresh_pg_database};
use std::future::Future;

/// Which store a test runs on. Tests that hold for every store are written once as
/// `async fn name(store: StoreKind)` and listed in [`per_store!`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the test Postgres server (see `pg_support`).
    Postgres,
}

/// A test's own empty database, removed when dropped.
pub enum TestDatabase {
    /// A SQLite file in this directory.
    Sqlite(tempfile::TempDir),
    /// A Postgres database.
    Postgres(PgDatabaseGuard),
}

impl TestDatabase {
    /// Creates an empty database of `kind` (the service migrates it on start).
    pub async fn create(kind: StoreKind) -> Self {
        match kind {
            StoreKind::Sqlite => Self::Sqlite(tempfile::tempdir().expect("temporary directory")),
            StoreKind::Postgres => Self::Postgres(fresh_pg_database().await),
        }
    }

    /// The `HOOKLINE_DATABASE_URL` naming it.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("hookline.db").display()),
            Self::Postgres(db) => db.url().to_owned(),
        }
    }
}

/// Generates, for each listed test of the calling module, `sqlite::<name>` and
/// `postgres::<name>` `#[tokio::test]`s, so one body runs on both stores.
///
/// By default each test is an `async fn(StoreKind)` that sets up its own app
/// (`spawn_app(store)`). With `run = path;` first, each test is passed to `path(kind, test)`
/// instead, which builds the fixture (the store conformance suite hands checks a `DynStore`).
macro_rules! per_store {
    (run = $run:path; $($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    $run(crate::stores::StoreKind::Sqlite, super::$test).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    $run(crate::stores::StoreKind::Postgres, super::$test).await;
                }
            )*
        }
    };
    ($($test:ident),* $(,)?) => {
        crate::stores::per_store!(run = crate::stores::run_on; $($test),*);
    };
}
pub(crate) use per_store;

/// Runs a test written as `async fn(StoreKind)` on `kind`.
pub async fn run_on<F, Fut>(kind: StoreKind, test: F)
where
    F: FnOnce(StoreKind) -> Fut,
    Fut: Future<Output = ()>,
{
    test(kind).await;
}
