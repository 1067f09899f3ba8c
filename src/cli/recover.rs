//! `hookline recover ENDPOINT --since 2h`: re-send an endpoint's failed deliveries of a
//! time window (`POST …/endpoint/{id}/recover`) and follow them out.
//!
//! Progress is read from the endpoint's `backlog` (its pending deliveries): the recovery
//! is done when the backlog is back to what it was before, so deliveries of new messages
//! arriving meanwhile can make it look slower than it is.

use super::client::Client;
use super::locate::{self, Kind};
use super::table;
use super::{CliError, Connection, print, print_json, view};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

/// How often the backlog is read while waiting.
const POLL: Duration = Duration::from_millis(500);

/// Arguments of `hookline recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The endpoint: its id (`ep_…`) or uid.
    endpoint: String,
    /// Re-send failed deliveries of messages created since then: a duration ago (`2h`,
    /// `30m`, `1d`) or an RFC 3339 time (`2024-05-01T12:00:00Z`).
    #[arg(long, value_parser = parse_time)]
    since: DateTime<Utc>,
    /// …and created before then (same forms as `--since`).
    #[arg(long, value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// The application holding the endpoint (id or uid). Without it, every application is
    /// searched for the endpoint; giving it saves that search.
    #[arg(long)]
    app: Option<String>,
    /// Return once the deliveries are re-queued instead of following them out.
    #[arg(long)]
    no_wait: bool,
    /// How long to follow them out before giving up (they stay queued).
    #[arg(long, default_value = "5m", value_parser = super::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    conn: Connection,
}

#[derive(Debug, Deserialize)]
struct RecoverView {
    queued: Option<u64>,
}

/// Re-queues the failed deliveries and, unless `--no-wait`, follows them until none is
/// pending. With `--json` prints `{"recover": {…RecoverOut}, "pending": n, "failed": n}`:
/// `pending`, the re-queued deliveries not sent yet when it returns (`null` when not
/// waited for), and `failed`, the endpoint's deliveries of messages in the window that
/// are failed then (`null` unless it waited for deliveries to go out).
///
/// # Errors
/// [`CliError`] when the endpoint is not found or a request fails, and
/// [`CliError::Unfinished`] when deliveries are still pending after `--timeout`.
pub async fn run(args: RecoverArgs) -> Result<(), CliError> {
    let client = args.conn.client()?;
    let found = locate::find(&client, Kind::Endpoint, &args.endpoint, args.app.as_deref()).await?;
    let app = found.app.as_str();
    let ep_id = found.object["id"]
        .as_str()
        .unwrap_or(&args.endpoint)
        .to_owned();
    let ep = Endpoint {
        client: &client,
        app,
        id: &ep_id,
    };
    let since = args.since.trunc_subsecs(3);
    let until = args.until.map(|u| u.trunc_subsecs(3));
    let baseline = ep.backlog().await?;
    let mut body = json!({ "since": rfc3339(since) });
    if let Some(until) = until {
        body["until"] = json!(rfc3339(until));
    }
    let recovered = client
        .post(&["app", app, "endpoint", &ep_id, "recover"], &body)
        .await?;
    let queued = view::<RecoverView>(&recovered, "recover result")?.queued;
    let window = window(since, until);
    let report = |pending: Option<u64>, failed: Option<usize>| {
        let mut out = json!({ "recover": recovered });
        out["pending"] = json!(pending);
        out["failed"] = json!(failed);
        out
    };
    let requeued = |n: u64| format!("Re-queued {} to {ep_id} ({window})", deliveries(n));
    let Some(queued) = queued.filter(|&n| n > 0 && !args.no_wait) else {
        if args.conn.json {
            let nothing_to_wait_for = queued == Some(0) && !args.no_wait;
            return print_json(&report(nothing_to_wait_for.then_some(0), None));
        }
        return print(&match queued {
            Some(0) => format!("Nothing to recover: no failed deliveries to {ep_id} ({window}).\n"),
            Some(n) => format!("{}; not waiting for them.\n", requeued(n)),
            None => format!("Re-queued the failed deliveries to {ep_id} ({window}).\n"),
        });
    };
    if !args.conn.json {
        print(&format!("{}.\n", requeued(queued)))?;
    }
    let pending = ep.follow(baseline, queued, args.timeout).await?;
    let failed = ep.failed_in(since, until).await?;
    if args.conn.json {
        print_json(&report(Some(pending), Some(failed)))?;
    } else if pending == 0 {
        print(&format!(
            "All {queued} sent. Still failed at {ep_id} ({window}): {failed}.\n"
        ))?;
    }
    if pending > 0 {
        return Err(CliError::Unfinished(format!(
            "{pending} of {queued} re-queued deliveries still pending after {}; they stay \
             queued (is the endpoint's breaker open? see `hookline endpoints`)",
            humantime::format_duration(args.timeout)
        )));
    }
    Ok(())
}

/// The window in words: `messages since 2024-05-01 12:00:00 UTC`.
fn window(since: DateTime<Utc>, until: Option<DateTime<Utc>>) -> String {
    match until {
        Some(u) => format!(
            "messages from {} to {} UTC",
            table::time(since),
            table::time(u)
        ),
        None => format!("messages since {} UTC", table::time(since)),
    }
}

/// `1 failed delivery`, `3 failed deliveries`.
fn deliveries(n: u64) -> String {
    format!(
        "{n} failed {}",
        if n == 1 { "delivery" } else { "deliveries" }
    )
}

/// The endpoint being recovered.
struct Endpoint<'a> {
    client: &'a Client,
    app: &'a str,
    id: &'a str,
}

impl Endpoint<'_> {
    /// Its pending deliveries, from its health report.
    async fn backlog(&self) -> Result<i64, CliError> {
        let health = self
            .client
            .get(&["app", self.app, "endpoint", self.id, "health"], &[])
            .await?;
        health["backlog"]
            .as_i64()
            .ok_or_else(|| CliError::Unexpected {
                url: "the API".to_owned(),
                reason: "an endpoint health report without `backlog`".to_owned(),
            })
    }

    /// Polls the backlog until it is back to `baseline` or `timeout` passes, showing
    /// progress on stderr; returns how many of the `queued` deliveries are still pending.
    async fn follow(&self, baseline: i64, queued: u64, timeout: Duration) -> Result<u64, CliError> {
        let mut progress = Progress::new(queued);
        let start = Instant::now();
        loop {
            let above = self.backlog().await?.saturating_sub(baseline);
            let pending = u64::try_from(above).unwrap_or(0).min(queued);
            progress.show(queued - pending);
            if pending == 0 || start.elapsed() >= timeout {
                progress.finish();
                return Ok(pending);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// How many of its deliveries of messages created in `[since, until)` are failed.
    async fn failed_in(
        &self,
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Result<usize, CliError> {
        // `after` is exclusive and times are kept to the millisecond.
        let after = rfc3339(since - chrono::Duration::milliseconds(1));
        let before = until.map(rfc3339);
        let mut query = vec![
            ("status", "2"),
            ("with_content", "false"),
            ("after", &after),
        ];
        if let Some(before) = &before {
            query.push(("before", before));
        }
        let failed: Vec<Value> = self
            .client
            .list_all(&["app", self.app, "endpoint", self.id, "msg"], &query)
            .await?;
        Ok(failed.len())
    }
}

/// Progress on stderr: a bar on a terminal, otherwise a plain line whenever the count
/// changes.
enum Progress {
    Bar(ProgressBar),
    Lines { total: u64, shown: Option<u64> },
}

impl Progress {
    fn new(total: u64) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self::Lines { total, shown: None };
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} sent ({elapsed})")
        {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Self::Bar(bar)
    }

    fn show(&mut self, done: u64) {
        match self {
            Self::Bar(bar) => bar.set_position(done),
            Self::Lines { total, shown } => {
                if *shown != Some(done) {
                    *shown = Some(done);
                    let _ = writeln!(std::io::stderr(), "recover: {done}/{total} sent");
                }
            }
        }
    }

    fn finish(self) {
        if let Self::Bar(bar) = self {
            // Not `finish`, which would fill the bar whatever was sent.
            bar.abandon();
        }
    }
}

/// A time as the API takes it.
fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `--since`/`--until`: a duration ago or an RFC 3339 time.
fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    parse_time_at(raw, Utc::now())
}

fn parse_time_at(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(ago) = humantime::parse_duration(raw) {
        return chrono::Duration::from_std(ago)
            .ok()
            .and_then(|ago| now.checked_sub_signed(ago))
            .ok_or_else(|| format!("{raw} ago is too long ago"));
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            "expected a duration ago like 2h, 30m or 1d, or an RFC 3339 time like \
             2024-05-01T12:00:00Z"
                .to_owned()
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn times_are_a_duration_ago_or_rfc_3339() {
        let now = DateTime::parse_from_rfc3339("2024-05-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |raw| parse_time_at(raw, now).map(rfc3339);
        assert_eq!(at("2h").unwrap(), "2024-05-02T10:00:00.000Z");
        assert_eq!(at("30m").unwrap(), "2024-05-02T11:30:00.000Z");
        assert_eq!(at("1d").unwrap(), "2024-05-01T12:00:00.000Z");
        assert_eq!(
            at("2024-05-01T14:00:00+02:00").unwrap(),
            "2024-05-01T12:00:00.000Z"
        );
        assert!(at("yesterday").unwrap_err().contains("RFC 3339"));
        assert!(at("2024-05-01").is_err());
    }
}
