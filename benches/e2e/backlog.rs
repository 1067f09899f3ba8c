//! The backlog scenario: one `hookline worker` draining a queue that already holds
//! `--backlog` due deliveries, sampled for its memory and for the cost of its claim queries
//! ("1,000,000 due deliveries in the queue: worker RSS < 150 MB and claim cost flat").
//!
//! A fresh Postgres database; an `api` process migrates it and creates one application and
//! `--endpoints` endpoints on the receiver through the API; the bench then seeds
//! `--backlog / --endpoints` messages × `--endpoints` deliveries, all due now, with plain SQL
//! on its own connection, and `ANALYZE`s. Then one worker starts (with
//! `HOOKLINE_METRICS_LISTEN`), and every `--sample-seconds` for `--seconds` the bench reads
//! its `VmRSS`/`VmHWM` and scrapes its `/metrics`.

use crate::api::{Api, TOKEN};
use crate::args::Args;
use crate::database::Database;
use crate::fleet::Fleet;
use crate::receiver::{Behavior, Receiver};
use crate::report::{self, Metrics};
use crate::run::{self, START_TIMEOUT, STOP_GRACE};
use anyhow::{Context, anyhow, bail};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use std::path::Path;
use std::time::{Duration, Instant};

/// The event type of the seeded messages.
const SEEDED_EVENT_TYPE: &str = "bulk.seeded";
/// A worker that has not delivered anything this long after starting fails the run.
const FIRST_DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// One scrape of the worker's `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
struct Scrape {
    claim_sum: f64,
    claim_count: f64,
    /// Deliveries leased by all claims so far.
    claimed: f64,
    due: f64,
}

/// The claims of one sampling interval.
#[derive(Debug, Clone, Copy)]
struct Interval {
    claims: f64,
    /// Deliveries the claims leased.
    leased: f64,
    /// Mean time of one claim query.
    mean_ms: f64,
    /// Claim time per leased delivery: claims grow as the worker finds more due at once,
    /// so this is the cost that says whether the backlog makes claiming dearer.
    us_per_delivery: f64,
}

impl Default for Interval {
    fn default() -> Self {
        Self {
            claims: 0.0,
            leased: 0.0,
            mean_ms: f64::NAN,
            us_per_delivery: f64::NAN,
        }
    }
}

impl Interval {
    fn between(before: &Scrape, after: &Scrape) -> Self {
        let claims = after.claim_count - before.claim_count;
        let leased = after.claimed - before.claimed;
        let seconds = after.claim_sum - before.claim_sum;
        let per = |n: f64, scale: f64| {
            if n > 0.0 {
                seconds / n * scale
            } else {
                f64::NAN
            }
        };
        Self {
            claims,
            leased,
            mean_ms: per(claims, 1e3),
            us_per_delivery: per(leased, 1e6),
        }
    }
}

/// Runs the scenario once on a fresh database, which is dropped afterwards whatever happens.
///
/// # Errors
/// A process that would not start or died, a failed seed, no delivery within 30 s, or Ctrl-C.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("hookline-e2e-").tempdir()?;
    let db = Database::create(args.store, dir.path(), &args.postgres_url).await?;
    let task = tokio::spawn(measure(
        args.clone(),
        db.url().to_owned(),
        dir.path().to_owned(),
    ));
    db.run_then_drop(task).await
}

async fn measure(args: Args, db_url: String, dir: std::path::PathBuf) -> anyhow::Result<()> {
    let mut fleet = Fleet::default();
    let result = measure_with(&args, &db_url, &dir, &mut fleet).await;
    result.map_err(|e| {
        anyhow!(
            "{e:#}\nlast lines of the process logs:\n{}",
            fleet.log_tails(15)
        )
    })
}

async fn measure_with(
    args: &Args,
    db_url: &str,
    dir: &Path,
    fleet: &mut Fleet,
) -> anyhow::Result<()> {
    let base = Instant::now();
    let behaviors = vec![Behavior::Healthy; args.endpoints];
    let (receiver, rx_addr, _serving) =
        Receiver::start(base, args.receiver_delay, behaviors).await?;
    let port = run::free_port()?;
    let env = run::process_env(db_url, port);

    // The API process runs the migrations and creates the endpoints; it delivers nothing.
    fleet.spawn("api", "api", dir, &env)?;
    let api = Api::new(port, 4)?;
    run::wait_healthy(&api, fleet).await?;
    let app = api.create_app().await?;
    for n in 0..args.endpoints {
        let url = format!("http://{rx_addr}/hook/{n}");
        api.create_endpoint(&app, &url, None).await?;
    }

    let seed_start = Instant::now();
    let seeded = seed(db_url, &app, args.backlog, args.endpoints).await?;
    let seed_seconds = seed_start.elapsed().as_secs_f64();
    println!("seeded:                 {seeded} due deliveries in {seed_seconds:.1} s");

    let metrics_port = run::free_port()?;
    let mut worker_env = env.clone();
    worker_env.push((
        "HOOKLINE_METRICS_LISTEN".to_owned(),
        format!("127.0.0.1:{metrics_port}"),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let start = Instant::now();
    fleet.spawn("worker", "worker", dir, &worker_env)?;
    // The first scrape that answers is the baseline; it also shows the worker is up.
    let mut last = loop {
        fleet.check_alive()?;
        if let Ok(s) = scrape(&client, &metrics_url).await {
            break s;
        }
        anyhow::ensure!(
            start.elapsed() < START_TIMEOUT,
            "the worker's /metrics did not answer within {START_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    println!(
        "{:>9} {:>10} {:>10} {:>8} {:>14} {:>7} {:>16}",
        "elapsed_s", "due", "delivered", "rss_mib", "claim_mean_ms", "claims", "claim_us_per_dlv"
    );
    let mut intervals: Vec<Interval> = Vec::new();
    let total = Duration::from_secs(args.seconds);
    let mut next = start;
    let (delivered, last_at) = loop {
        next += args.sample_every;
        let end = start + total;
        tokio::time::sleep_until(next.min(end).into()).await;
        fleet.check_alive()?;
        let now = Instant::now();
        let s = scrape(&client, &metrics_url).await?;
        let delivered = receiver.distinct();
        let (rss, _) = fleet
            .rss_kib("worker")
            .context("no VmRSS for the worker in /proc")?;
        let interval = Interval::between(&last, &s);
        intervals.push(interval);
        println!(
            "{:>9.1} {:>10.0} {:>10} {:>8.1} {:>14.3} {:>7.0} {:>16.1}",
            now.duration_since(start).as_secs_f64(),
            s.due,
            delivered,
            rss as f64 / 1024.0,
            interval.mean_ms,
            interval.claims,
            interval.us_per_delivery
        );
        if delivered == 0 && now.duration_since(start) >= FIRST_DELIVERY_TIMEOUT {
            bail!(
                "no delivery arrived within {FIRST_DELIVERY_TIMEOUT:?} of the worker starting \
                 ({seeded} due)"
            );
        }
        last = s;
        if now >= end {
            break (delivered, now);
        }
    };
    let elapsed = last_at.duration_since(start).as_secs_f64();
    if delivered == 0 {
        bail!("no delivery arrived in the {elapsed:.0} s the worker ran ({seeded} due)");
    }
    let (_, hwm) = fleet
        .rss_kib("worker")
        .context("no VmHWM for the worker in /proc")?;
    let mut notes = Vec::new();
    for (name, problem) in fleet.stop(STOP_GRACE).await {
        notes.push(format!("{name} did not shut down cleanly: {problem}"));
    }
    let logs = fleet.log_summaries();
    let (duplicates, malformed) = {
        let tally = receiver.tally();
        (tally.duplicates, tally.malformed)
    };

    // The first and last intervals in which the worker leased anything.
    let leasing = |i: &&Interval| i.leased > 0.0;
    let first = intervals.iter().find(leasing).copied().unwrap_or_default();
    let latest = intervals.iter().rfind(leasing).copied().unwrap_or_default();
    let (first_ms, last_ms) = (first.mean_ms, latest.mean_ms);
    let (first_us, last_us) = (first.us_per_delivery, latest.us_per_delivery);

    let mut m = Metrics::default();
    m.push("seeded_deliveries", seeded as f64, 0);
    m.push("seed_s", seed_seconds, 1);
    m.push("delivered", delivered as f64, 0);
    m.push("deliveries_per_s", delivered as f64 / elapsed.max(1e-9), 0);
    m.push("due_at_end", last.due, 0);
    m.push("peak_rss_mib_worker", hwm as f64 / 1024.0, 1);
    m.push("claims", last.claim_count, 0);
    m.push("claim_mean_ms_first", first_ms, 3);
    m.push("claim_mean_ms_last", last_ms, 3);
    m.push("claim_last_over_first", last_ms / first_ms, 2);
    m.push("claim_us_per_dlv_first", first_us, 1);
    m.push("claim_us_per_dlv_last", last_us, 1);
    m.push("claim_per_dlv_ratio", last_us / first_us, 2);
    m.push("duplicates", duplicates as f64, 0);
    m.push("malformed", malformed as f64, 0);
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

    println!("--- hookline e2e bench: backlog");
    println!("scenario:               {}", args.scenario.name());
    println!("store:                  {}", args.store.name());
    println!("workers:                1 (one `hookline worker`; `hookline api` for setup)");
    println!("endpoints:              {}", args.endpoints);
    println!("backlog:                {}", args.backlog);
    println!(
        "receiver_delay_ms:      {}",
        args.receiver_delay.as_millis()
    );
    println!("seconds:                {}", args.seconds);
    println!(
        "sample_seconds:         {}",
        args.sample_every.as_secs_f64()
    );
    report::print_metrics(&m);
    for note in &notes {
        println!("note:                   {note}");
    }
    // store | endpoints | seeded | deliveries/s | peak RSS MiB | claim ms first / last |
    // claim µs per delivery first / last | ratio of the latter
    let v = |k: &str| m.get(k).unwrap_or(f64::NAN);
    println!(
        "row: | {} | {} | {} | {:.0} | {:.1} | {:.3} / {:.3} | {:.1} / {:.1} | {:.2} |",
        args.store.name(),
        args.endpoints,
        seeded,
        v("deliveries_per_s"),
        v("peak_rss_mib_worker"),
        first_ms,
        last_ms,
        first_us,
        last_us,
        v("claim_per_dlv_ratio"),
    );
    Ok(())
}

/// Seeds `backlog / endpoints` messages of the application `app`, each with a due delivery
/// to every endpoint, and analyzes the tables; returns the deliveries inserted.
async fn seed(db_url: &str, app: &str, backlog: usize, endpoints: usize) -> anyhow::Result<u64> {
    let mut conn = PgConnection::connect(db_url)
        .await
        .with_context(|| format!("connecting to {db_url}"))?;
    let per_endpoint = i64::try_from(backlog / endpoints)?;
    sqlx::query(
        "INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at) \
         SELECT 'msg_bl' || lpad(g::text, 20, '0'), $1, $2, '{\"n\":' || g || '}', now(), \
                now() + interval '30 days' \
         FROM generate_series(1, $3) g",
    )
    .bind(app)
    .bind(SEEDED_EVENT_TYPE)
    .bind(per_endpoint)
    .execute(&mut conn)
    .await
    .context("seeding messages")?;
    let deliveries = sqlx::query(
        "INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, attempts, trigger_type, \
                                 due_at, created_at, updated_at) \
         SELECT m.app_id, m.id, e.id, 1, 0, 0, now(), now(), now() \
         FROM messages m CROSS JOIN endpoints e \
         WHERE m.event_type = $1 AND e.app_id = $2",
    )
    .bind(SEEDED_EVENT_TYPE)
    .bind(app)
    .execute(&mut conn)
    .await
    .context("seeding deliveries")?
    .rows_affected();
    sqlx::query("ANALYZE")
        .execute(&mut conn)
        .await
        .context("ANALYZE")?;
    let _ = conn.close().await;
    Ok(deliveries)
}

/// Scrapes the worker's `/metrics` for the claim-duration histogram's sum and count, the
/// claim-batch histogram's sum and the fleet-wide due-delivery gauge.
async fn scrape(client: &reqwest::Client, url: &str) -> anyhow::Result<Scrape> {
    let r = client
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = r.status();
    if !status.is_success() {
        bail!("GET {url}: {status}");
    }
    let text = r.text().await?;
    let mut s = Scrape::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        match name {
            "hookline_claim_duration_seconds_sum" => s.claim_sum += value,
            "hookline_claim_duration_seconds_count" => s.claim_count += value,
            "hookline_claim_batch_size_sum" => s.claimed += value,
            "hookline_queue_deliveries" if series.contains("state=\"due\"") => s.due += value,
            _ => {}
        }
    }
    Ok(s)
}
