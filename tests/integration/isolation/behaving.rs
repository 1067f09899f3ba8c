//! A loopback receiver whose behaviour per path can be changed while a test runs (answer a
//! status after a delay, or hang), recording when each request arrived, when it was
//! answered, and how many were open at once.

use crate::helpers::{DEADLINE, eventually};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio_util::sync::{CancellationToken, DropGuard};

/// What a path does with a request.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Answer `status` after `after`.
    Answer {
        /// HTTP status.
        status: u16,
        /// Delay before answering.
        after: Duration,
    },
    /// Keep the request open this long (longer than the sender waits), then answer 200.
    Hang(Duration),
}

impl Behaviour {
    /// Answer `status` at once.
    pub fn status(status: u16) -> Self {
        Self::Answer {
            status,
            after: Duration::ZERO,
        }
    }
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Request path.
    pub path: String,
    /// Its `webhook-id` header.
    pub msg_id: String,
    /// When it arrived.
    pub at: Instant,
    /// When the answer was handed back; `None` while open or if the sender gave up.
    pub answered: Option<Instant>,
    /// The status answered.
    pub status: Option<u16>,
}

#[derive(Default)]
struct Inner {
    behaviour: HashMap<String, Behaviour>,
    hits: Vec<Hit>,
    open: HashMap<String, usize>,
    most_open: HashMap<String, usize>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().expect("receiver lock")
}

/// The receiver; stops when dropped. Paths without a behaviour answer 200 at once.
pub struct Behaving {
    addr: SocketAddr,
    shared: Shared,
    _stop: DropGuard,
}

impl Behaving {
    /// Listens on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let shared = Shared::default();
        let router = axum::Router::new()
            .fallback(handle)
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

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// From now on, `path` does `behaviour`.
    pub fn set(&self, path: &str, behaviour: Behaviour) {
        lock(&self.shared)
            .behaviour
            .insert(path.to_owned(), behaviour);
    }

    /// Requests to `path` so far, in arrival order.
    pub fn hits(&self, path: &str) -> Vec<Hit> {
        lock(&self.shared)
            .hits
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    /// Requests to every path so far, in arrival order.
    pub fn all_hits(&self) -> Vec<Hit> {
        lock(&self.shared).hits.clone()
    }

    /// How many requests `path` got.
    pub fn count(&self, path: &str) -> usize {
        lock(&self.shared)
            .hits
            .iter()
            .filter(|h| h.path == path)
            .count()
    }

    /// Distinct `webhook-id`s `path` got.
    pub fn ids(&self, path: &str) -> BTreeSet<String> {
        self.hits(path).into_iter().map(|h| h.msg_id).collect()
    }

    /// Waits until `path` got at least `n` requests, failing the test after [`DEADLINE`].
    pub async fn wait_for_hits(&self, path: &str, n: usize) {
        eventually(&format!("{n} requests to {path}"), DEADLINE, || async {
            (self.count(path) >= n).then_some(())
        })
        .await;
    }

    /// The most requests `path` had open at the same time.
    pub fn most_open(&self, path: &str) -> usize {
        lock(&self.shared).most_open.get(path).copied().unwrap_or(0)
    }
}

/// Counts a request as open until it is answered or the sender hangs up (the handler's
/// future is dropped with the connection).
struct Open {
    shared: Shared,
    path: String,
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(n) = lock(&self.shared).open.get_mut(&self.path) {
            *n = n.saturating_sub(1);
        }
    }
}

async fn handle(State(shared): State<Shared>, uri: Uri, headers: HeaderMap) -> StatusCode {
    let path = uri.path().to_owned();
    let msg_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (index, behaviour) = {
        let mut inner = lock(&shared);
        let behaviour = inner
            .behaviour
            .get(&path)
            .copied()
            .unwrap_or(Behaviour::status(200));
        inner.hits.push(Hit {
            path: path.clone(),
            msg_id,
            at: Instant::now(),
            answered: None,
            status: None,
        });
        let open = inner.open.entry(path.clone()).or_default();
        *open += 1;
        let now_open = *open;
        let most = inner.most_open.entry(path.clone()).or_default();
        *most = (*most).max(now_open);
        (inner.hits.len() - 1, behaviour)
    };
    let _open = Open {
        shared: shared.clone(),
        path,
    };
    let status = match behaviour {
        Behaviour::Answer { status, after } => {
            tokio::time::sleep(after).await;
            status
        }
        Behaviour::Hang(d) => {
            tokio::time::sleep(d).await;
            200
        }
    };
    let mut inner = lock(&shared);
    inner.hits[index].answered = Some(Instant::now());
    inner.hits[index].status = Some(status);
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
