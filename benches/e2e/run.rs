//! One run: a fresh database and fresh processes, warm-up, load, drain, verification,
//! measurements. The database is dropped on every exit path, including a panic or Ctrl-C.
//!
//! The isolation scenario runs this twice: once with its healthy endpoints alone and once
//! beside [`BadReceivers`]: a hanging and a failing endpoint that take every message of the
//! load plus a flood of their own. Only the healthy endpoints are waited for and verified;
//! the bad ones' requests are counted and their deliveries left pending when the processes
//! are stopped.

use crate::api::{Api, TOKEN};
use crate::args::{Args, Scenario};
use crate::database::{Backends, Database};
use crate::fleet::{self, Fleet};
use crate::load::{EVENT_TYPE, FLOOD_EVENT_TYPE};
use crate::receiver::{Behavior, Receiver};
use crate::report::{Metrics, percentile_ms};
use crate::{load, verify};
use anyhow::{Context, anyhow};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a process may take to answer its health check after starting.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long outcomes may take to show in the API once every delivery has arrived.
const RECORD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long processes get to exit after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(20);
/// `HOOKLINE_REQUEST_TIMEOUT` of the isolation scenario (both phases) unless the bench's
/// environment sets one: short, so a worker's drain behind the hanging receiver is bounded.
pub const ISOLATION_REQUEST_TIMEOUT: &str = "5s";
/// How long the hanging receiver holds a request, at least; always beyond the timeout.
const HANG: Duration = Duration::from_secs(30);

/// The misbehaving endpoints added in the isolation scenario's second phase, numbered after
/// the healthy ones: `/hook/{E}` hangs, `/hook/{E+1}` answers 500. Both subscribe to the
/// load's event type and to [`FLOOD_EVENT_TYPE`].
#[derive(Debug, Clone, Copy)]
pub struct BadReceivers {
    /// How long the hanging receiver holds each request.
    pub hang: Duration,
    /// Messages of [`FLOOD_EVENT_TYPE`] posted right before the load.
    pub flood: usize,
}

impl BadReceivers {
    /// The isolation scenario's: a flood of `flood` messages, and a hang well beyond the
    /// request timeout in force.
    pub fn new(flood: usize) -> Self {
        let timeout = request_timeout().unwrap_or_default();
        Self {
            hang: HANG.max(timeout * 2),
            flood,
        }
    }
}

/// `HOOKLINE_REQUEST_TIMEOUT` as the processes get it, if the bench sets or passes one.
fn request_timeout() -> Option<Duration> {
    let passed = fleet::passthrough_env()
        .into_iter()
        .find(|(k, _)| k == "HOOKLINE_REQUEST_TIMEOUT")
        .map(|(_, v)| v);
    humantime::parse_duration(passed.as_deref().unwrap_or(ISOLATION_REQUEST_TIMEOUT)).ok()
}

/// What one successful run measured.
pub struct Outcome {
    /// The numbers.
    pub metrics: Metrics,
    /// Odd things that did not fail the run.
    pub notes: Vec<String>,
}

/// Runs the bench once on a fresh database, which is dropped afterwards whatever happens;
/// with `bad`, beside those misbehaving endpoints.
///
/// # Errors
/// Whatever made the run fail: a process that would not start or died, a message not
/// accepted, a healthy delivery missing, an outcome not recorded, or Ctrl-C.
pub async fn run_once(args: &Args, bad: Option<BadReceivers>) -> anyhow::Result<Outcome> {
    let dir = tempfile::Builder::new().prefix("hookline-e2e-").tempdir()?;
    let db = Database::create(args.store, dir.path(), &args.postgres_url).await?;
    let task = tokio::spawn(measure(
        args.clone(),
        bad,
        db.url().to_owned(),
        db.backends(),
        dir.path().to_owned(),
    ));
    db.run_then_drop(task).await
}

async fn measure(
    args: Args,
    bad: Option<BadReceivers>,
    db_url: String,
    backends: Option<Backends>,
    dir: std::path::PathBuf,
) -> anyhow::Result<Outcome> {
    let mut fleet = Fleet::default();
    let result = measure_with(&args, bad, &db_url, backends.as_ref(), &dir, &mut fleet).await;
    // A failure quotes the processes' last words; `fleet`'s Drop then kills them.
    result.map_err(|e| {
        anyhow!(
            "{e:#}\nlast lines of the process logs:\n{}",
            fleet.log_tails(15)
        )
    })
}

async fn measure_with(
    args: &Args,
    bad: Option<BadReceivers>,
    db_url: &str,
    backends: Option<&Backends>,
    dir: &Path,
    fleet: &mut Fleet,
) -> anyhow::Result<Outcome> {
    let base = Instant::now();
    let isolation = args.scenario == Scenario::Isolation;
    let mut behaviors = vec![Behavior::Healthy; args.endpoints];
    if let Some(bad) = bad {
        behaviors.extend([Behavior::Hang(bad.hang), Behavior::Fail]);
    }
    let (receiver, rx_addr, _serving) =
        Receiver::start(base, args.receiver_delay, behaviors).await?;
    let port = free_port()?;
    let mut env = process_env(db_url, port);
    let timeout_passed = fleet::passthrough_env()
        .iter()
        .any(|(k, _)| k == "HOOKLINE_REQUEST_TIMEOUT");
    if isolation && !timeout_passed {
        env.push((
            "HOOKLINE_REQUEST_TIMEOUT".to_owned(),
            ISOLATION_REQUEST_TIMEOUT.to_owned(),
        ));
    }

    // The API process runs the migrations; workers start once it is healthy.
    let front = if args.workers == 0 { "serve" } else { "api" };
    fleet.spawn(front, front, dir, &env)?;
    let api = Api::new(port, args.clients)?;
    wait_healthy(&api, fleet).await?;
    for i in 1..=args.workers {
        fleet.spawn(&format!("worker{i}"), "worker", dir, &env)?;
    }

    let app = api.create_app().await?;
    // In the isolation scenario the healthy endpoints filter on the load's event type in
    // both phases, so the flood never reaches them and the phases differ only by `bad`.
    let healthy_types = isolation.then_some(&[EVENT_TYPE][..]);
    let mut endpoints = Vec::with_capacity(args.endpoints);
    for n in 0..args.endpoints {
        let url = format!("http://{rx_addr}/hook/{n}");
        endpoints.push(api.create_endpoint(&app, &url, healthy_types).await?);
    }
    let mut bad_endpoints = Vec::new();
    if bad.is_some() {
        for (n, name) in [(args.endpoints, "hang"), (args.endpoints + 1, "fail")] {
            let url = format!("http://{rx_addr}/hook/{n}");
            let types = [EVENT_TYPE, FLOOD_EVENT_TYPE];
            let id = api.create_endpoint(&app, &url, Some(&types)).await?;
            bad_endpoints.push((name, n, id));
        }
    }
    if args.workers > 0 {
        // Worker processes report no readiness; give them a moment to connect.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    fleet.check_alive()?;

    let pad = load::pad(args.payload_bytes);
    let warm = load::warm_up(&api, &app, args.clients, base, &pad).await?;
    verify::wait_for_receipts(&receiver, warm.len() * args.endpoints, START_TIMEOUT, fleet)
        .await
        .context("warm-up")?;

    // The flood goes in right before the load, so its backlog on the bad endpoints is the
    // oldest due work when the measured messages arrive.
    let mut flood_seconds = None;
    if let Some(bad) = bad.filter(|b| b.flood > 0) {
        let start = Instant::now();
        load::flood(&api, &app, bad.flood, args.clients, base, &pad).await?;
        flood_seconds = Some(start.elapsed().as_secs_f64());
    }

    let cpu_before = cpu_times(fleet);
    let pg_before = match backends {
        Some(b) => Some(b.sample().await?),
        None => None,
    };
    let load_start = Instant::now();
    let load = load::run(
        &api,
        &app,
        args.clients,
        args.rate,
        Duration::from_secs(args.seconds),
        base,
        &pad,
    )
    .await?;
    let mut ids = warm;
    ids.extend(load.msg_ids.iter().cloned());
    let expected = ids.len() * args.endpoints;
    verify::wait_for_receipts(&receiver, expected, args.drain_timeout, fleet).await?;
    let cpu_after = cpu_times(fleet);
    let pg_used = match (backends, pg_before) {
        (Some(b), Some(before)) => Some(Backends::used(&before, &b.sample().await?)),
        _ => None,
    };
    verify::check_pairs(&receiver, &ids, args.endpoints)?;

    let (mut samples, duplicates, per_endpoint) = {
        let tally = receiver.tally();
        let mut per_endpoint = vec![0u64; args.endpoints];
        for ((_, n), count) in &tally.pairs {
            if let Some(slot) = per_endpoint.get_mut(usize::from(*n)) {
                *slot += u64::from(*count);
            }
        }
        (tally.samples.clone(), tally.duplicates, per_endpoint)
    };
    let verify_start = Instant::now();
    let mut notes =
        verify::check_recorded(&api, &app, &endpoints, &ids, &per_endpoint, RECORD_TIMEOUT).await?;
    notes.push(format!(
        "verified {} messages × {} endpoints in stats and attempt listings ({:.1?})",
        ids.len(),
        args.endpoints,
        verify_start.elapsed()
    ));
    // What the bad endpoints got and where their deliveries stand, before the stop.
    let mut bad_metrics = Vec::new();
    if !bad_endpoints.is_empty() {
        let (requests, messages) = {
            let tally = receiver.tally();
            let requests: Vec<u64> = bad_endpoints
                .iter()
                .map(|(_, n, _)| tally.bad_requests.get(&(*n as u16)).copied().unwrap_or(0))
                .collect();
            let messages: Vec<usize> = bad_endpoints
                .iter()
                .map(|(_, n, _)| {
                    let n = *n as u16;
                    tally.bad_pairs.iter().filter(|(_, m)| *m == n).count()
                })
                .collect();
            (requests, messages)
        };
        let offered = ids.len() + bad.map_or(0, |b| b.flood);
        for (((name, n, ep), requests), messages) in
            bad_endpoints.iter().zip(requests).zip(messages)
        {
            bad_metrics.push((format!("{name}_requests"), requests as f64));
            bad_metrics.push((format!("{name}_messages_reached"), messages as f64));
            let stats = api.endpoint_stats(&app, ep).await?;
            let health = api.endpoint_health(&app, ep).await?;
            notes.push(format!(
                "/hook/{n} ({name}): {requests} requests for {messages} of {offered} messages; \
                 stats success {} pending {} sending {} fail {}; breaker {} (trips {}), \
                 in flight {}, backlog {}",
                stats.success,
                stats.pending,
                stats.sending,
                stats.fail,
                health["breaker"]["state"].as_str().unwrap_or("?"),
                health["breaker"]["trips"],
                health["inFlight"],
                health["backlog"],
            ));
        }
    }

    let rss = fleet.peak_rss_kib();
    for (name, problem) in fleet.stop(STOP_GRACE).await {
        notes.push(format!("{name} did not shut down cleanly: {problem}"));
    }
    let logs = fleet.log_summaries();

    samples.sort_by_key(|s| s.at);
    let first = samples.first().map_or(load_start, |s| s.at);
    let last = samples.last().map_or(load_start, |s| s.at);
    let mut e2e: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    e2e.sort();
    let mut api_latencies = load.api_latencies;
    api_latencies.sort();
    let window = last
        .saturating_duration_since(load_start)
        .as_secs_f64()
        .max(1e-9);

    let mut m = Metrics::default();
    let messages = load.msg_ids.len();
    m.push("messages", messages as f64, 0);
    m.push(
        "ingest_msgs_per_s",
        messages as f64 / load.elapsed.as_secs_f64(),
        0,
    );
    m.push("api_p50_ms", percentile_ms(&api_latencies, 0.50), 1);
    m.push("api_p99_ms", percentile_ms(&api_latencies, 0.99), 1);
    m.push("deliveries", samples.len() as f64, 0);
    let spread = (last - first).as_secs_f64().max(1e-9);
    m.push("deliveries_per_s", samples.len() as f64 / spread, 0);
    m.push("e2e_p50_ms", percentile_ms(&e2e, 0.50), 1);
    m.push("e2e_p99_ms", percentile_ms(&e2e, 0.99), 1);
    let drain = last.saturating_duration_since(load.ended);
    m.push("drain_after_load_s", drain.as_secs_f64(), 2);
    m.push("duplicates", duplicates as f64, 0);
    if let Some(seconds) = flood_seconds {
        m.push("flood_messages", bad.map_or(0, |b| b.flood) as f64, 0);
        m.push("flood_post_s", seconds, 2);
    }
    for (key, value) in bad_metrics {
        m.push(key, value, 0);
    }
    for (name, kib) in rss {
        let kib = kib.ok_or_else(|| anyhow!("no VmHWM for {name} in /proc"))?;
        m.push(format!("peak_rss_mib_{name}"), kib as f64 / 1024.0, 1);
    }
    for ((name, before), (_, after)) in cpu_before.iter().zip(&cpu_after) {
        let used = after.saturating_sub(*before).as_secs_f64();
        m.push(format!("cpu_pct_{name}"), 100.0 * used / window, 0);
    }
    if let Some(used) = pg_used {
        m.push("cpu_pct_postgres", 100.0 * used.as_secs_f64() / window, 0);
    }
    let (warnings, errors) = logs
        .iter()
        .fold((0, 0), |(w, e), l| (w + l.warnings, e + l.errors));
    m.push("log_warn_lines", warnings as f64, 0);
    m.push("log_error_lines", errors as f64, 0);
    for log in logs {
        for line in log.samples {
            notes.push(format!("{} logged: {line}", log.name));
        }
    }
    Ok(Outcome { metrics: m, notes })
}

/// The variables the bench sets for every Hookline process (on top of the pass-through
/// ones), with the API on `127.0.0.1:port`.
pub fn process_env(db_url: &str, port: u16) -> Vec<(String, String)> {
    [
        ("HOOKLINE_DATABASE_URL", db_url.to_owned()),
        ("HOOKLINE_LISTEN", format!("127.0.0.1:{port}")),
        ("HOOKLINE_API_TOKEN", TOKEN.to_owned()),
        ("HOOKLINE_ALLOWED_SUBNETS", "127.0.0.0/8".to_owned()),
        ("HOOKLINE_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// CPU time so far of every Hookline process and of the bench itself (`bench`).
fn cpu_times(fleet: &Fleet) -> Vec<(String, Duration)> {
    let mut times: Vec<(String, Duration)> = fleet
        .cpu_time()
        .into_iter()
        .map(|(name, t)| (name, t.unwrap_or_default()))
        .collect();
    times.push((
        "bench".to_owned(),
        fleet::cpu_time("self").unwrap_or_default(),
    ));
    times
}

pub async fn wait_healthy(api: &Api, fleet: &mut Fleet) -> anyhow::Result<()> {
    let start = Instant::now();
    while !api.healthy().await {
        fleet.check_alive()?;
        anyhow::ensure!(
            start.elapsed() < START_TIMEOUT,
            "hookline did not answer its health check within {START_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
