//! `hookline status`: the whole server at a glance, from `GET /api/v1/status`.

use super::table::{self, Table};
use super::{CliError, Connection, print, print_json, view};
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Deserialize;
use std::fmt::Write as _;
use std::time::Duration;

/// Arguments of `hookline status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    conn: Connection,
}

/// The parts of the status report the table shows.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusView {
    queue: QueueView,
    last_minute: LastMinuteView,
    open_breakers: Vec<BreakerView>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueueView {
    due: i64,
    delayed: i64,
    sending: i64,
    failed: i64,
    oldest_due_seconds: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct LastMinuteView {
    delivered: i64,
    failed: i64,
    /// The time the counts cover; a minute from servers that do not say.
    #[serde(default = "a_minute")]
    seconds: f64,
}

fn a_minute() -> f64 {
    60.0
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BreakerView {
    app_id: String,
    endpoint_id: String,
    url: String,
    state: String,
    since: DateTime<Utc>,
    next_probe_at: Option<DateTime<Utc>>,
}

/// Prints the status report: as returned with `--json`, else a summary and a table of
/// the open breakers.
///
/// # Errors
/// [`CliError`] when the request fails.
pub async fn run(args: StatusArgs) -> Result<(), CliError> {
    let report = args.conn.client()?.get(&["status"], &[]).await?;
    if args.conn.json {
        return print_json(&report);
    }
    print(&render(&view(&report, "status report")?))
}

fn render(s: &StatusView) -> String {
    let q = &s.queue;
    let mut out = format!(
        "Queue:         {} due, {} delayed, {} sending, {} failed",
        q.due, q.delayed, q.sending, q.failed
    );
    if let Some(secs) = q.oldest_due_seconds {
        let waited = Duration::from_secs(secs.max(0.0).round() as u64);
        let _ = write!(
            out,
            "; oldest due for {}",
            humantime::format_duration(waited)
        );
    }
    let m = &s.last_minute;
    let _ = writeln!(
        out,
        "\nLast minute:   {} delivered ({:.1}/s), {} failed",
        m.delivered,
        m.delivered as f64 / m.seconds.max(1.0),
        m.failed
    );
    if s.open_breakers.is_empty() {
        out.push_str("Open breakers: none\n");
        return out;
    }
    let _ = writeln!(out, "Open breakers: {}\n", s.open_breakers.len());
    let mut t = Table::new(&[
        "APP",
        "ENDPOINT",
        "URL",
        "STATE",
        "SINCE (UTC)",
        "NEXT PROBE (UTC)",
    ]);
    for b in &s.open_breakers {
        t.row(vec![
            b.app_id.clone(),
            b.endpoint_id.clone(),
            table::cell(&b.url, 60),
            b.state.clone(),
            table::time(b.since),
            table::maybe_time(b.next_probe_at),
        ]);
    }
    out.push_str(&t.render());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_summary_shows_depth_rate_and_breakers() {
        let report = json!({
            "queue": {"due": 12, "delayed": 3, "sending": 1, "failed": 40,
                      "oldestDueSeconds": 200.4},
            "lastMinute": {"delivered": 1200, "failed": 3, "seconds": 50.0},
            "throughput": [],
            "openBreakers": [{"appId": "app_1", "endpointId": "ep_1", "url": "https://x/y",
                              "state": "open", "since": "2024-05-01T12:00:00Z",
                              "nextProbeAt": null}]
        });
        let text = render(&view(&report, "status").unwrap());
        assert!(
            text.contains("12 due, 3 delayed, 1 sending, 40 failed"),
            "{text}"
        );
        assert!(text.contains("oldest due for 3m 20s"), "{text}");
        assert!(text.contains("1200 delivered (24.0/s), 3 failed"), "{text}");
        assert!(text.contains("Open breakers: 1"), "{text}");
        assert!(
            text.contains("ep_1") && text.contains("2024-05-01 12:00:00"),
            "{text}"
        );
    }
}
