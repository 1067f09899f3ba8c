//! Pooled Postgres connections are not checked before each use, only after they sat idle:
//! a connection the server dropped while it was idle is replaced, not handed to a request.

use crate::helpers::{StoreKind, TOKEN, TestApp, TestDatabase, test_config};
use axum::http::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn connections_the_server_dropped_while_idle_are_replaced_before_use() {
    // The API alone: a worker's claims would meet the dropped connections first.
    let db = TestDatabase::create(StoreKind::Postgres).await;
    let api = hookline::Application::build(test_config(db.url()), hookline::Role::Api)
        .await
        .expect("the API builds");
    let port = api.port().expect("the API listens");
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(api.run_until_stopped(stop));
    let app = TestApp::external(port, TOKEN);
    let app_id = app.create_app("pool").await;
    let msg = json!({ "eventType": "user.created", "payload": {} });
    let (status, body) = app.post_message(&app_id, &msg).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // Every other connection to the test's database: the service's pools (the shared one,
    // the message writer's).
    let mut admin = PgConnection::connect(&db.url())
        .await
        .expect("connecting to the test database");
    let dropped: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .expect("terminating the service's connections");
    assert!(
        !dropped.is_empty() && dropped.iter().all(|d| *d),
        "the service held connections to drop: {dropped:?}"
    );

    // Every dropped connection has sat idle long enough to be checked before its next use.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..5 {
        let (status, body) = app.get(&format!("/api/v1/app/{app_id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = app.post_message(&app_id, &msg).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let (status, body) = app.get(&format!("/api/v1/app/{app_id}/msg")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
