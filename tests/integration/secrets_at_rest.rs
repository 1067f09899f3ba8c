//! Endpoint secrets encrypted at rest with `HOOKLINE_MAIN_SECRET`: what the database holds
//! (read behind the service's back, raw rows and, on SQLite, the file bytes), that the
//! secrets still sign and read back, sealing a plaintext database in place, and that a
//! sealed value moved to another row is refused. Start-up refusals are in `startup`.

mod startup;

use crate::helpers::{
    DEADLINE, Receiver, StoreKind, TOKEN, TestApp, TestDatabase, assert_error_shape, per_store,
    svix_verify, test_config,
};
use hookline::domain::{AppId, EndpointSecret};
use hookline::store::StoreError;
use hookline::{Application, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, SqliteConnection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

per_store!(
    secrets_are_stored_encrypted_and_still_sign,
    a_plaintext_database_is_encrypted_in_place_when_a_main_secret_is_set,
    a_sealed_secret_copied_to_another_endpoint_is_refused_not_used,
);

/// The main secret of these tests.
const MAIN_SECRET: &str = "hookline-test-main-secret";

/// An application built over an existing database, or why it would not start.
async fn build(
    db: &TestDatabase,
    main_secret: Option<&str>,
    role: Role,
) -> anyhow::Result<Application> {
    let mut config = test_config(db.url());
    config.main_secret = main_secret.map(str::to_owned);
    Application::build(config, role).await
}

/// The service running over an existing database until [`Running::stop`].
struct Running {
    client: TestApp,
    app: Application,
}

impl Running {
    /// Builds and starts `role` over `db`.
    async fn start(db: &TestDatabase, main_secret: Option<&str>, role: Role) -> Self {
        let app = build(db, main_secret, role)
            .await
            .expect("the application builds");
        let client = TestApp::external(app.port().expect("the role serves the API"), TOKEN);
        Self { client, app }
    }

    /// Runs it in the background; the handle stops it.
    fn run(self) -> (TestApp, Stop) {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            self.app
                .run_until_stopped(token)
                .await
                .expect("hookline runs until stopped");
        });
        (self.client, Stop { stop, task })
    }
}

/// Stops a running service and waits until it has let go of the database.
struct Stop {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Stop {
    async fn now(self) {
        self.stop.cancel();
        self.task.await.expect("hookline stopped cleanly");
    }
}

/// `(id, secret, retired_secrets)` of every endpoint, read straight from the database.
async fn raw_rows(db: &TestDatabase) -> Vec<(String, String, String)> {
    const SQL: &str = "SELECT id, secret, CAST(retired_secrets AS TEXT) FROM endpoints ORDER BY id";
    match db {
        TestDatabase::Sqlite(_) => {
            let mut conn = SqliteConnection::connect(&db.url()).await.expect("open");
            sqlx::query_as(SQL)
                .fetch_all(&mut conn)
                .await
                .expect("rows")
        }
        TestDatabase::Postgres(pg) => {
            let mut conn = PgConnection::connect(pg.url()).await.expect("connect");
            sqlx::query_as(SQL)
                .fetch_all(&mut conn)
                .await
                .expect("rows")
        }
    }
}

/// Runs one statement straight on the database.
async fn raw_execute(db: &TestDatabase, sql: &str) {
    match db {
        TestDatabase::Sqlite(_) => {
            let mut conn = SqliteConnection::connect(&db.url()).await.expect("open");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("run");
        }
        TestDatabase::Postgres(pg) => {
            let mut conn = PgConnection::connect(pg.url()).await.expect("connect");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("run");
        }
    }
}

/// Everything the database keeps that could hold a secret: the raw rows, and for SQLite
/// every byte of the database file, its write-ahead log and its index.
async fn stored_bytes(db: &TestDatabase) -> Vec<u8> {
    let mut bytes: Vec<u8> = raw_rows(db)
        .await
        .into_iter()
        .flat_map(|(_, secret, retired)| format!("{secret}\n{retired}\n").into_bytes())
        .collect();
    if let TestDatabase::Sqlite(dir) = db {
        for file in ["hookline.db", "hookline.db-wal", "hookline.db-shm"] {
            if let Ok(content) = std::fs::read(dir.path().join(file)) {
                bytes.extend(content);
            }
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that no form of any of `secrets` — `whsec_…` text, bare base64, raw key bytes —
/// is stored, and that every stored key is sealed.
async fn assert_sealed_at_rest(db: &TestDatabase, secrets: &[&EndpointSecret]) {
    let stored = stored_bytes(db).await;
    for secret in secrets {
        let text = secret.expose();
        let bare = text.trim_start_matches("whsec_");
        for (form, needle) in [
            ("whsec_ text", text.as_bytes()),
            ("base64 key", bare.as_bytes()),
            ("raw key", secret.key()),
        ] {
            assert!(
                !contains(&stored, needle),
                "the {form} is stored in the clear"
            );
        }
    }
    for (id, secret, retired) in raw_rows(db).await {
        assert!(secret.starts_with("enc:v1:"), "{id}'s secret: {secret}");
        let retired: Vec<Value> = serde_json::from_str(&retired).expect("retired JSON");
        for r in retired {
            let r = r["secret"].as_str().expect("retired secret");
            assert!(r.starts_with("enc:v1:"), "{id}'s retired secret: {r}");
        }
    }
}

/// Creates an endpoint of `app_id` at `rx`'s `path` with `secret`, returning its id.
async fn endpoint_with(
    client: &TestApp,
    app_id: &str,
    url: &str,
    secret: &EndpointSecret,
) -> String {
    let ep = json!({ "secret": secret.expose() });
    client.create_endpoint_id(app_id, url, ep).await
}

/// Rotates the endpoint's secret to `new`, keeping the old one for the default grace.
async fn rotate(client: &TestApp, app_id: &str, ep: &str, new: &EndpointSecret) {
    let path = format!("/api/v1/app/{app_id}/endpoint/{ep}/secret/rotate");
    let (status, body) = client.post(&path, &json!({ "key": new.expose() })).await;
    assert_eq!(status, StatusCode::OK, "rotate: {body}");
}

/// Sends a message and asserts that `rx` got it at `path` signed with each of `secrets`.
async fn assert_delivery_signed_with(
    client: &TestApp,
    app_id: &str,
    rx: &Receiver,
    path: &str,
    secrets: &[&EndpointSecret],
) {
    client
        .send_message(app_id, "invoice.paid", json!({ "n": 1 }))
        .await;
    let got = tokio::time::timeout(DEADLINE, rx.wait_for(path, 1))
        .await
        .expect("delivered in time");
    for secret in secrets {
        svix_verify(&secret.expose(), &got[0].body, &got[0].headers)
            .expect("the signature verifies with the endpoint's key");
    }
}

async fn secrets_are_stored_encrypted_and_still_sign(kind: StoreKind) {
    let db = TestDatabase::create(kind).await;
    let (client, stop) = Running::start(&db, Some(MAIN_SECRET), Role::Serve)
        .await
        .run();
    let rx = Receiver::start().await;
    let app_id = client.create_app("Sealed").await;
    let first = EndpointSecret::generate();
    let ep = endpoint_with(&client, &app_id, &rx.url("/sealed"), &first).await;
    assert_sealed_at_rest(&db, &[&first]).await;
    assert_eq!(client.endpoint_secret(&app_id, &ep).await, first.expose());

    let second = EndpointSecret::generate();
    rotate(&client, &app_id, &ep, &second).await;
    let rows = raw_rows(&db).await;
    assert!(
        rows[0].2.contains("enc:v1:"),
        "the old key is retired: {rows:?}"
    );
    assert_sealed_at_rest(&db, &[&first, &second]).await;
    assert_eq!(client.endpoint_secret(&app_id, &ep).await, second.expose());
    assert_delivery_signed_with(&client, &app_id, &rx, "/sealed", &[&second, &first]).await;
    stop.now().await;
}

async fn a_plaintext_database_is_encrypted_in_place_when_a_main_secret_is_set(kind: StoreKind) {
    let db = TestDatabase::create(kind).await;
    let rx = Receiver::start().await;
    let (first, second) = (EndpointSecret::generate(), EndpointSecret::generate());
    let other = EndpointSecret::generate();
    let (client, stop) = Running::start(&db, None, Role::Serve).await.run();
    let app_id = client.create_app("Plaintext first").await;
    let ep = endpoint_with(&client, &app_id, &rx.url("/later"), &first).await;
    // A second row on the same page: sealing the first one must not leave its plaintext
    // behind in the page's free space.
    let quiet = json!({ "secret": other.expose(), "eventTypes": ["other"] });
    client
        .create_endpoint_id(&app_id, &rx.url("/other"), quiet)
        .await;
    rotate(&client, &app_id, &ep, &second).await;
    stop.now().await;
    let rows = raw_rows(&db).await;
    let row = rows.iter().find(|r| r.0 == ep).expect("the endpoint's row");
    assert_eq!(row.1, second.expose(), "without a main secret: {rows:?}");
    assert!(row.2.contains(&first.expose()), "{rows:?}");

    let (client, stop) = Running::start(&db, Some(MAIN_SECRET), Role::Serve)
        .await
        .run();
    assert_sealed_at_rest(&db, &[&first, &second, &other]).await;
    assert_eq!(client.endpoint_secret(&app_id, &ep).await, second.expose());
    assert_delivery_signed_with(&client, &app_id, &rx, "/later", &[&second, &first]).await;
    stop.now().await;

    let sealed = raw_rows(&db).await;
    let (client, stop) = Running::start(&db, Some(MAIN_SECRET), Role::Api)
        .await
        .run();
    assert_eq!(
        raw_rows(&db).await,
        sealed,
        "a later start seals nothing again"
    );
    assert_eq!(client.endpoint_secret(&app_id, &ep).await, second.expose());
    stop.now().await;
}

async fn a_sealed_secret_copied_to_another_endpoint_is_refused_not_used(kind: StoreKind) {
    let db = TestDatabase::create(kind).await;
    let running = Running::start(&db, Some(MAIN_SECRET), Role::Api).await;
    let store = running.app.store();
    let (client, stop) = running.run();
    let rx = Receiver::start().await;
    let app_id = client.create_app("Copied").await;
    let donor = EndpointSecret::generate();
    let a = endpoint_with(&client, &app_id, &rx.url("/a"), &donor).await;
    let b = client
        .create_endpoint_id(&app_id, &rx.url("/b"), json!({}))
        .await;
    raw_execute(
        &db,
        &format!("UPDATE endpoints SET secret = (SELECT secret FROM endpoints WHERE id = '{a}') WHERE id = '{b}'"),
    )
    .await;

    let (status, body) = client
        .get(&format!("/api/v1/app/{app_id}/endpoint/{b}/secret"))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_error_shape(&body, "secret that does not decrypt");
    assert!(!body.to_string().contains(&donor.expose()), "{body}");
    assert_eq!(client.endpoint_secret(&app_id, &a).await, donor.expose());

    client
        .send_message(&app_id, "invoice.paid", json!({}))
        .await;
    let claim = || async {
        store
            .claim(
                "worker",
                10,
                std::time::Duration::from_millis(300),
                &crate::store_conformance::open_policy(),
            )
            .await
            .expect("one unreadable row does not fail the claim")
    };
    let claimed = claim().await;
    let to: Vec<&str> = claimed.iter().map(|c| c.endpoint_id.as_str()).collect();
    assert_eq!(
        to,
        [a.as_str()],
        "the copied key is not used to sign for the other endpoint, and the rest is claimed"
    );
    assert_eq!(claimed[0].secrets, std::slice::from_ref(&donor));
    // The unreadable delivery stays leased; when the lease expires it is read (and skipped)
    // again, never sent.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let again: Vec<String> = claim()
        .await
        .iter()
        .map(|c| c.endpoint_id.to_string())
        .collect();
    assert!(!again.contains(&b), "{again:?}");
    let app = AppId::from_trusted(app_id);
    assert!(matches!(
        store.get_endpoint(&app, &b).await,
        Err(StoreError::Corrupt(_))
    ));
    stop.now().await;
}
