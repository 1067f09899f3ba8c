//! `hookline attempts MSG` and `hookline resend MSG ENDPOINT`: what happened to a message
//! at each endpoint, and sending it to one of them again.

use super::locate::{self, Found, Kind};
use super::table::{self, Table};
use super::{CliError, Connection, client::Client, print, print_json, view};
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How often `resend` looks for the new attempt.
const POLL: Duration = Duration::from_millis(250);
/// The most characters of a response body a table cell shows.
const RESPONSE_WIDTH: usize = 40;

/// Arguments of `hookline attempts`.
#[derive(Debug, Args)]
pub struct AttemptsArgs {
    /// The message: its id (`msg_…`) or `eventId`.
    msg: String,
    /// The application holding the message (id or uid). Without it, every application is
    /// searched for the message; giving it saves that search.
    #[arg(long)]
    app: Option<String>,
    #[command(flatten)]
    conn: Connection,
}

/// Arguments of `hookline resend`.
#[derive(Debug, Args)]
pub struct ResendArgs {
    /// The message: its id (`msg_…`) or `eventId`.
    msg: String,
    /// The endpoint to send it to: its id (`ep_…`) or uid.
    endpoint: String,
    /// The application holding the message (id or uid). Without it, every application is
    /// searched for the message; giving it saves that search.
    #[arg(long)]
    app: Option<String>,
    /// Return once the resend is queued instead of waiting for its attempt.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for the attempt (`30s`, `2m`).
    #[arg(long, default_value = "30s", value_parser = super::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    conn: Connection,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptView {
    timestamp: DateTime<Utc>,
    endpoint_id: String,
    status_text: String,
    response_status_code: i64,
    error_class: Option<String>,
    response_duration_ms: i64,
    trigger_type: i64,
    response: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageView {
    id: String,
    event_type: String,
    timestamp: DateTime<Utc>,
}

/// Prints every attempt of the message, newest first: with `--json` as
/// `{"message": {…MessageOut without payload}, "attempts": [{…MessageAttemptOut}]}`.
///
/// # Errors
/// [`CliError`] when the message is not found or a request fails.
pub async fn run(args: AttemptsArgs) -> Result<(), CliError> {
    let client = args.conn.client()?;
    let found = locate::find(&client, Kind::Message, &args.msg, args.app.as_deref()).await?;
    let message: MessageView = view(&found.object, "message")?;
    let attempts = client
        .list_all(&["app", &found.app, "attempt", "msg", &message.id], &[])
        .await?;
    if args.conn.json {
        return print_json(&json!({ "message": found.object, "attempts": attempts }));
    }
    let mut out = format!(
        "Message {} ({}), created {} UTC: {} attempt{}\n",
        message.id,
        message.event_type,
        table::time(message.timestamp),
        attempts.len(),
        if attempts.len() == 1 { "" } else { "s" }
    );
    if !attempts.is_empty() {
        out.push('\n');
        out.push_str(&render(&attempts)?);
    }
    print(&out)
}

/// Queues the message for the endpoint again and, unless `--no-wait`, prints the attempt
/// that follows: with `--json` as `{"attempt": {…MessageAttemptOut} | null}`.
///
/// # Errors
/// [`CliError`] when the message or endpoint is not found, a request fails, or no attempt
/// was made within `--timeout`.
pub async fn resend(args: ResendArgs) -> Result<(), CliError> {
    let client = args.conn.client()?;
    let Found { app, object } =
        locate::find(&client, Kind::Message, &args.msg, args.app.as_deref()).await?;
    let msg: MessageView = view(&object, "message")?;
    let attempts_path = ["app", &app, "attempt", "msg", &msg.id];
    let by_endpoint = [("endpoint_id", args.endpoint.as_str())];
    let before: HashSet<String> = client
        .list_all(&attempts_path, &by_endpoint)
        .await?
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect();
    client
        .post(
            &[
                "app",
                &app,
                "msg",
                &msg.id,
                "endpoint",
                &args.endpoint,
                "resend",
            ],
            &json!({}),
        )
        .await?;
    if args.no_wait {
        if args.conn.json {
            return print_json(&json!({ "attempt": null }));
        }
        return print(&format!(
            "Resend of {} to {} queued.\n",
            msg.id, args.endpoint
        ));
    }
    let attempt =
        wait_for_new_attempt(&client, &attempts_path, &by_endpoint, &before, args.timeout)
            .await?
            .ok_or_else(|| {
                CliError::Unfinished(format!(
                    "the resend of {} to {} is queued, but no attempt was made within {} \
                 (is the endpoint disabled or its breaker open? see `hookline endpoints`)",
                    msg.id,
                    args.endpoint,
                    humantime::format_duration(args.timeout)
                ))
            })?;
    if args.conn.json {
        return print_json(&json!({ "attempt": attempt }));
    }
    print(&format!(
        "Resent {} to {}:\n\n{}",
        msg.id,
        args.endpoint,
        render(std::slice::from_ref(&attempt))?
    ))
}

/// Polls the first page of attempts until one appears that is not in `before`, and
/// returns the earliest such; `None` after `timeout`.
async fn wait_for_new_attempt(
    client: &Client,
    path: &[&str],
    query: &[(&str, &str)],
    before: &HashSet<String>,
    timeout: Duration,
) -> Result<Option<Value>, CliError> {
    let start = Instant::now();
    loop {
        let page = client.get(path, query).await?;
        let newest_first = page["data"].as_array().cloned().unwrap_or_default();
        let earliest_new = newest_first
            .into_iter()
            .rev()
            .find(|a| a["id"].as_str().is_some_and(|id| !before.contains(id)));
        if earliest_new.is_some() {
            return Ok(earliest_new);
        }
        if start.elapsed() >= timeout {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The attempts as a table, in the order given.
fn render(attempts: &[Value]) -> Result<String, CliError> {
    let mut t = Table::new(&[
        "TIME (UTC)",
        "ENDPOINT",
        "STATUS",
        "CODE",
        "ERROR",
        "DURATION",
        "TRIGGER",
        "RESPONSE",
    ]);
    for a in attempts {
        let a: AttemptView = view(a, "attempt")?;
        t.row(vec![
            table::time(a.timestamp),
            a.endpoint_id,
            a.status_text,
            match a.response_status_code {
                0 => "-".to_owned(),
                code => code.to_string(),
            },
            a.error_class.unwrap_or_else(|| "-".to_owned()),
            table::millis(Some(a.response_duration_ms)),
            if a.trigger_type == 1 {
                "manual"
            } else {
                "scheduled"
            }
            .to_owned(),
            table::cell(&a.response, RESPONSE_WIDTH),
        ]);
    }
    Ok(t.render())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_row_shows_code_error_trigger_and_a_cut_response() {
        let long = "x".repeat(100);
        let attempts = [
            json!({"timestamp": "2024-05-01T12:00:03.120Z", "endpointId": "ep_1",
                   "statusText": "fail", "responseStatusCode": 0, "errorClass": "timeout",
                   "responseDurationMs": 15000, "triggerType": 0, "response": ""}),
            json!({"timestamp": "2024-05-01T12:01:00Z", "endpointId": "ep_2",
                   "statusText": "success", "responseStatusCode": 200, "errorClass": null,
                   "responseDurationMs": 12, "triggerType": 1, "response": long}),
        ];
        let text = render(&attempts).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows[0],
            [
                "2024-05-01",
                "12:00:03",
                "ep_1",
                "fail",
                "-",
                "timeout",
                "15.0s",
                "scheduled"
            ]
        );
        assert_eq!(
            &rows[1][2..8],
            ["ep_2", "success", "200", "-", "12ms", "manual"]
        );
        assert_eq!(rows[1][8].chars().count(), RESPONSE_WIDTH);
        assert!(rows[1][8].ends_with('…'));
    }
}
