//! `hookline endpoints APP`: every endpoint of an application with its health, from
//! `GET …/endpoint` (all pages) and `GET …/endpoint/{id}/health`.

use super::table::{self, Table};
use super::{CliError, Connection, print, print_json, view};
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{Value, json};

/// How many health reports are fetched at once.
const CONCURRENCY: usize = 8;

/// Arguments of `hookline endpoints`.
#[derive(Debug, Args)]
pub struct EndpointsArgs {
    /// The application: its id (`app_…`) or uid.
    app: String,
    #[command(flatten)]
    conn: Connection,
}

#[derive(Debug, Deserialize)]
struct EndpointView {
    id: String,
    url: String,
    disabled: bool,
    health: HealthView,
}

#[derive(Debug, Deserialize)]
struct HealthView {
    breaker: BreakerView,
    backlog: i64,
    recent: RecentView,
}

#[derive(Debug, Deserialize)]
struct BreakerView {
    state: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecentView {
    success_rate: Option<f64>,
    latency_p50_ms: Option<i64>,
    latency_p99_ms: Option<i64>,
}

/// Prints the endpoints: with `--json` as `{"endpoints": [{…EndpointOut, "health":
/// {…}}]}`, else one table row each.
///
/// # Errors
/// [`CliError`] when a request fails, e.g. a 404 for an unknown application.
pub async fn run(args: EndpointsArgs) -> Result<(), CliError> {
    let client = args.conn.client()?;
    let app = args.app.as_str();
    let listed = client.list_all(&["app", app, "endpoint"], &[]).await?;
    let client = &client;
    let endpoints: Vec<Value> = futures::stream::iter(listed)
        .map(|mut endpoint| async move {
            let id = endpoint["id"]
                .as_str()
                .ok_or_else(|| CliError::Unexpected {
                    url: "the API".to_owned(),
                    reason: "an endpoint without an `id`".to_owned(),
                })?
                .to_owned();
            let health = client
                .get(&["app", app, "endpoint", &id, "health"], &[])
                .await?;
            endpoint["health"] = health;
            Ok::<_, CliError>(endpoint)
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    if args.conn.json {
        return print_json(&json!({ "endpoints": endpoints }));
    }
    let views = endpoints
        .iter()
        .map(|e| view::<EndpointView>(e, "endpoint with health"))
        .collect::<Result<Vec<_>, _>>()?;
    print(&render(&views))
}

fn render(endpoints: &[EndpointView]) -> String {
    if endpoints.is_empty() {
        return "No endpoints.\n".to_owned();
    }
    let mut t = Table::new(&[
        "ID", "URL", "DISABLED", "BREAKER", "SUCCESS", "P50", "P99", "BACKLOG",
    ]);
    for e in endpoints {
        let h = &e.health;
        t.row(vec![
            e.id.clone(),
            table::cell(&e.url, 60),
            table::yes_no(e.disabled),
            h.breaker.state.clone(),
            table::percent(h.recent.success_rate),
            table::millis(h.recent.latency_p50_ms),
            table::millis(h.recent.latency_p99_ms),
            h.backlog.to_string(),
        ]);
    }
    t.render()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_row_shows_url_breaker_rate_latency_and_backlog() {
        let e = json!({
            "id": "ep_1", "url": "https://a.example/hook", "disabled": false,
            "health": {"breaker": {"state": "open"}, "backlog": 7,
                       "recent": {"successRate": 0.25, "latencyP50Ms": 12,
                                  "latencyP99Ms": 2500}}
        });
        let text = render(&[view(&e, "endpoint").unwrap()]);
        let row = text.lines().nth(1).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "ep_1",
                "https://a.example/hook",
                "no",
                "open",
                "25.0%",
                "12ms",
                "2.5s",
                "7"
            ]
        );
    }
}
