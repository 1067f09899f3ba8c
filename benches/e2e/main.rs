//! End-to-end load bench: the real `hookline` release binary as child processes on a fresh
//! store, a fast receiver on loopback in this process, and a load generator posting
//! messages for a fixed time.
//!
//! ```text
//! cargo bench --bench e2e -- [--store sqlite|postgres] [--workers N] [--seconds S]
//!     [--clients C] [--endpoints E] [--receiver-delay-ms D] [--runs R]
//!     [--drain-seconds T] [--postgres-url URL]
//! ```
//!
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

mod api;
mod args;
mod database;
mod fleet;
mod load;
mod receiver;
mod report;
mod run;
mod verify;

use std::process::ExitCode;

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
    let mut all = Vec::new();
    for n in 1..=args.runs {
        let label = format!("run {n}/{}", args.runs);
        match run::run_once(&args).await {
            Ok(outcome) => {
                report::print_setup(&args, &label);
                report::print_metrics(&outcome.metrics);
                for note in &outcome.notes {
                    println!("note:                   {note}");
                }
                report::print_row(&args, &outcome.metrics);
                all.push(outcome.metrics);
            }
            Err(e) => {
                eprintln!("FAIL ({label}): {e:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    if all.len() > 1 {
        let median = report::Metrics::median(&all);
        report::print_setup(&args, &format!("median of {} runs", all.len()));
        report::print_metrics(&median);
        report::print_row(&args, &median);
    }
    ExitCode::SUCCESS
}
