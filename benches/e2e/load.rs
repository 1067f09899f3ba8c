//! The load generator: `clients` tasks, each posting one message at a time over its own
//! keep-alive connection until the deadline. The first message that is not accepted with
//! 202 stops the whole run.

use crate::api::Api;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// What the load phase produced.
pub struct Load {
    /// Ids of every accepted message.
    pub msg_ids: Vec<String>,
    /// Start-of-POST to 202 for each of them.
    pub api_latencies: Vec<Duration>,
    /// From the first POST to the last 202.
    pub elapsed: Duration,
    /// When the last client finished.
    pub ended: Instant,
}

/// A message body whose payload records when its POST started (see the receiver).
pub fn message_body(base: Instant, warmup: bool) -> String {
    let sent_ns = base.elapsed().as_nanos();
    format!(r#"{{"eventType":"bench.event","payload":{{"sentNs":{sent_ns},"warmup":{warmup}}}}}"#)
}

/// Posts `clients` messages at once, one per connection, so every connection is open
/// before the measured load; returns their ids.
///
/// # Errors
/// The first message that was not accepted.
pub async fn warm_up(
    api: &Api,
    app: &str,
    clients: usize,
    base: Instant,
) -> anyhow::Result<Vec<String>> {
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (api, app) = (api.clone(), app.to_owned());
        tasks.spawn(async move { api.post_message(&app, message_body(base, true)).await });
    }
    let mut ids = Vec::with_capacity(clients);
    while let Some(result) = tasks.join_next().await {
        ids.push(result??);
    }
    Ok(ids)
}

/// Runs the load for `duration`.
///
/// # Errors
/// The first message that was not accepted (status and body), or a panicked client.
pub async fn run(
    api: &Api,
    app: &str,
    clients: usize,
    duration: Duration,
    base: Instant,
) -> anyhow::Result<Load> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (api, app) = (api.clone(), app.to_owned());
        tasks.spawn(async move {
            let mut ids = Vec::new();
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                ids.push(api.post_message(&app, message_body(base, false)).await?);
                latencies.push(sent.elapsed());
            }
            anyhow::Ok((ids, latencies))
        });
    }
    let mut load = Load {
        msg_ids: Vec::new(),
        api_latencies: Vec::new(),
        elapsed: Duration::ZERO,
        ended: started,
    };
    // Returning early drops `tasks`, which aborts the other clients.
    while let Some(result) = tasks.join_next().await {
        let (ids, latencies) = result??;
        load.msg_ids.extend(ids);
        load.api_latencies.extend(latencies);
    }
    load.ended = Instant::now();
    load.elapsed = load.ended - started;
    Ok(load)
}
