//! The bench's command line: `--flag value` or `--flag=value`; unknown flags are an error so
//! a typo never silently benchmarks the defaults.

use anyhow::{Context, bail};
use std::time::Duration;

/// The Postgres server a fresh database is created on (trust auth, user `postgres`).
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which store the Hookline processes run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A SQLite file in the run's temporary directory.
    Sqlite,
    /// A fresh database on the Postgres server of `--postgres-url`.
    Postgres,
}

impl StoreKind {
    /// The name used in flags and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// What an invocation measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Throughput and latency with healthy receivers only.
    Default,
    /// Healthy endpoints' latency alone, then beside a hanging and a failing receiver.
    Isolation,
    /// One worker draining a large seeded backlog of due deliveries: RSS and claim cost.
    Backlog,
}

impl Scenario {
    /// The name used in flags and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Isolation => "isolation",
            Self::Backlog => "backlog",
        }
    }
}

/// Healthy endpoints per message in the isolation scenario unless `--endpoints` says otherwise.
pub const ISOLATION_ENDPOINTS: usize = 4;
/// Endpoints the backlog is spread over unless `--endpoints` says otherwise.
pub const BACKLOG_ENDPOINTS: usize = 10;
/// How long the backlog scenario samples the worker unless `--seconds` says otherwise.
pub const BACKLOG_SECONDS: u64 = 60;

/// What one invocation measures.
#[derive(Debug, Clone)]
pub struct Args {
    /// `--scenario`.
    pub scenario: Scenario,
    /// `--store`.
    pub store: StoreKind,
    /// `--workers`: 0 runs one `hookline serve`; N runs one `hookline api` and N `hookline worker`.
    pub workers: usize,
    /// `--seconds`: how long the load runs.
    pub seconds: u64,
    /// `--clients`: concurrent API connections posting messages.
    pub clients: usize,
    /// `--rate`: messages per second over all clients; 0 posts each as soon as the last was
    /// accepted.
    pub rate: u32,
    /// `--endpoints`: endpoints every message fans out to (in the isolation scenario: the
    /// healthy ones, 4 unless given).
    pub endpoints: usize,
    /// `--flood`: in the isolation scenario, extra messages of their own event type posted
    /// right before the load, routed only to the bad endpoints.
    pub flood: usize,
    /// `--receiver-delay-ms`: how long the receiver waits before answering 200.
    pub receiver_delay: Duration,
    /// `--payload-bytes`: about how long each message's payload is (0: as short as it gets,
    /// about 40 bytes).
    pub payload_bytes: usize,
    /// `--runs`: repetitions, each on a fresh database and fresh processes; medians reported.
    pub runs: usize,
    /// `--drain-seconds`: how long to wait after the load for every delivery to arrive.
    pub drain_timeout: Duration,
    /// `--backlog`: in the backlog scenario, due deliveries seeded before the worker starts.
    pub backlog: usize,
    /// `--sample-seconds`: in the backlog scenario, the interval between samples.
    pub sample_every: Duration,
    /// `--postgres-url`: the server and maintenance database used to create and drop the
    /// bench's database.
    pub postgres_url: String,
}

/// What `--help` prints.
pub const USAGE: &str = "\
usage: cargo bench --bench e2e -- [flags]
  --scenario default|isolation|backlog
                            default: throughput with healthy receivers; isolation: healthy
                            endpoints alone, then beside a hanging and a failing receiver;
                            backlog: one worker draining --backlog seeded due deliveries
                            (Postgres only), sampled for RSS and claim cost
  --store sqlite|postgres   store of the Hookline processes (default sqlite; backlog: postgres)
  --workers N               0: one `hookline serve`; N>=1: one `hookline api` + N `hookline worker` (default 0)
  --seconds S               load duration (default 10; backlog: sampling duration, 60)
  --clients C               concurrent API connections (default 32)
  --rate M                  post M messages/s in all, evenly spaced; 0: each client posts as
                            soon as its last message was accepted (default 0)
  --endpoints E             endpoints per message (default 1; isolation: healthy ones, 4;
                            backlog: endpoints the backlog is spread over, 10)
  --flood N                 isolation: extra messages only the bad receivers get (default 600)
  --backlog N               backlog: due deliveries seeded with SQL (default 1000000)
  --sample-seconds P        backlog: sample the worker every P s (default 5)
  --receiver-delay-ms D     receiver waits D ms before answering 200 (default 0)
  --payload-bytes B         pad each payload to about B bytes with an array of invoice
                            lines (default 0: unpadded, about 40 bytes; at most 524288)
  --runs R                  repeat R times on fresh databases and report medians (default 1)
  --drain-seconds T         wait at most T s after the load for every delivery (default 120)
  --postgres-url URL        server used to create/drop the bench database
                            (default postgres://postgres@127.0.0.1:5432/postgres)";

impl Default for Args {
    fn default() -> Self {
        Self {
            scenario: Scenario::Default,
            store: StoreKind::Sqlite,
            workers: 0,
            seconds: 10,
            clients: 32,
            rate: 0,
            endpoints: 1,
            flood: 600,
            receiver_delay: Duration::ZERO,
            payload_bytes: 0,
            runs: 1,
            drain_timeout: Duration::from_secs(120),
            backlog: 1_000_000,
            sample_every: Duration::from_secs(5),
            postgres_url: DEFAULT_POSTGRES_URL.to_owned(),
        }
    }
}

/// Parses the arguments after the program name. `Ok(None)` means `--help` was asked for.
///
/// # Errors
/// An unknown flag, a missing value or a value out of range.
pub fn parse(raw: impl IntoIterator<Item = String>) -> anyhow::Result<Option<Args>> {
    let mut args = Args::default();
    let mut it = raw.into_iter();
    let (mut endpoints_given, mut seconds_given, mut store_given) = (false, false, false);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        match flag.as_str() {
            // `cargo bench` appends `--bench` to every bench binary's arguments.
            "--bench" => continue,
            "-h" | "--help" => return Ok(None),
            _ => {}
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))?,
        };
        match flag.as_str() {
            "--scenario" => {
                args.scenario = match value.as_str() {
                    "default" => Scenario::Default,
                    "isolation" => Scenario::Isolation,
                    "backlog" => Scenario::Backlog,
                    _ => bail!("--scenario {value:?}: expected default, isolation or backlog"),
                }
            }
            "--store" => {
                args.store = match value.as_str() {
                    "sqlite" => StoreKind::Sqlite,
                    "postgres" => StoreKind::Postgres,
                    _ => bail!("--store {value:?}: expected sqlite or postgres"),
                };
                store_given = true;
            }
            "--workers" => args.workers = number(&flag, &value, 0, 64)?,
            "--seconds" => {
                args.seconds = number(&flag, &value, 1, 3600)? as u64;
                seconds_given = true;
            }
            "--clients" => args.clients = number(&flag, &value, 1, 4096)?,
            "--rate" => args.rate = number(&flag, &value, 0, 1_000_000)? as u32,
            "--endpoints" => {
                args.endpoints = number(&flag, &value, 1, 1000)?;
                endpoints_given = true;
            }
            "--flood" => args.flood = number(&flag, &value, 0, 100_000)?,
            "--receiver-delay-ms" => {
                args.receiver_delay =
                    Duration::from_millis(number(&flag, &value, 0, 60_000)? as u64);
            }
            "--payload-bytes" => args.payload_bytes = number(&flag, &value, 0, 512 * 1024)?,
            "--runs" => args.runs = number(&flag, &value, 1, 100)?,
            "--drain-seconds" => {
                args.drain_timeout = Duration::from_secs(number(&flag, &value, 1, 3600)? as u64);
            }
            "--backlog" => args.backlog = number(&flag, &value, 1, 100_000_000)?,
            "--sample-seconds" => {
                args.sample_every = Duration::from_secs(number(&flag, &value, 1, 3600)? as u64);
            }
            "--postgres-url" => args.postgres_url = value,
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    if args.scenario == Scenario::Isolation && !endpoints_given {
        args.endpoints = ISOLATION_ENDPOINTS;
    }
    if args.scenario == Scenario::Backlog {
        if store_given && args.store != StoreKind::Postgres {
            bail!(
                "--scenario backlog runs on Postgres only (it seeds the queue with Postgres SQL); \
                 use --store postgres"
            );
        }
        args.store = StoreKind::Postgres;
        if !endpoints_given {
            args.endpoints = BACKLOG_ENDPOINTS;
        }
        if !seconds_given {
            args.seconds = BACKLOG_SECONDS;
        }
        if args.backlog < args.endpoints {
            bail!(
                "--backlog {} is less than --endpoints {}: nothing to seed",
                args.backlog,
                args.endpoints
            );
        }
    }
    Ok(Some(args))
}

fn number(flag: &str, value: &str, min: usize, max: usize) -> anyhow::Result<usize> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .with_context(|| format!("{flag} {value:?}: expected an integer from {min} to {max}"))
}
