//! The real `hookline` binary: durability across a restart, start-up validation and the
//! first-start token.

use crate::helpers::{DEADLINE, Receiver, SUCCESS, TOKEN, TestApp, eventually};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

type Lines = Arc<Mutex<Vec<String>>>;

fn collect(stream: impl AsyncRead + Unpin + Send + 'static, into: Lines) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().expect("lines lock").push(line);
        }
    })
}

/// A running `hookline` process whose output is being collected.
struct Process {
    child: Child,
    stdout: Lines,
    stderr: Lines,
    readers: Vec<JoinHandle<()>>,
}

/// What a finished process left behind.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// The environment every run gets: a database in `dir`, loopback allowed, short timings.
fn base_env(dir: &Path, port: u16) -> Vec<(String, String)> {
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

fn start(role: &str, dir: &Path, env: &[(String, String)]) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg(role)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the hookline binary starts");
    let stdout = Lines::default();
    let stderr = Lines::default();
    let readers = vec![
        collect(child.stdout.take().expect("piped stdout"), stdout.clone()),
        collect(child.stderr.take().expect("piped stderr"), stderr.clone()),
    ];
    Process {
        child,
        stdout,
        stderr,
        readers,
    }
}

impl Process {
    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().expect("lines lock").join("\n"),
            self.stderr.lock().expect("lines lock").join("\n")
        )
    }

    /// Waits until `GET /api/v1/health` answers 204 on `port`.
    async fn wait_healthy(&mut self, port: u16) {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/api/v1/health");
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!(
                    "hookline exited with {status} before it was healthy\n{}",
                    self.output()
                );
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status() == reqwest::StatusCode::NO_CONTENT {
                    return;
                }
            }
            assert!(
                start.elapsed() < DEADLINE,
                "hookline was not healthy within {DEADLINE:?}\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the process to exit by itself, killing it after the deadline.
    async fn wait_exit(mut self) -> Finished {
        let status = match tokio::time::timeout(DEADLINE, self.child.wait()).await {
            Ok(status) => status.expect("child status"),
            Err(_) => {
                let _ = self.child.kill().await;
                panic!(
                    "hookline did not exit within {DEADLINE:?}\n{}",
                    self.output()
                );
            }
        };
        for reader in self.readers.drain(..) {
            let _ = reader.await;
        }
        Finished {
            status,
            stdout: self.stdout.lock().expect("lines lock").join("\n"),
            stderr: self.stderr.lock().expect("lines lock").join("\n"),
        }
    }

    /// Sends SIGTERM and waits for a graceful exit.
    async fn terminate(self) -> Finished {
        let pid = self.child.id().expect("a running child has a pid");
        kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("SIGTERM delivered");
        self.wait_exit().await
    }
}

#[tokio::test]
async fn messages_accepted_by_the_api_tier_are_delivered_after_a_restart_as_serve() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let rx = Receiver::start().await;
    let port = free_port();
    let mut env = base_env(dir.path(), port);
    env.push(("HOOKLINE_API_TOKEN".into(), TOKEN.into()));

    let mut api = start("api", dir.path(), &env);
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
    let mut serve = start("serve", dir.path(), &env);
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
        let finished = start("serve", dir.path(), &env).wait_exit().await;
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
    let mut first = start("serve", dir.path(), &env);
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
    let mut second = start("serve", dir.path(), &env);
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
