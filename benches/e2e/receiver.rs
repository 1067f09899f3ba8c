//! The webhook receiver: an axum server on loopback in the bench process that answers 200
//! (after `--receiver-delay-ms`) and counts receipts per (`webhook-id`, endpoint path).
//! For the isolation scenario some paths misbehave instead ([`Behavior`]): they only count
//! requests, and stay out of the receipts, samples and duplicates of the healthy ones.
//!
//! The payload carries `sentNs`, the nanoseconds from the bench's base instant to when the
//! load generator started the POST, so creation-to-receipt latency needs no clock sync.
//! A payload without it (the backlog scenario's seeded messages) is counted, not measured.
//! Work under the lock is one hash-map update and one push.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How the receiver answers on one endpoint path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// 200 after `--receiver-delay-ms`; receipts are counted and measured.
    Healthy,
    /// Holds the request this long (or until the receiver stops), then answers 200.
    Hang(Duration),
    /// 500 at once.
    Fail,
}

/// The body the load generator posts, as the receiver reads it back.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    /// Absent in the backlog scenario's seeded messages: counted, but not measured.
    #[serde(default)]
    sent_ns: Option<u64>,
    #[serde(default)]
    warmup: bool,
}

/// The first receipt of one measured (message, endpoint) pair.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When it arrived.
    pub at: Instant,
    /// From the start of the message's POST to its arrival here.
    pub latency: Duration,
}

/// Everything received so far.
#[derive(Default)]
pub struct Tally {
    /// Receipts per (message id, endpoint number).
    pub pairs: HashMap<(Box<str>, u16), u32>,
    /// First receipts of measured (not warm-up) messages.
    pub samples: Vec<Sample>,
    /// Receipts of a pair already received.
    pub duplicates: u64,
    /// Requests without a `webhook-id` or a readable payload.
    pub malformed: u64,
    /// Requests to each misbehaving path, by endpoint number.
    pub bad_requests: HashMap<u16, u64>,
    /// Distinct (message id, endpoint number) pairs among them.
    pub bad_pairs: HashSet<(Box<str>, u16)>,
}

/// The receiver's shared state.
pub struct Receiver {
    base: Instant,
    delay: Duration,
    /// By endpoint number; paths beyond it are healthy.
    behaviors: Vec<Behavior>,
    tally: Mutex<Tally>,
    stopping: CancellationToken,
}

impl Receiver {
    /// Binds a loopback port and serves until the returned [`Serving`] is dropped. `base` is
    /// the instant `sentNs` counts from; `behaviors[n]` is how `/hook/{n}` answers (healthy
    /// beyond its end).
    ///
    /// # Errors
    /// If no port can be bound.
    pub async fn start(
        base: Instant,
        delay: Duration,
        behaviors: Vec<Behavior>,
    ) -> anyhow::Result<(Arc<Self>, SocketAddr, Serving)> {
        let stopping = CancellationToken::new();
        let receiver = Arc::new(Self {
            base,
            delay,
            behaviors,
            tally: Mutex::default(),
            stopping: stopping.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/hook/{n}", post(receive))
            .with_state(receiver.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        Ok((
            receiver,
            addr,
            Serving {
                server: server.abort_handle(),
                stopping,
            },
        ))
    }

    /// The tally, for reading. A poisoned lock still holds valid counts.
    pub fn tally(&self) -> MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Distinct healthy (message, endpoint) pairs received so far.
    pub fn distinct(&self) -> usize {
        self.tally().pairs.len()
    }
}

/// Keeps the receiver's server running; dropping it stops the server and releases the
/// requests a hanging path still holds.
pub struct Serving {
    server: tokio::task::AbortHandle,
    stopping: CancellationToken,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stopping.cancel();
        self.server.abort();
    }
}

async fn receive(
    State(rx): State<Arc<Receiver>>,
    Path(endpoint): Path<u16>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let now = Instant::now();
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok());
    let behavior = rx
        .behaviors
        .get(usize::from(endpoint))
        .copied()
        .unwrap_or(Behavior::Healthy);
    if behavior != Behavior::Healthy {
        {
            let mut tally = rx.tally();
            *tally.bad_requests.entry(endpoint).or_insert(0) += 1;
            if let Some(id) = id {
                tally.bad_pairs.insert((id.into(), endpoint));
            }
        }
        return match behavior {
            Behavior::Hang(hold) => {
                tokio::select! {
                    () = tokio::time::sleep(hold) => {}
                    () = rx.stopping.cancelled() => {}
                }
                StatusCode::OK
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
    }
    let payload = serde_json::from_slice::<Payload>(&body).ok();
    {
        let mut tally = rx.tally();
        match (id, payload) {
            (Some(id), Some(payload)) => {
                let count = tally.pairs.entry((id.into(), endpoint)).or_insert(0);
                *count += 1;
                if *count > 1 {
                    tally.duplicates += 1;
                } else if let Some(sent_ns) = payload.sent_ns.filter(|_| !payload.warmup) {
                    let sent = rx.base + Duration::from_nanos(sent_ns);
                    tally.samples.push(Sample {
                        at: now,
                        latency: now.saturating_duration_since(sent),
                    });
                }
            }
            _ => tally.malformed += 1,
        }
    }
    if !rx.delay.is_zero() {
        tokio::time::sleep(rx.delay).await;
    }
    StatusCode::OK
}
