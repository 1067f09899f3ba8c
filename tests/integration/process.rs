//! The real `hookline` binary as a child process: started with a clean environment, its
//! output collected line by line, signalled, and killed when the handle is dropped (on every
//! path, panics included), so no test leaves a process behind.

use crate::helpers::DEADLINE;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Lines of one output stream, shared with the task that reads them.
pub type Lines = Arc<Mutex<Vec<String>>>;

fn collect(stream: impl AsyncRead + Unpin + Send + 'static, into: Lines) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().expect("lines lock").push(line);
        }
    })
}

/// A running `hookline` process whose output is being collected. Dropping it kills the
/// process (`kill_on_drop`: SIGKILL, then reaped by the runtime).
pub struct Process {
    child: Child,
    /// What it printed on stdout so far.
    pub stdout: Lines,
    /// What it printed on stderr so far.
    pub stderr: Lines,
    readers: Vec<JoinHandle<()>>,
}

/// What a finished process left behind.
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Process {
    /// Starts `hookline <role>` in `dir` with exactly the environment `env`.
    pub fn start(role: &str, dir: &Path, env: &[(String, String)]) -> Self {
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
        Self {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// Both output streams so far, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().expect("lines lock").join("\n"),
            self.stderr.lock().expect("lines lock").join("\n")
        )
    }

    /// The last `n` lines of both streams, for failure messages about chatty processes.
    pub fn output_tail(&self, n: usize) -> String {
        let tail = |lines: &Lines| {
            let lines = lines.lock().expect("lines lock");
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        format!(
            "stdout (last {n} lines):\n{}\nstderr (last {n} lines):\n{}",
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }

    /// How it exited, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("child status")
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        let pid = self.child.id().expect("a running child has a pid");
        let pid = i32::try_from(pid).expect("pid fits in pid_t");
        kill(Pid::from_raw(pid), signal).expect("signal delivered");
    }

    /// Waits until `GET /api/v1/health` answers 204 on `port`.
    pub async fn wait_healthy(&mut self, port: u16) {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/api/v1/health");
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
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

    /// Waits until a line of either stream contains `needle` and returns it, failing the
    /// test after `timeout` or if the process exits first.
    pub async fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            for lines in [&self.stdout, &self.stderr] {
                let found = lines
                    .lock()
                    .expect("lines lock")
                    .iter()
                    .find(|l| l.contains(needle))
                    .cloned();
                if let Some(line) = found {
                    return line;
                }
            }
            if let Some(status) = self.exited() {
                panic!(
                    "hookline exited with {status} before printing {needle:?}\n{}",
                    self.output_tail(40)
                );
            }
            assert!(
                start.elapsed() < timeout,
                "hookline did not print {needle:?} within {timeout:?}\n{}",
                self.output_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to `timeout` for the process to exit by itself; on a timeout it is killed
    /// and the test fails.
    pub async fn wait_exit_within(mut self, timeout: Duration) -> Finished {
        let status = match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.expect("child status"),
            Err(_) => {
                let _ = self.child.kill().await;
                panic!(
                    "hookline did not exit within {timeout:?}\n{}",
                    self.output_tail(40)
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

    /// Waits for the process to exit by itself, killing it after [`DEADLINE`].
    pub async fn wait_exit(self) -> Finished {
        self.wait_exit_within(DEADLINE).await
    }

    /// Sends SIGTERM and waits for a graceful exit.
    pub async fn terminate(self) -> Finished {
        self.signal(Signal::SIGTERM);
        self.wait_exit().await
    }

    /// Kills the process with SIGKILL and reaps it.
    pub async fn kill(mut self) -> ExitStatus {
        self.child.kill().await.expect("SIGKILL delivered");
        self.child.wait().await.expect("child status")
    }
}
