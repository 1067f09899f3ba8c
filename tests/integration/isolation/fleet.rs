//! The rate limit holds fleet-wide: several `hookline worker` processes (the real binary)
//! on one Postgres database send to a throttled endpoint no faster than its `throttleRate`
//! together.

use super::behaving::Behaving;
use super::post_many;
use crate::helpers::{DEADLINE, TOKEN, TestApp, eventually};
use crate::pg_support::fresh_pg_store;
use serde_json::json;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One `hookline` process and the lines it wrote to stdout (its JSON log).
struct Member {
    role: &'static str,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
}

/// `hookline` processes that are killed when the value is dropped, panics included
/// (each child is spawned with `kill_on_drop`).
#[derive(Default)]
struct Fleet {
    members: Vec<Member>,
}

impl Fleet {
    /// Starts `hookline <role>` with exactly `env`.
    fn start(&mut self, role: &'static str, env: &[(&str, String)]) -> usize {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookline"))
            .arg(role)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the hookline binary starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = stdout.clone();
        let pipe = child.stdout.take().expect("piped stdout");
        tokio::spawn(async move {
            let mut reader = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                lines.lock().expect("log lock").push(line);
            }
        });
        self.members.push(Member {
            role,
            child,
            stdout,
        });
        self.members.len() - 1
    }

    /// Fails the test if any member has exited.
    fn assert_running(&mut self) {
        for m in &mut self.members {
            if let Some(status) = m.child.try_wait().expect("child status") {
                panic!(
                    "hookline {} exited with {status}:\n{}",
                    m.role,
                    m.stdout.lock().expect("log lock").join("\n")
                );
            }
        }
    }

    /// How many attempts member `i` logged.
    fn attempts_logged(&self, i: usize) -> usize {
        self.members[i]
            .stdout
            .lock()
            .expect("log lock")
            .iter()
            .filter(|l| l.contains(r#""message":"attempt""#))
            .count()
    }
}

/// The most of `times` (sorted) that fall within any window of length `window`.
fn busiest_window(times: &[Instant], window: Duration) -> usize {
    times
        .iter()
        .enumerate()
        .map(|(i, from)| {
            times[i..]
                .iter()
                .take_while(|t| t.duration_since(*from) <= window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn three_worker_processes_together_hold_an_endpoint_to_its_throttle_rate() {
    const MESSAGES: usize = 60;
    const RATE: u64 = 10;
    let (_store, db) = fresh_pg_store().await;
    let rx = Behaving::start().await;
    let port = free_port();
    let env = [
        ("HOOKLINE_DATABASE_URL", db.url().to_owned()),
        ("HOOKLINE_LISTEN", format!("127.0.0.1:{port}")),
        ("HOOKLINE_API_TOKEN", TOKEN.to_owned()),
        ("HOOKLINE_ALLOWED_SUBNETS", "127.0.0.0/8".to_owned()),
        ("HOOKLINE_POLL_INTERVAL", "100ms".to_owned()),
        ("HOOKLINE_REQUEST_TIMEOUT", "2s".to_owned()),
        ("HOOKLINE_RETRY_SCHEDULE", "200ms,200ms".to_owned()),
        ("HOOKLINE_LOG_FORMAT", "json".to_owned()),
    ];
    let mut fleet = Fleet::default();
    fleet.start("api", &env);
    let client = TestApp::external(port, TOKEN);
    eventually("the API answers", DEADLINE, || async {
        client
            .client
            .get(client.url("/api/v1/health"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;
    let app_id = client.create_app("Throttled").await;
    client
        .create_endpoint_id(
            &app_id,
            &rx.url("/throttled"),
            json!({ "throttleRate": RATE }),
        )
        .await;
    let workers: Vec<usize> = (0..3).map(|_| fleet.start("worker", &env)).collect();

    let sent = post_many(&client, &app_id, "order.created", MESSAGES, 4).await;
    eventually("every message arrives", Duration::from_secs(20), || async {
        (rx.ids("/throttled") == sent).then_some(())
    })
    .await;
    fleet.assert_running();
    let mut times: Vec<Instant> = rx.hits("/throttled").iter().map(|h| h.at).collect();
    times.sort_unstable();
    let span = times[times.len() - 1].duration_since(times[0]);
    let rate = times.len() as f64 / span.as_secs_f64();
    let busiest = busiest_window(&times, Duration::from_secs(1));
    let shares: Vec<usize> = workers.iter().map(|&w| fleet.attempts_logged(w)).collect();
    eprintln!(
        "{} requests over {span:?}: {rate:.2}/s, busiest second {busiest}; attempts per \
         worker {shares:?}",
        times.len()
    );
    assert_eq!(times.len(), MESSAGES, "each message once");
    assert!(rate <= 11.0, "{rate:.2} requests/s to a {RATE}/s endpoint");
    assert!(
        busiest <= 12,
        "{busiest} requests within one second to a {RATE}/s endpoint"
    );
    assert!(
        shares.iter().filter(|&&n| n > 0).count() >= 2,
        "the work was shared, so the limit held across processes: {shares:?}"
    );
}
