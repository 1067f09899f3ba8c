//! End-to-end load bench: the real `hookline` release binary as child processes on a fresh
//! store, a fast receiver on loopback in this process, and a load generator posting
//! messages for a fixed time.
//!
//! ```text
//! cargo bench --bench e2e -- [--scenario default|isolation|backlog] [--store sqlite|postgres]
//!     [--workers N] [--seconds S] [--clients C] [--rate M] [--endpoints E] [--flood N]
//!     [--backlog N] [--sample-seconds P] [--receiver-delay-ms D] [--runs R]
//!     [--drain-seconds T] [--postgres-url URL]
//! ```
//!
//! - `--scenario default|isolation|backlog` (default `default`): see "The isolation
//!   scenario" and "The backlog scenario" below.
//! - `--store sqlite|postgres` (default `sqlite`): SQLite is a file in a temporary
//!   directory; Postgres is a fresh database `hookline_bench_<ulid>` created through the
//!   `postgres` maintenance database of `--postgres-url` (default
//!   `postgres://postgres@127.0.0.1:5432/postgres`) and dropped `WITH (FORCE)` at the end,
//!   on failure and on Ctrl-C too.
//! - `--workers N` (default 0): 0 runs one `hookline serve`; N ≥ 1 runs one `hookline api`
//!   and N `hookline worker` processes.
//! - `--seconds S` (default 10): how long the load runs.
//! - `--clients C` (default 32): concurrent API connections, each posting one message at a
//!   time.
//! - `--rate M` (default 0): with M > 0 the clients together post M messages per second on
//!   an even schedule (a client that falls behind posts at once, and the creation time is
//!   still the start of the actual POST), so the offered load does not depend on how fast
//!   Hookline accepts; 0 posts each client's next message as soon as the last was accepted.
//! - `--endpoints E` (default 1): endpoints every message fans out to.
//! - `--receiver-delay-ms D` (default 0): the receiver answers 200 after D ms.
//! - `--runs R` (default 1): repeat on a fresh database and fresh processes; medians are
//!   reported after the individual runs.
//! - `--drain-seconds T` (default 120): how long to wait after the load for every delivery.
//!
//! The binary is the one Cargo builds for benches (`CARGO_BIN_EXE_hookline`, i.e.
//! `target/release/hookline` with the bench profile, which inherits `[profile.release]`),
//! or the path in `E2E_HOOKLINE_BIN` if set.
//! Each process gets `HOOKLINE_DATABASE_URL`, `HOOKLINE_LISTEN=127.0.0.1:<free port>`,
//! `HOOKLINE_API_TOKEN`, `HOOKLINE_ALLOWED_SUBNETS=127.0.0.0/8`, `HOOKLINE_LOG_FORMAT=json`
//! and `RUST_LOG=warn`; other `HOOKLINE_*` variables of the bench's environment are passed
//! through (and listed in the report), e.g. `HOOKLINE_ENDPOINT_CONCURRENCY=64`.
//!
//! A run: start the processes, create an application and E endpoints, post one warm-up
//! message per client (so every connection is open and a worker is delivering), then load
//! for S seconds. Every message must be accepted with 202; anything else fails the run.
//! The payload carries the time its POST started, so the receiver measures
//! creation-to-receipt latency. After the load the bench waits (at most T seconds) until
//! every (message, endpoint) pair has arrived, then checks through the API that the outcomes
//! are durably recorded: each endpoint's `stats` must count every message as a success with
//! nothing pending, and the endpoint's successful attempts (paged through
//! `GET …/attempt/endpoint/{id}?status=0`) must cover every message. Peak RSS (`VmHWM`) is
//! read from `/proc` before the processes are stopped with SIGTERM.
//!
//! Reported per run: ingest msgs/s and API latency p50/p99; deliveries/s from first to last
//! receipt; creation-to-receipt p50/p99; drain time after the load; duplicates; peak RSS and
//! CPU share (percent of one core, load start to last receipt) of each process, of the
//! Postgres backends serving the bench's database (`cpu_pct_postgres`, read from `/proc`, so
//! only when the server runs on this host) and of the bench itself, which shares the
//! machine; WARN/ERROR lines in the processes' logs.
//! The exit status is non-zero, with a message, if anything is missing.
//!
//! # The isolation scenario
//!
//! `--scenario isolation` measures whether a hanging and a failing receiver slow down the
//! healthy ones. Each run is two runs as above, each on a fresh database and fresh
//! processes, with the same load and `HOOKLINE_REQUEST_TIMEOUT=5s` (unless the environment
//! passes another):
//!
//! - (a) E healthy endpoints (`--endpoints`, default 4) on one application, each
//!   subscribed to the load's event type, receiving every message;
//! - (b) the same, plus `/hook/{E}`, which holds every request 30 s (at least twice the
//!   request timeout), and `/hook/{E+1}`, which answers 500 to everything. Both take every
//!   message of the warm-up and the load, and also a flood of `--flood` (default 600)
//!   messages of their own event type, which the healthy endpoints do not subscribe to,
//!   posted over the `--clients` connections right before the load starts.
//!
//! Only the healthy (message, endpoint) pairs are waited for and verified, in both runs,
//! exactly as in the default scenario; the bad endpoints' deliveries are left pending or
//! retrying when the processes are stopped. Reported: each run's block, then the healthy
//! endpoints' creation-to-receipt p50/p99 alone and beside the bad receivers, `p99_ratio`
//! = p99(b) / p99(a) (the goal is at most 1.2), and the requests the hanging and the failing
//! receiver saw (and for how many distinct messages); with `--runs`, medians of each.
//!
//! # The backlog scenario
//!
//! `--scenario backlog` measures one worker facing a huge queue ("1,000,000 due deliveries
//! in the queue: worker RSS < 150 MB and claim cost flat"). Postgres only (`--store sqlite`
//! is refused; the store defaults to Postgres here). On a fresh database an `api` process
//! migrates and, through the API, one application and E endpoints (`--endpoints`, default
//! 10 here) on the receiver are created; the bench then seeds `--backlog` (default
//! 1,000,000) deliveries, all due now, with plain SQL on its own connection: `--backlog / E`
//! messages of type `bulk.seeded`, each with a delivery to every endpoint, then `ANALYZE`.
//! One `hookline worker` starts with `HOOKLINE_METRICS_LISTEN=127.0.0.1:<free port>`, and
//! every `--sample-seconds` (default 5) for `--seconds` (default 60 here) the bench reads
//! its `VmRSS` from `/proc` and scrapes its `/metrics`, printing one line per sample:
//! elapsed seconds, `hookline_queue_deliveries{state="due"}`, deliveries received so far,
//! RSS MiB, the mean claim time (from `hookline_claim_duration_seconds_sum`/`_count`), the
//! number of claims in that interval, and claim time per leased delivery (over
//! `hookline_claim_batch_size_sum`). A worker that falls behind leases more per claim, so
//! its claims get longer even when each delivery's share does not; the per-delivery cost is
//! the one that shows whether the backlog makes claiming dearer. Reported at the end: the
//! worker's peak RSS (`VmHWM`), both claim costs of the first and the last interval with
//! claims and their last-over-first ratios (`claim_last_over_first`, `claim_per_dlv_ratio`;
//! flat is about 1), deliveries/s over the sampling and a `row:` line (store | endpoints |
//! seeded | deliveries/s | peak RSS MiB | claim ms first / last | claim µs per delivery
//! first / last | ratio of the latter). It fails if no delivery arrives within 30 s of the
//! worker starting (or at all, in a shorter run) or a process dies. `--workers`,
//! `--clients`, `--rate`, `--flood`, `--runs` and `--drain-seconds` do not apply; it runs
//! once.

mod api;
mod args;
mod backlog;
mod database;
mod fleet;
mod load;
mod receiver;
mod report;
mod run;
mod verify;

use args::{Args, Scenario};
use report::Metrics;
use run::{BadReceivers, Outcome};
use std::process::ExitCode;

/// The bench shares the machine with what it measures: the receiver and the load generator
/// allocate as much per request as the service does, so they get the service's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("e2e: {e:#}");
            return ExitCode::from(2);
        }
    };
    println!("binary:                 {}", fleet::binary());
    for (key, value) in fleet::passthrough_env() {
        let shown = if key.contains("SECRET") || key.contains("TOKEN") {
            "…"
        } else {
            &value
        };
        println!("passed through:         {key}={shown}");
    }
    let result = match args.scenario {
        Scenario::Default => default_scenario(&args).await,
        Scenario::Isolation => isolation_scenario(&args).await,
        Scenario::Backlog => backlog::run(&args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAIL {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn default_scenario(args: &Args) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for n in 1..=args.runs {
        let label = format!("run {n}/{}", args.runs);
        let outcome = measured(args, None, &label).await?;
        all.push(outcome.metrics);
    }
    if all.len() > 1 {
        let median = Metrics::median(&all);
        report::print_setup(args, &format!("median of {} runs", all.len()));
        report::print_metrics(&median);
        report::print_row(args, &median);
    }
    Ok(())
}

async fn isolation_scenario(args: &Args) -> anyhow::Result<()> {
    let bad = BadReceivers::new(args.flood);
    let (hang, fail) = (args.endpoints, args.endpoints + 1);
    println!(
        "bad receivers (b):      /hook/{hang} holds each request {:?}, /hook/{fail} answers 500; \
         both take every message plus {} of {}",
        bad.hang,
        bad.flood,
        load::FLOOD_EVENT_TYPE
    );
    if !fleet::passthrough_env()
        .iter()
        .any(|(k, _)| k == "HOOKLINE_REQUEST_TIMEOUT")
    {
        println!(
            "set by the bench:       HOOKLINE_REQUEST_TIMEOUT={}",
            run::ISOLATION_REQUEST_TIMEOUT
        );
    }
    let (mut alone, mut beside, mut compared) = (Vec::new(), Vec::new(), Vec::new());
    for n in 1..=args.runs {
        let runs = args.runs;
        let label = format!(
            "run {n}/{runs} (a): {} healthy endpoints alone",
            args.endpoints
        );
        let a = measured(args, None, &label).await?;
        let label = format!("run {n}/{runs} (b): beside a hanging and a failing receiver");
        let b = measured(args, Some(bad), &label).await?;
        let c = report::compare(&a.metrics, &b.metrics);
        print_comparison(args, &format!("isolation, run {n}/{runs}"), &c);
        alone.push(a.metrics);
        beside.push(b.metrics);
        compared.push(c);
    }
    if args.runs > 1 {
        let runs = args.runs;
        for (phase, all) in [("(a) alone", &alone), ("(b) beside bad receivers", &beside)] {
            let median = Metrics::median(all);
            report::print_setup(args, &format!("median of {runs} runs, {phase}"));
            report::print_metrics(&median);
            report::print_row(args, &median);
        }
        let mut median = Metrics::median(&compared);
        let p99 = |m: &Metrics| m.get("e2e_p99_ms").unwrap_or(f64::NAN);
        median.push(
            "ratio_of_median_p99",
            p99(&Metrics::median(&beside)) / p99(&Metrics::median(&alone)),
            2,
        );
        print_comparison(args, &format!("isolation, median of {runs} runs"), &median);
    }
    Ok(())
}

/// Runs once (beside `bad`, if any) and prints the run's block; an error names `label`.
async fn measured(args: &Args, bad: Option<BadReceivers>, label: &str) -> anyhow::Result<Outcome> {
    let outcome = run::run_once(args, bad)
        .await
        .map_err(|e| e.context(format!("({label})")))?;
    report::print_setup(args, label);
    report::print_metrics(&outcome.metrics);
    for note in &outcome.notes {
        println!("note:                   {note}");
    }
    report::print_row(args, &outcome.metrics);
    Ok(outcome)
}

fn print_comparison(args: &Args, label: &str, c: &Metrics) {
    report::print_setup(args, label);
    report::print_metrics(c);
    report::print_comparison_row(args, c);
}
