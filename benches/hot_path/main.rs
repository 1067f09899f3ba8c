//! Criterion micro-benches of the delivery hot path, one group per step, each called
//! through the crate's public API:
//!
//! - `signing`: the Standard Webhooks signature of a 1 KiB and a 64 KiB body;
//! - `payload`: a `MessageIn` body parsed (`parse_json`, then validated into the message to
//!   store) and the `MessageOut` answer serialised, for a flat and a deeply structured
//!   payload of the same size, against parsing the same payload into a `serde_json::Value`;
//! - `fanout`: `Store::create_message` to an application with 1 and with 100 endpoints;
//! - `claim`: `Store::claim` of a batch of 100 due deliveries spread over 10 endpoints,
//!   with 100, 1,000 and 100,000 of them due, and with 100 due beside 100,000 finished ones;
//! - `record_outcomes`: `Store::record_outcomes` of 100 claimed deliveries (90 delivered,
//!   10 to retry).
//!
//! ```text
//! cargo bench --bench hot_path                  # everything
//! cargo bench --bench hot_path -- claim         # one group (a criterion filter)
//! cargo bench --bench hot_path -- 'claim/postgres'
//! ```
//!
//! The store groups run on SQLite (a file in a temporary directory, WAL, as `hookline
//! serve` opens it) and on Postgres: a fresh database `hookline_bench_hot_path_<pid>_<ulid>`
//! on `HOOKLINE_BENCH_PG_URL` (default `postgres://postgres@127.0.0.1:5432`) per case,
//! dropped `WITH (FORCE)` when the case ends; databases a killed run left behind are dropped
//! by the next run. If the server cannot be reached, the Postgres cases are skipped with a
//! note on stderr. Set-up (stores, endpoints, backlogs, the claims before
//! `record_outcomes`) is never timed: each case times only its store call (`iter_custom`).

mod cpu;
mod fixtures;
mod queue;

use criterion::Criterion;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    cpu::signing(&mut c);
    cpu::payload(&mut c);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime");
    let pg = rt.block_on(fixtures::PgServer::probe());
    let kinds = fixtures::kinds(pg.as_ref());
    queue::fanout(&mut c, &rt, &kinds);
    queue::claim(&mut c, &rt, &kinds);
    queue::record_outcomes(&mut c, &rt, &kinds);

    c.final_summary();
}
