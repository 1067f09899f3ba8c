//! Fresh stores and the rows the store cases start from, all created through the public
//! API (the only SQL here creates, analyses and drops the Postgres databases).

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use hookline::delivery::gate::{BreakerPolicy, ClaimPolicy};
use hookline::domain::{AppId, EndpointId, EndpointSecret, EndpointUrl, EventTypeName, MessageId};
use hookline::store::{ApplicationFields, DynStore, EndpointFields, Message, NewMessage, Sealer};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::time::Duration;

/// One kibibyte.
pub const KIB: usize = 1024;
/// Prefix of this bench's databases, so stale ones can be told from the e2e bench's.
const PG_PREFIX: &str = "hookline_bench_hot_path_";
/// Messages created at once while seeding (Postgres commits them in parallel).
const SEED_CONCURRENCY: usize = 8;

/// A JSON object of exactly `size` bytes: one long string field.
pub fn flat_payload(size: usize) -> String {
    let filler = size.saturating_sub(r#"{"data":""}"#.len());
    format!(r#"{{"data":"{}"}}"#, "x".repeat(filler))
}

/// A claim policy that holds nothing back: no bulkhead to speak of, a breaker that never
/// opens, so every case measures the queue rather than isolation decisions.
pub fn open_policy() -> ClaimPolicy {
    ClaimPolicy {
        endpoint_concurrency: 100_000,
        rate_lookahead: Duration::from_secs(1),
        breaker: BreakerPolicy {
            consecutive_failures: u32::MAX,
            failure_rate: 2.0,
            min_volume: u32::MAX,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(60),
            disable_after: Duration::from_secs(3650 * 24 * 3600),
        },
        sending: None,
    }
}

/// The Postgres server the Postgres cases create their databases on.
pub struct PgServer {
    /// `postgres://user@host:port`, without a database.
    url: String,
}

impl PgServer {
    /// The server at `HOOKLINE_BENCH_PG_URL` if it answers, after dropping the databases of
    /// earlier runs that were killed. Prints why not otherwise.
    pub async fn probe() -> Option<Self> {
        let url = std::env::var("HOOKLINE_BENCH_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
            .trim_end_matches('/')
            .to_owned();
        let server = Self { url };
        match server.admin().await {
            Ok(mut admin) => {
                server.sweep_stale(&mut admin).await;
                let _ = admin.close().await;
                Some(server)
            }
            Err(e) => {
                eprintln!(
                    "note: Postgres at {} is unreachable ({e}): the postgres cases of \
                     fanout, claim and record_outcomes are SKIPPED, not measured",
                    server.url
                );
                None
            }
        }
    }

    async fn admin(&self) -> sqlx::Result<PgConnection> {
        PgConnection::connect(&format!("{}/postgres", self.url)).await
    }

    /// Drops this bench's databases whose process is gone (killed before it dropped them).
    async fn sweep_stale(&self, admin: &mut PgConnection) {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
                .bind(PG_PREFIX)
                .fetch_all(&mut *admin)
                .await
                .unwrap_or_default();
        for name in names {
            let pid = name[PG_PREFIX.len()..].split('_').next().unwrap_or("");
            if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = drop_database(admin, &name).await;
            }
        }
    }

    /// Creates an empty, uniquely named database.
    async fn create(&self) -> PgDatabase {
        let name = format!(
            "{PG_PREFIX}{}_{}",
            std::process::id(),
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let mut admin = self.admin().await.expect("connecting to Postgres");
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        let _ = admin.close().await;
        PgDatabase {
            server: self.url.clone(),
            url: format!("{}/{name}", self.url),
            name,
        }
    }
}

async fn drop_database(admin: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(admin)
        .await
        .map(drop)
}

/// A database of this run, dropped with the guard (on a thread of its own: `Drop` cannot
/// await, and it may run inside the bench's runtime).
struct PgDatabase {
    server: String,
    name: String,
    url: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut admin = PgConnection::connect(&format!("{server}/postgres"))
                    .await
                    .map_err(|e| e.to_string())?;
                drop_database(&mut admin, &name)
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "could not drop bench database {} ({dropped:?}); drop it by hand",
                self.name
            );
        }
    }
}

/// Which store a case runs on.
#[derive(Clone, Copy)]
pub enum Kind<'a> {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on this server.
    Postgres(&'a PgServer),
}

impl Kind<'_> {
    /// The store's name in benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// SQLite always; Postgres if its server answered.
pub fn kinds(pg: Option<&PgServer>) -> Vec<Kind<'_>> {
    std::iter::once(Kind::Sqlite)
        .chain(pg.map(Kind::Postgres))
        .collect()
}

/// What keeps a fixture's database alive; dropping it removes the database.
enum Backing {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(PgDatabase),
}

/// A migrated, empty store of one kind with an application of `endpoints` endpoints.
pub struct Fixture {
    /// The store (declared first, so its connections close before the database goes).
    pub store: DynStore,
    /// The application every message goes to.
    pub app: AppId,
    backing: Backing,
}

impl Fixture {
    /// A fresh store of `kind`, as the default configuration opens it (no main secret).
    pub async fn new(kind: Kind<'_>, endpoints: usize) -> Self {
        let (url, backing) = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("creating a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("hookline.db").display());
                (url, Backing::Sqlite(dir))
            }
            Kind::Postgres(server) => {
                let db = server.create().await;
                (db.url.clone(), Backing::Postgres(db))
            }
        };
        let store = hookline::store::open(&url, Sealer::new(None))
            .await
            .expect("opening the store");
        store.migrate().await.expect("migrating the store");
        store
            .prepare_secrets_at_rest()
            .await
            .expect("preparing secrets");
        let (app, _) = add_app(&store, endpoints).await;
        Self {
            store,
            app,
            backing,
        }
    }

    /// Creates `messages` messages with a 1 KiB payload, checking each fans out to
    /// `fanout` deliveries (the application's endpoints).
    pub async fn post(&self, messages: usize, fanout: usize) {
        post_to(&self.store, &self.app, messages, fanout).await;
    }

    /// Adds `rows` finished deliveries, as a store keeps them after they were attempted:
    /// messages to another application's 10 endpoints, which are then disabled, so one
    /// claim fails them all (the cheapest way through the API to finish that many).
    pub async fn add_history(&self, rows: usize) {
        let (app, endpoints) = add_app(&self.store, 10).await;
        post_to(&self.store, &app, rows / endpoints.len(), endpoints.len()).await;
        for (i, id) in endpoints.iter().enumerate() {
            let fields = endpoint_fields(i, true);
            self.store
                .update_endpoint(&app, id, &fields)
                .await
                .expect("disabling an endpoint");
        }
        let policy = open_policy();
        let lease = Duration::from_secs(60);
        let claimed = self
            .store
            .claim("history", 1, lease, &policy)
            .await
            .expect("claim");
        assert!(
            claimed.is_empty(),
            "a disabled endpoint's deliveries are failed, not sent"
        );
        let depth = self
            .store
            .queue_depth()
            .await
            .expect("reading the queue depth");
        assert_eq!((depth.due, depth.failed), (0, rows as i64), "{depth:?}");
    }

    /// Refreshes the Postgres planner's statistics after seeding, as autovacuum would do
    /// within a minute of a backlog this size (SQLite keeps none unless asked, and the store
    /// never asks).
    pub async fn analyze(&self) {
        if let Backing::Postgres(db) = &self.backing {
            let mut conn = PgConnection::connect(&db.url)
                .await
                .expect("connecting to Postgres");
            sqlx::raw_sql("ANALYZE")
                .execute(&mut conn)
                .await
                .expect("ANALYZE");
            let _ = conn.close().await;
        }
    }
}

/// Creates `messages` messages to `app`, checking each fans out to `fanout` deliveries.
async fn post_to(store: &DynStore, app: &AppId, messages: usize, fanout: usize) {
    futures::stream::iter(0..messages)
        .map(|_| async {
            let n = store.create_message(&message(app, KIB)).await?;
            assert_eq!(n, fanout, "a message must fan out to every endpoint");
            Ok::<_, hookline::store::StoreError>(())
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .try_collect::<()>()
        .await
        .expect("creating messages");
}

/// The fields of an application's `i`th endpoint, unfiltered so every message reaches it.
fn endpoint_fields(i: usize, disabled: bool) -> EndpointFields {
    EndpointFields {
        uid: None,
        url: EndpointUrl::parse(&format!("https://receiver.example/hook/{i}")).expect("URL"),
        description: String::new(),
        disabled,
        concurrency_limit: None,
        event_types: None,
        channels: None,
        throttle_rate: None,
        metadata: BTreeMap::new(),
    }
}

/// An application with `endpoints` enabled endpoints.
async fn add_app(store: &DynStore, endpoints: usize) -> (AppId, Vec<EndpointId>) {
    let app = store
        .create_application(&ApplicationFields {
            uid: None,
            name: "Bench".to_owned(),
            throttle_rate: None,
            metadata: BTreeMap::new(),
        })
        .await
        .expect("creating an application");
    let mut ids = Vec::with_capacity(endpoints);
    for i in 0..endpoints {
        let fields = endpoint_fields(i, false);
        let endpoint = store
            .create_endpoint(
                &app.id,
                &fields,
                &EndpointSecret::generate(),
                &BTreeMap::new(),
            )
            .await
            .expect("creating an endpoint");
        ids.push(endpoint.id);
    }
    (app.id, ids)
}

/// A new message to `app` with a flat payload of `payload_size` bytes.
pub fn message(app: &AppId, payload_size: usize) -> NewMessage {
    NewMessage {
        message: Message {
            id: MessageId::generate(),
            app_id: app.clone(),
            event_type: EventTypeName::parse("invoice.paid").expect("event type"),
            event_id: None,
            channels: None,
            payload: Some(flat_payload(payload_size)),
            created_at: Utc::now(),
        },
        retention: chrono::Duration::days(90),
    }
}
