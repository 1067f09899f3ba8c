//! The Hookline processes of one run: the real release binary, spawned as children.
//!
//! Cargo builds the `hookline` binary for every bench and exports its path as
//! `CARGO_BIN_EXE_hookline`; under `cargo bench` that is `target/release/hookline` built with
//! the bench profile, which inherits `[profile.release]`. `E2E_HOOKLINE_BIN` overrides it,
//! e.g. with a copy that a concurrent `cargo build` cannot replace mid-run. Each child runs in the run's
//! temporary directory with a cleared environment (so a stray `hookline.toml` or
//! `HOOKLINE_*` variable cannot change what is measured), except that `HOOKLINE_*` variables
//! of the bench's own environment are passed through deliberately and listed in the report.
//! Output goes to one log file per process. [`Fleet`]'s `Drop` kills whatever still runs,
//! so no exit path (error, panic, Ctrl-C) leaves a process behind.

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary Cargo built alongside the bench.
const BUILT_BINARY: &str = env!("CARGO_BIN_EXE_hookline");

/// The binary under test: `E2E_HOOKLINE_BIN` if set, else the one Cargo built.
pub fn binary() -> String {
    std::env::var("E2E_HOOKLINE_BIN").unwrap_or_else(|_| BUILT_BINARY.to_owned())
}

/// Variables the bench sets itself; the same names in its environment are not passed on.
const OWN_VARS: &[&str] = &[
    "HOOKLINE_DATABASE_URL",
    "HOOKLINE_LISTEN",
    "HOOKLINE_API_TOKEN",
    "HOOKLINE_ALLOWED_SUBNETS",
    "HOOKLINE_LOG_FORMAT",
    "HOOKLINE_CONFIG",
];

/// `HOOKLINE_*` variables of the bench's environment that every child also gets.
pub fn passthrough_env() -> Vec<(String, String)> {
    let mut vars: Vec<_> = std::env::vars()
        .filter(|(k, _)| k.starts_with("HOOKLINE_") && !OWN_VARS.contains(&k.as_str()))
        .collect();
    vars.sort();
    vars
}

/// One running child.
struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

/// What a process's log held at the end.
pub struct LogSummary {
    /// The process name, e.g. `worker2`.
    pub name: String,
    /// Lines at level WARN.
    pub warnings: usize,
    /// Lines at level ERROR, and lines that are not JSON at all (a panic message, say).
    pub errors: usize,
    /// The first few WARN/ERROR/non-JSON lines, for the report.
    pub samples: Vec<String>,
}

/// The children of one run.
#[derive(Default)]
pub struct Fleet {
    procs: Vec<Process>,
}

impl Fleet {
    /// Starts `hookline <role>` as `name` with `env` on top of the pass-through variables.
    ///
    /// # Errors
    /// If the log file cannot be created or the binary cannot be started.
    pub fn spawn(
        &mut self,
        name: &str,
        role: &str,
        dir: &Path,
        env: &[(String, String)],
    ) -> anyhow::Result<()> {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let binary = binary();
        let child = Command::new(&binary)
            .arg(role)
            .current_dir(dir)
            .env_clear()
            .envs(passthrough_env())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {binary} {role}"))?;
        self.procs.push(Process {
            name: name.to_owned(),
            child,
            log,
        });
        Ok(())
    }

    /// Fails if any child has exited, quoting the end of its log.
    ///
    /// # Errors
    /// Naming the process, its exit status and its last log lines.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for p in &mut self.procs {
            if let Some(status) = p.child.try_wait()? {
                bail!(
                    "hookline process {} exited early with {status}; end of {}:\n{}",
                    p.name,
                    p.log.display(),
                    tail(&p.log, 20)
                );
            }
        }
        Ok(())
    }

    /// Peak resident set size (`VmHWM`) of each process in KiB, read from `/proc`.
    pub fn peak_rss_kib(&self) -> Vec<(String, Option<u64>)> {
        self.procs
            .iter()
            .map(|p| (p.name.clone(), proc_status_kib(p.child.id(), "VmHWM:")))
            .collect()
    }

    /// `VmRSS` and `VmHWM` (current and peak resident set size, KiB) of the process `name`.
    pub fn rss_kib(&self, name: &str) -> Option<(u64, u64)> {
        let p = self.procs.iter().find(|p| p.name == name)?;
        let pid = p.child.id();
        Some((
            proc_status_kib(pid, "VmRSS:")?,
            proc_status_kib(pid, "VmHWM:")?,
        ))
    }

    /// CPU time (user + system) each process has used so far.
    pub fn cpu_time(&self) -> Vec<(String, Option<Duration>)> {
        self.procs
            .iter()
            .map(|p| (p.name.clone(), cpu_time(&p.child.id().to_string())))
            .collect()
    }

    /// Asks every process to shut down (SIGTERM) and waits up to `grace` for each; returns
    /// the processes that did not exit 0 in time, with what happened. Survivors are killed.
    pub async fn stop(&mut self, grace: Duration) -> Vec<(String, String)> {
        for p in &self.procs {
            if let Ok(pid) = i32::try_from(p.child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        let mut problems = Vec::new();
        for p in &mut self.procs {
            let status = loop {
                match p.child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    Ok(None) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ => break None,
                }
            };
            match status {
                Some(s) if s.success() => {}
                Some(s) => problems.push((p.name.clone(), describe(s))),
                None => {
                    let _ = p.child.kill();
                    let _ = p.child.wait();
                    problems.push((p.name.clone(), format!("still running after {grace:?}")));
                }
            }
        }
        problems
    }

    /// Counts the WARN and ERROR lines each process logged.
    pub fn log_summaries(&self) -> Vec<LogSummary> {
        self.procs
            .iter()
            .map(|p| summarize(&p.name, &p.log))
            .collect()
    }

    /// The last lines of every process's log, for a failure message.
    pub fn log_tails(&self, lines: usize) -> String {
        self.procs
            .iter()
            .map(|p| {
                format!(
                    "--- {} ({}):\n{}",
                    p.name,
                    p.log.display(),
                    tail(&p.log, lines)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for p in &mut self.procs {
            if matches!(p.child.try_wait(), Ok(None)) {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// A `kB` field of `/proc/<pid>/status`.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// User + system CPU time of `/proc/<pid>/stat` (`pid` may be `self`). The kernel reports
/// it in USER_HZ ticks, which is 100 per second on Linux.
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it are plain numbers.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn summarize(name: &str, path: &Path) -> LogSummary {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut summary = LogSummary {
        name: name.to_owned(),
        warnings: 0,
        errors: 0,
        samples: Vec::new(),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let level = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v["level"].as_str().map(str::to_owned));
        match level.as_deref() {
            Some("WARN") => summary.warnings += 1,
            Some("ERROR") | None => summary.errors += 1,
            Some(_) => continue,
        }
        if summary.samples.len() < 3 {
            summary.samples.push(line.chars().take(400).collect());
        }
    }
    summary
}
