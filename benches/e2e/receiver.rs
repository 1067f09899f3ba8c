//! The webhook receiver: a bare hyper HTTP/1.1 server on loopback in the bench process that
//! answers 200 (after `--receiver-delay-ms`) and counts receipts per (`webhook-id`,
//! endpoint path). It shares the machine with what it measures, so it does no more per
//! request than that: no router, no extractors, a fast hash for the receipts.
//! For the isolation scenario some paths misbehave instead ([`Behavior`]): they only count
//! requests, and stay out of the receipts, samples and duplicates of the healthy ones.
//!
//! The payload carries `sentNs`, the nanoseconds from the bench's base instant to when the
//! load generator started the POST, so creation-to-receipt latency needs no clock sync.
//! A payload without it (the backlog scenario's seeded messages) is counted, not measured.
//! Work under the lock is one hash-map update and one push.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;
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
    pub pairs: FxHashMap<(Box<str>, u16), u32>,
    /// First receipts of measured (not warm-up) messages.
    pub samples: Vec<Sample>,
    /// Receipts of a pair already received.
    pub duplicates: u64,
    /// Requests without a `webhook-id` or a readable payload.
    pub malformed: u64,
    /// Requests to each misbehaving path, by endpoint number.
    pub bad_requests: FxHashMap<u16, u64>,
    /// Distinct (message id, endpoint number) pairs among them.
    pub bad_pairs: FxHashSet<(Box<str>, u16)>,
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
        let server = tokio::spawn(accept(listener, receiver.clone()));
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

/// Serves each accepted connection on its own task until the receiver stops.
async fn accept(listener: tokio::net::TcpListener, rx: Arc<Receiver>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait for some to be closed.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let rx = rx.clone();
        tokio::spawn(async move {
            let stopping = rx.stopping.clone();
            let service = service_fn(move |request| {
                let rx = rx.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(&rx, request).await) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                () = stopping.cancelled() => {}
            }
        });
    }
}

/// Answers `POST /hook/{n}`; anything else is a 404.
async fn respond(rx: &Receiver, request: Request<Incoming>) -> Response<Empty<Bytes>> {
    let endpoint = (request.method() == Method::POST)
        .then(|| request.uri().path().strip_prefix("/hook/"))
        .flatten()
        .and_then(|n| n.parse::<u16>().ok());
    let status = match endpoint {
        Some(endpoint) => receive(rx, endpoint, request).await,
        None => StatusCode::NOT_FOUND,
    };
    let mut response = Response::new(Empty::new());
    *response.status_mut() = status;
    response
}

async fn receive(rx: &Receiver, endpoint: u16, request: Request<Incoming>) -> StatusCode {
    let now = Instant::now();
    let (parts, body) = request.into_parts();
    let id = parts
        .headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok());
    // Read whole on every path, so that each connection stays open for the next request.
    let body = body.collect().await.map(|b| b.to_bytes());
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
    let payload = body
        .ok()
        .and_then(|body| serde_json::from_slice::<Payload>(&body).ok());
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
