//! A real HTTP receiver on loopback: records every request and answers from a script per
//! path; plus signature checks with the official Svix library.

use crate::helpers::DEADLINE;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::{CancellationToken, DropGuard};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// HTTP method.
    pub method: Method,
    /// Path without the query.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// Body bytes exactly as received.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
    /// The status the receiver answered with.
    pub answered: u16,
}

impl Received {
    /// A header as text; fails the test if it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("header {name} missing; got {:?}", self.headers))
            .to_str()
            .expect("header is text")
    }
}

/// Answers for one path: these statuses in order, then `then` for ever.
#[derive(Debug, Clone)]
struct Script {
    first: VecDeque<u16>,
    then: u16,
}

#[derive(Default)]
struct ReceiverState {
    requests: Vec<Received>,
    /// Requests per path so far, so numbering a reply stays cheap with many thousands.
    counts: HashMap<String, usize>,
    scripts: HashMap<String, Script>,
    /// `Location` of 3xx answers per path, where not `/redirected`.
    locations: HashMap<String, String>,
    /// Every answer waits a uniformly random time in this range, so requests are in flight.
    delay: Option<(Duration, Duration)>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<ReceiverState>,
    /// Requests that arrived and have not been answered yet.
    in_flight: AtomicUsize,
    /// Requests whose client hung up before the answer was ready.
    abandoned: AtomicUsize,
}

/// Counts a request as in flight until it is answered or its client hangs up (the handler
/// is then dropped before `answered` is set).
struct InFlight {
    shared: Arc<Shared>,
    answered: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.answered {
            self.shared.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// An HTTP server on loopback that records every request when it arrives and answers from a
/// script per path (200 where nothing is scripted), optionally after a delay. The response
/// body is `reply <status> #<n>`, `n` counting requests to that path from 1; a 3xx answer
/// carries `Location: /redirected` unless [`Receiver::redirect`] named another.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: DropGuard,
}

impl Receiver {
    /// Starts a receiver on `127.0.0.1:0` that answers at once.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let shared = Arc::new(Shared::default());
        let router = axum::Router::new()
            .fallback(record)
            .with_state(shared.clone());
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(token.cancelled_owned())
                .await;
        });
        Self {
            addr,
            shared,
            _stop: stop.drop_guard(),
        }
    }

    /// Starts a receiver that answers every request after a random delay in `min..=max`.
    pub async fn start_with_delay(min: Duration, max: Duration) -> Self {
        let rx = Self::start().await;
        rx.lock().delay = Some((min, max));
        rx
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReceiverState> {
        self.shared.state.lock().expect("receiver lock")
    }

    /// Absolute URL of a path on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answer `first` in order, then `then` for every later request to `path`.
    pub fn script(&self, path: &str, first: &[u16], then: u16) {
        let mut state = self.lock();
        state.scripts.insert(
            path.to_owned(),
            Script {
                first: first.iter().copied().collect(),
                then,
            },
        );
    }

    /// Answer `status` to every request to `path`.
    pub fn always(&self, path: &str, status: u16) {
        self.script(path, &[], status);
    }

    /// Answer every request to `path` with a 302 to `location`.
    pub fn redirect(&self, path: &str, location: &str) {
        self.always(path, 302);
        self.lock()
            .locations
            .insert(path.to_owned(), location.to_owned());
    }

    /// Every request to `path` so far, in arrival order.
    pub fn requests(&self, path: &str) -> Vec<Received> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Every request so far, in arrival order.
    pub fn all_requests(&self) -> Vec<Received> {
        self.lock().requests.clone()
    }

    /// How many requests `path` got.
    pub fn count(&self, path: &str) -> usize {
        self.lock().counts.get(path).copied().unwrap_or(0)
    }

    /// How many requests arrived, on every path.
    pub fn total(&self) -> usize {
        self.lock().requests.len()
    }

    /// How many requests arrived and are not answered yet.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// How many requests were dropped unanswered because their client hung up.
    pub fn abandoned(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// How many requests each `(webhook-id, path)` got, without copying the requests.
    pub fn per_message_and_path(&self) -> HashMap<(String, String), usize> {
        let state = self.lock();
        let mut counts = HashMap::new();
        for r in &state.requests {
            let id = r.header("webhook-id").to_owned();
            *counts.entry((id, r.path.clone())).or_default() += 1;
        }
        counts
    }

    /// Waits until `path` got at least `n` requests and returns them.
    pub async fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.requests(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "receiver {path} got {} of {n} requests within {DEADLINE:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.in_flight.fetch_add(1, Ordering::SeqCst);
    let mut answering = InFlight {
        shared: shared.clone(),
        answered: false,
    };
    let (status, n, delay, location) = {
        let mut state = shared.state.lock().expect("receiver lock");
        let path = uri.path().to_owned();
        let status = match state.scripts.get_mut(&path) {
            Some(script) => script.first.pop_front().unwrap_or(script.then),
            None => 200,
        };
        let n = state.counts.entry(path.clone()).or_default();
        *n += 1;
        let n = *n;
        state.requests.push(Received {
            method,
            path,
            query: uri.query().map(str::to_owned),
            headers,
            body,
            at: Instant::now(),
            answered: status,
        });
        let delay = state
            .delay
            .map(|(min, max)| rand::thread_rng().gen_range(min..=max));
        let location = state.locations.get(uri.path()).cloned();
        (status, n, delay, location)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    answering.answered = true;
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (code, format!("reply {status} #{n}")).into_response();
    if code.is_redirection() {
        let location = location.unwrap_or_else(|| "/redirected".to_owned());
        response.headers_mut().insert(
            "location",
            HeaderValue::from_str(&location).expect("a location is a header value"),
        );
    }
    response
}

/// Verifies `headers`/`body` against `secret` with the official Svix library.
pub fn svix_verify(secret: &str, body: &[u8], headers: &HeaderMap) -> Result<(), String> {
    svix::webhooks::Webhook::new(secret)
        .map_err(|e| format!("bad secret {secret}: {e}"))?
        .verify(body, headers)
        .map_err(|e| e.to_string())
}

/// A copy of `headers` whose `webhook-signature` is only `signature`.
pub fn with_signature(headers: &HeaderMap, signature: &str) -> HeaderMap {
    let mut h = headers.clone();
    h.insert(
        "webhook-signature",
        HeaderValue::from_str(signature).expect("signature is a header value"),
    );
    h
}
