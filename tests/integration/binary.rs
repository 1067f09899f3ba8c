//! The real `hookline` binary on SQLite: durability across a restart, graceful shutdown,
//! start-up validation and the first-start token. The fleet on Postgres is in `fleet`.

use crate::helpers::{DEADLINE, Receiver, SUCCESS, TOKEN, TestApp, eventually};
use crate::process::{Process, free_port};
use nix::sys::signal::Signal;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// The environment every run gets: a database in `dir`, loopback allowed, short timings.
pub fn base_env(dir: &Path, port: u16) -> Vec<(String, String)> {
    [
        (
            "HOOKLINE_DATABASE_URL",
            format!("sqlite://{}", dir.join("hookline.db").display()),
        ),
        ("HOOKLINE_LISTEN", format!("127.0.0.1:{port}")),
        ("HOOKLINE_POLL_INTERVAL", "100ms".into()),
        ("HOOKLINE_ALLOWED_SUBNETS", "127.0.0.0/8".into()),
        ("HOOKLINE_RETRY_SCHEDULE", "200ms,200ms".into()),
        ("HOOKLINE_REQUEST_TIMEOUT", "2s".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[tokio::test]
async fn messages_accepted_by_the_api_tier_are_delivered_after_a_restart_as_serve() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let rx = Receiver::start().await;
    let port = free_port();
    let mut env = base_env(dir.path(), port);
    env.push(("HOOKLINE_API_TOKEN".into(), TOKEN.into()));

    let mut api = Process::start("api", dir.path(), &env);
    api.wait_healthy(port).await;
    let client = TestApp::external(port, TOKEN);
    let app_id = client.create_app("Durable").await;
    let ep = client
        .create_endpoint_id(&app_id, &rx.url("/durable"), json!({}))
        .await;
    let mut msg_ids = BTreeSet::new();
    for n in 0..5 {
        msg_ids.insert(
            client
                .send_message(&app_id, "order.created", json!({ "n": n }))
                .await,
        );
    }
    let finished = api.terminate().await;
    assert!(
        finished.status.success(),
        "the API exits 0 on SIGTERM: {}\n{}",
        finished.status,
        finished.stderr
    );
    assert!(
        rx.all_requests().is_empty(),
        "`hookline api` runs no workers, so nothing was delivered"
    );

    let port = free_port();
    let mut env = base_env(dir.path(), port);
    env.push(("HOOKLINE_API_TOKEN".into(), TOKEN.into()));
    let mut serve = Process::start("serve", dir.path(), &env);
    serve.wait_healthy(port).await;
    let got = rx.wait_for("/durable", 5).await;
    let delivered: BTreeSet<_> = got
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(delivered, msg_ids, "every accepted message is delivered");
    let client = TestApp::external(port, TOKEN);
    for msg in &msg_ids {
        client
            .wait_for_delivery_status(&app_id, msg, &ep, SUCCESS)
            .await;
    }
    assert_eq!(rx.count("/durable"), 5, "each exactly once");
    let finished = serve.terminate().await;
    assert!(
        finished.status.success(),
        "serve exits 0 on SIGTERM: {}\n{}",
        finished.status,
        finished.stderr
    );
}

/// `base_env` with a request timeout of `timeout` and the token set.
fn env_with_timeout(dir: &Path, port: u16, timeout: &str) -> Vec<(String, String)> {
    let mut env = base_env(dir, port);
    env.retain(|(k, _)| k != "HOOKLINE_REQUEST_TIMEOUT");
    env.push(("HOOKLINE_REQUEST_TIMEOUT".into(), timeout.into()));
    env.push(("HOOKLINE_API_TOKEN".into(), TOKEN.into()));
    env
}

#[tokio::test]
async fn serve_finishes_the_attempt_in_flight_on_sigterm_and_a_second_sigterm_exits_at_once() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let answer_after = Duration::from_millis(500);
    let slow = Receiver::start_with_delay(answer_after, answer_after).await;
    let port = free_port();
    let mut serve = Process::start(
        "serve",
        dir.path(),
        &env_with_timeout(dir.path(), port, "5s"),
    );
    serve.wait_healthy(port).await;
    let client = TestApp::external(port, TOKEN);
    let app_id = client.create_app("Drain").await;
    let slow_ep = client
        .create_endpoint_id(
            &app_id,
            &slow.url("/slow"),
            json!({ "eventTypes": ["slow"] }),
        )
        .await;
    let msg = client.send_message(&app_id, "slow", json!({})).await;
    eventually("the request to be in flight", DEADLINE, || async {
        (slow.in_flight() == 1).then_some(())
    })
    .await;

    // SIGTERM while the receiver is still thinking: the attempt is finished and recorded.
    serve.signal(Signal::SIGTERM);
    let finished = serve
        .wait_exit_within(Duration::from_secs(5) + Duration::from_secs(3))
        .await;
    assert!(
        finished.status.success(),
        "serve exits 0 after draining: {}\n{}",
        finished.status,
        finished.stderr
    );
    assert_eq!(slow.count("/slow"), 1);
    assert_eq!(slow.abandoned(), 0, "the request was answered, not cut off");

    // A long drain: the receiver hangs far beyond any wait of this test.
    let port = free_port();
    let mut serve = Process::start(
        "serve",
        dir.path(),
        &env_with_timeout(dir.path(), port, "60s"),
    );
    serve.wait_healthy(port).await;
    let client = TestApp::external(port, TOKEN);
    // Read before this process could have attempted anything: the first one recorded it.
    let dests = client.attempted_destinations(&app_id, &msg).await;
    assert_eq!(dests.len(), 1, "{dests:?}");
    assert_eq!(
        (&dests[0]["id"], &dests[0]["status"]),
        (&json!(slow_ep), &json!(SUCCESS)),
        "the drained attempt was recorded as delivered: {dests:?}"
    );
    let attempts = client.list_attempts_by_msg(&app_id, &msg).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["responseStatusCode"], 200);

    let hang = Receiver::start_with_delay(Duration::from_secs(600), Duration::from_secs(600)).await;
    client
        .create_endpoint_id(
            &app_id,
            &hang.url("/hang"),
            json!({ "eventTypes": ["hang"] }),
        )
        .await;
    client.send_message(&app_id, "hang", json!({})).await;
    eventually("the hanging request to be in flight", DEADLINE, || async {
        (hang.in_flight() == 1).then_some(())
    })
    .await;
    serve.signal(Signal::SIGTERM);
    serve
        .wait_for_line("delivery worker draining", DEADLINE)
        .await;
    assert!(
        serve.exited().is_none(),
        "serve is still draining the hanging request"
    );
    let second = std::time::Instant::now();
    serve.signal(Signal::SIGTERM);
    let finished = serve.wait_exit_within(Duration::from_secs(3)).await;
    println!(
        "second SIGTERM: exited with {} after {:?}",
        finished.status,
        second.elapsed()
    );
    assert_eq!(hang.count("/hang"), 1);
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_with_a_message_naming_the_variable() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cases = [
        ("HOOKLINE_WORKER_CONCURRENCY", "0"),
        ("HOOKLINE_RETRY_SCHEDULE", "5s,soon"),
        ("HOOKLINE_LISTEN", "localhost"),
    ];
    for (var, value) in cases {
        let mut env = base_env(dir.path(), free_port());
        env.push(("HOOKLINE_API_TOKEN".into(), TOKEN.into()));
        env.retain(|(k, _)| k != var);
        env.push((var.into(), value.into()));
        let finished = Process::start("serve", dir.path(), &env).wait_exit().await;
        assert!(
            !finished.status.success(),
            "{var}={value} was accepted: {}",
            finished.status
        );
        assert!(
            finished.stderr.contains(var),
            "stderr names {var}: {}",
            finished.stderr
        );
    }
    assert!(
        !dir.path().join("hookline.db").exists(),
        "a refused configuration touches no database"
    );
}

#[tokio::test]
async fn the_first_start_without_a_token_prints_one_that_works() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = free_port();
    let env = base_env(dir.path(), port);
    let mut first = Process::start("serve", dir.path(), &env);
    first.wait_healthy(port).await;
    let stdout = first.stdout.clone();
    let curl = eventually("a curl example on stdout", DEADLINE, || {
        let stdout = stdout.clone();
        async move {
            let lines = stdout.lock().expect("lines lock");
            lines.iter().find(|l| l.contains("curl")).cloned()
        }
    })
    .await;
    let token = curl
        .split("Bearer ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no bearer token in the curl example: {curl}"))
        .to_owned();
    assert!(token.len() >= 16, "token {token:?} is long enough");
    let full = stdout.lock().expect("lines lock").join("\n");
    assert!(
        full.lines().any(|l| l.trim() == token),
        "the token is also shown on its own line:\n{full}"
    );
    assert!(
        full.contains(&format!("http://127.0.0.1:{port}/api/v1/app")),
        "the example targets this server:\n{full}"
    );

    let client = TestApp::external(port, &token);
    let (status, body) = client.get("/api/v1/app").await;
    assert_eq!(
        status,
        reqwest::StatusCode::OK,
        "the printed token works: {body}"
    );
    let app_id = client.create_app("First start").await;
    let wrong = TestApp::external(port, "hl_not-the-printed-token");
    let (status, _) = wrong.get("/api/v1/app").await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let finished = first.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);

    // A second start keeps the token and prints nothing new.
    let port = free_port();
    let env = base_env(dir.path(), port);
    let mut second = Process::start("serve", dir.path(), &env);
    second.wait_healthy(port).await;
    let client = TestApp::external(port, &token);
    let (status, app) = client.get(&format!("/api/v1/app/{app_id}")).await;
    assert_eq!(
        status,
        reqwest::StatusCode::OK,
        "the first token still works: {app}"
    );
    let finished = second.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(
        !finished.stdout.contains("Bearer"),
        "no new token on a later start:\n{}",
        finished.stdout
    );
}
