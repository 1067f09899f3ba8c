//! The harness of the client tests: `hookline serve` on a temporary SQLite file with a
//! fixture set up over the API, and the client run as the real binary.

use crate::helpers::{FAIL, Receiver, SUCCESS, TOKEN, TestApp};
use crate::process::{Process, free_port};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use tempfile::TempDir;

/// `hookline serve` on a fresh database, and an API client for setting things up.
pub struct Server {
    _process: Process,
    /// An API client for setting things up and checking them.
    pub api: TestApp,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Holds the database; the client runs here.
    pub dir: TempDir,
}

/// A server with an application (with a uid) whose two endpoints get every message: `ok`
/// answers 200, `failing` 500. Two messages have been delivered to `ok` and failed at
/// `failing` (three attempts each). A decoy application with a message of its own comes
/// first, so finding the message without `--app` has to search.
pub struct Fixture {
    /// The server.
    pub server: Server,
    /// The receiver behind both endpoints.
    pub rx: Receiver,
    /// The application's id; its uid is [`APP_UID`].
    pub app: String,
    /// The endpoint answering 200.
    pub ok: String,
    /// The endpoint answering 500.
    pub failing: String,
    /// The two messages.
    pub msgs: Vec<String>,
}

/// The uid of the fixture's application.
pub const APP_UID: &str = "cli-customer";

/// Starts `hookline serve` with the test settings plus `extra_env`.
pub async fn start_server(extra_env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = free_port();
    let mut env: Vec<(String, String)> = [
        (
            "HOOKLINE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("hookline.db").display()),
        ),
        ("HOOKLINE_LISTEN", format!("127.0.0.1:{port}")),
        ("HOOKLINE_API_TOKEN", TOKEN.to_owned()),
        ("HOOKLINE_ALLOWED_SUBNETS", "127.0.0.0/8".to_owned()),
        ("HOOKLINE_POLL_INTERVAL", "100ms".to_owned()),
        ("HOOKLINE_RETRY_SCHEDULE", "100ms,100ms".to_owned()),
        ("HOOKLINE_REQUEST_TIMEOUT", "2s".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let mut process = Process::start("serve", dir.path(), &env);
    process.wait_healthy(port).await;
    Server {
        _process: process,
        api: TestApp::external(port, TOKEN),
        url: format!("http://127.0.0.1:{port}"),
        dir,
    }
}

/// The fixture, with the breaker kept shut unless `extra_env` says otherwise; with
/// `settle`, once every delivery has succeeded or failed.
pub async fn fixture_with(extra_env: &[(&str, &str)], settle: bool) -> Fixture {
    let mut env = vec![("HOOKLINE_BREAKER_FAILURES", "1000")];
    env.extend_from_slice(extra_env);
    let server = start_server(&env).await;
    let api = &server.api;
    let rx = Receiver::start().await;
    rx.always("/failing", 500);

    let decoy = api.create_app("Decoy").await;
    api.create_endpoint_id(&decoy, &rx.url("/decoy"), json!({}))
        .await;
    api.send_message(&decoy, "order.created", json!({ "decoy": true }))
        .await;

    let (status, app) = api
        .post(
            "/api/v1/app",
            &json!({ "name": "Customer", "uid": APP_UID }),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{app}");
    let app = app["id"].as_str().expect("app id").to_owned();
    let ok = api
        .create_endpoint_id(&app, &rx.url("/ok"), json!({}))
        .await;
    let failing = api
        .create_endpoint_id(&app, &rx.url("/failing"), json!({}))
        .await;
    let mut msgs = Vec::new();
    for n in 0..2 {
        msgs.push(
            api.send_message(&app, "order.created", json!({ "n": n }))
                .await,
        );
    }
    for msg in &msgs {
        api.wait_for_delivery_status(&app, msg, &ok, SUCCESS).await;
        if settle {
            api.wait_for_delivery_status(&app, msg, &failing, FAIL)
                .await;
        }
    }
    Fixture {
        server,
        rx,
        app,
        ok,
        failing,
        msgs,
    }
}

/// The settled fixture.
pub async fn fixture() -> Fixture {
    fixture_with(&[], true).await
}

/// What one run of the client printed, and how it exited.
pub struct Run {
    /// The exit code.
    pub code: Option<i32>,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts exit 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts exit 0 and parses stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Asserts exit `code` with a single-line, panic-free message on stderr, and returns it.
    pub fn fails_with(&self, code: i32) -> &str {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        let line = self.stderr.trim_end();
        assert_eq!(
            line.lines().count(),
            1,
            "one line on stderr:\n{}",
            self.stderr
        );
        assert!(
            !line.contains("panicked") && !line.contains(" { "),
            "no panic or debug output: {line}"
        );
        line
    }
}

/// Runs `hookline ARGS` in `dir` with exactly the environment `env`.
pub async fn run_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .unwrap_or_else(|_| panic!("hookline {args:?} did not finish within 60s"))
        .expect("the hookline binary runs");
    Run::from(output)
}

impl Server {
    /// Runs `hookline ARGS` against this server, URL and token from the environment.
    pub async fn cli(&self, args: &[&str]) -> Run {
        let env = [
            ("HOOKLINE_URL", self.url.as_str()),
            ("HOOKLINE_TOKEN", TOKEN),
        ];
        run_in(self.dir.path(), &env, args).await
    }
}
