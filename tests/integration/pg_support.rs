//! A fresh Postgres database per test, dropped afterwards.
//!
//! The server is `postgres://postgres@127.0.0.1:5432` unless `HOOKLINE_TEST_PG_URL` names
//! another (a URL without a database path; the `postgres` database must exist on it).
//! Databases are named `hookline_test_<pid>_<ulid>` and created with an ICU `en-US`
//! collation when the server has one, so a query that relies on the database's collation
//! instead of `COLLATE "C"` sorts differently and fails the listing tests, as it would on
//! most managed Postgres servers. A guard drops its database when it goes out of scope,
//! panicking tests included; databases left by a test process that was killed are dropped
//! by the next test process that starts (on a server on this machine, where their process
//! ids can be checked).

use hookline::store::{DynStore, Sealer};
use sqlx::{Connection, PgConnection};
use std::sync::atomic::{AtomicBool, Ordering};

/// Prefix of every test database, so stale ones can be recognised and removed.
const PREFIX: &str = "hookline_test_";

/// The server to create test databases on.
fn server_url() -> String {
    std::env::var("HOOKLINE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// Connects to the server's maintenance database, where databases are created and dropped.
async fn admin_connection(server: &str) -> PgConnection {
    PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!("cannot reach Postgres at {server} ({e}); start it or set HOOKLINE_TEST_PG_URL")
        })
}

/// Drops a test database, disconnecting whoever still uses it.
async fn drop_database(admin: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(admin)
        .await?;
    Ok(())
}

/// Owns one test database and drops it when dropped.
pub struct PgDatabaseGuard {
    server: String,
    name: String,
    url: String,
}

impl PgDatabaseGuard {
    /// The database's URL, e.g. to open a second store on it (another "process").
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgDatabaseGuard {
    /// Runs the `DROP DATABASE` on a thread with its own runtime: `Drop` cannot await, and
    /// blocking on the test's runtime from inside it would deadlock a current-thread one.
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&format!("{server}/postgres"))
                    .await
                    .map_err(|e| e.to_string())?;
                drop_database(&mut admin, &name)
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        // Panicking here could abort a test that is already unwinding; say it loudly.
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

/// Drops test databases whose creating process no longer runs (it was killed before its
/// guards ran). Only databases named by this helper are touched.
async fn sweep_stale(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{PREFIX}%"))
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let alive = pid.is_none_or(|pid| {
            pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists()
        });
        if !alive {
            let _ = drop_database(admin, &name).await;
        }
    }
}

/// Creates an empty, uniquely named database (no tables: whoever opens it migrates it).
/// Keep the guard alive as long as the database is used.
///
/// # Panics
/// If the server cannot be reached or the database cannot be created.
pub async fn fresh_pg_database() -> PgDatabaseGuard {
    static SWEPT: AtomicBool = AtomicBool::new(false);
    let server = server_url();
    let mut admin = admin_connection(&server).await;
    // Process ids only mean something on this machine's own server.
    let local = ["@127.0.0.1", "@localhost", "@[::1]"]
        .iter()
        .any(|host| server.contains(host));
    if cfg!(target_os = "linux") && local && !SWEPT.swap(true, Ordering::SeqCst) {
        sweep_stale(&mut admin).await;
    }
    let name = format!(
        "{PREFIX}{}_{}",
        std::process::id(),
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let icu = format!(
        "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' \
         LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
    );
    if sqlx::raw_sql(&icu).execute(&mut admin).await.is_err() {
        // Servers before 15 or without ICU: the default collation is all we can test.
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    }
    let _ = admin.close().await;
    PgDatabaseGuard {
        url: format!("{server}/{name}"),
        server,
        name,
    }
}

/// Creates a fresh database, opens a store on it through `hookline::store::open` with
/// `sealer` and applies the migrations. Keep the guard alive as long as the store is used.
///
/// # Panics
/// If the server cannot be reached or the database cannot be created or migrated.
pub async fn fresh_pg_store(sealer: Sealer) -> (DynStore, PgDatabaseGuard) {
    let guard = fresh_pg_database().await;
    let store = hookline::store::open(guard.url(), sealer)
        .await
        .unwrap_or_else(|e| panic!("cannot open the store on {}: {e}", guard.url()));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrations failed on {}: {e:?}", guard.url()));
    (store, guard)
}
