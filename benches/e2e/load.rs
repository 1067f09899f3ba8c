//! The load generator: `clients` tasks, each posting one message at a time over its own
//! keep-alive connection until the deadline, either as fast as messages are accepted or, with
//! `--rate`, on a fixed schedule (a client that falls behind it posts at once). The first
//! message that is not accepted with 202 stops the whole run.

use crate::api::Api;
use std::sync::Arc;
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

/// The event type of the measured load and the warm-up.
pub const EVENT_TYPE: &str = "bench.event";
/// The event type of the isolation scenario's flood, which only the bad endpoints take.
pub const FLOOD_EVENT_TYPE: &str = "bench.flood";

/// A message body whose payload records when its POST started (see the receiver), with
/// `pad` (see [`pad`]) appended to the payload's fields.
pub fn message_body(base: Instant, warmup: bool, pad: &str) -> String {
    typed_body(EVENT_TYPE, base, warmup, pad)
}

fn typed_body(event_type: &str, base: Instant, warmup: bool, pad: &str) -> String {
    let sent_ns = base.elapsed().as_nanos();
    format!(
        r#"{{"eventType":"{event_type}","payload":{{"sentNs":{sent_ns},"warmup":{warmup}{pad}}}}}"#
    )
}

/// The fields that make a payload about `bytes` long (none below the unpadded size): an
/// `items` array of invoice lines with pseudo-random ids and numbers under the same keys,
/// so it compresses about as well as a real event does (LZ4: to about a third), and
/// Postgres stores one of more than about 2 KB compressed, as it would a real one.
pub fn pad(bytes: usize) -> Arc<str> {
    const UNPADDED: usize = r#"{"sentNs":1000000000000,"warmup":false}"#.len();
    const WRAPPER: usize = r#","items":[]"#.len();
    let Some(room) = bytes.checked_sub(UNPADDED + WRAPPER) else {
        return "".into();
    };
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut items = String::new();
    while items.len() < room {
        if !items.is_empty() {
            items.push(',');
        }
        let (id, amount, quantity) = (next(), next() % 100_000, next() % 20 + 1);
        items.push_str(&format!(
            r#"{{"id":"li_{id:016x}","object":"line_item","amount":{amount},"currency":"usd","quantity":{quantity}}}"#
        ));
    }
    format!(r#","items":[{items}]"#).into()
}

/// Posts `count` messages of [`FLOOD_EVENT_TYPE`] over `clients` connections as fast as they
/// are accepted; returns how many were accepted (all, or an error).
///
/// # Errors
/// The first message that was not accepted, or a panicked client.
pub async fn flood(
    api: &Api,
    app: &str,
    count: usize,
    clients: usize,
    base: Instant,
    pad: &Arc<str>,
) -> anyhow::Result<usize> {
    let clients = clients.clamp(1, count.max(1));
    let mut tasks = JoinSet::new();
    for c in 0..clients {
        // Client c posts messages c, c + clients, c + 2·clients, …
        let share = count / clients + usize::from(c < count % clients);
        let (api, app, pad) = (api.clone(), app.to_owned(), pad.clone());
        tasks.spawn(async move {
            for _ in 0..share {
                api.post_message(&app, typed_body(FLOOD_EVENT_TYPE, base, true, &pad))
                    .await?;
            }
            anyhow::Ok(share)
        });
    }
    let mut posted = 0;
    while let Some(result) = tasks.join_next().await {
        posted += result??;
    }
    Ok(posted)
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
    pad: &Arc<str>,
) -> anyhow::Result<Vec<String>> {
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (api, app, pad) = (api.clone(), app.to_owned(), pad.clone());
        tasks.spawn(async move { api.post_message(&app, message_body(base, true, &pad)).await });
    }
    let mut ids = Vec::with_capacity(clients);
    while let Some(result) = tasks.join_next().await {
        ids.push(result??);
    }
    Ok(ids)
}

/// Runs the load for `duration`: `rate` messages per second in all (0: unpaced).
///
/// # Errors
/// The first message that was not accepted (status and body), or a panicked client.
pub async fn run(
    api: &Api,
    app: &str,
    clients: usize,
    rate: u32,
    duration: Duration,
    base: Instant,
    pad: &Arc<str>,
) -> anyhow::Result<Load> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for c in 0..clients {
        let (api, app, pad) = (api.clone(), app.to_owned(), pad.clone());
        tasks.spawn(async move {
            let mut ids = Vec::new();
            let mut latencies = Vec::new();
            for k in 0u64.. {
                if rate > 0 {
                    // Message k of client c is message k·clients + c of the whole schedule.
                    let slot = (k * clients as u64 + c as u64) as f64 / f64::from(rate);
                    let due = started + Duration::from_secs_f64(slot);
                    if due >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                }
                if Instant::now() >= deadline {
                    break;
                }
                let sent = Instant::now();
                ids.push(
                    api.post_message(&app, message_body(base, false, &pad))
                        .await?,
                );
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
