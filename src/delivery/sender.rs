//! One signed POST per attempt over a single pooled HTTP client, to addresses the address
//! policy allows (see [`crate::net`]).

use super::retry::{Verdict, parse_retry_after};
use crate::config::{Config, HeaderStyle};
use crate::domain::{EndpointUrl, ip_host};
use crate::net::{self, POLICY_HINT, PolicyResolver, Refused};
use crate::signing;
use crate::store::{ClaimedDelivery, ErrorClass};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use std::collections::HashMap;
use std::error::Error as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longest stored response body; the rest is not read.
pub const RESPONSE_BODY_LIMIT: usize = 64 * 1024;

/// What happened when a delivery was sent.
#[derive(Debug, Clone)]
pub struct SendResult {
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// HTTP status, if the receiver answered.
    pub status: Option<u16>,
    /// The (capped) response body, or a description of the failure.
    pub body: String,
    /// From the start of the request to the last byte read.
    pub duration: Duration,
    /// Why it failed, if it did.
    pub error_class: Option<ErrorClass>,
    /// What it means for scheduling.
    pub verdict: Verdict,
}

/// Sends deliveries. Cheap to clone: the connection pool is shared.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    names: [HeaderName; 3],
    user_agent: HeaderValue,
    allowed: Arc<[IpNet]>,
    targets: Arc<Targets>,
}

/// Most endpoint URLs kept parsed; the cache starts over when it is full.
const TARGETS_CAP: usize = 4096;

/// Endpoint URLs parsed for sending, by their text. A claim hands over many deliveries to
/// few endpoints, and parsing the URL for every request (for the address check, then again
/// inside reqwest) was about 7% of a worker's CPU with ten endpoints under load.
#[derive(Default)]
struct Targets(Mutex<HashMap<String, Arc<Target>>>);

/// A parsed endpoint URL, and its host if that is an IP address.
struct Target {
    url: reqwest::Url,
    ip: Option<IpAddr>,
}

impl Targets {
    /// `url` parsed; `None` if it does not parse (reqwest then reports why).
    fn get(&self, url: &EndpointUrl) -> Option<Arc<Target>> {
        let mut parsed = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(target) = parsed.get(url.as_str()) {
            return Some(target.clone());
        }
        let target_url = reqwest::Url::parse(url.as_str()).ok()?;
        let target = Arc::new(Target {
            ip: ip_host(&target_url),
            url: target_url,
        });
        if parsed.len() >= TARGETS_CAP {
            parsed.clear();
        }
        parsed.insert(url.as_str().to_owned(), target.clone());
        Some(target)
    }
}

impl Sender {
    /// One client for the process: keep-alive pool, the configured timeout, no redirects,
    /// no proxy picked up from the environment, and a resolver that only returns addresses
    /// the policy allows (`HOOKLINE_ALLOWED_SUBNETS` opens ranges).
    ///
    /// # Errors
    /// If the TLS backend cannot be initialised.
    pub fn new(config: &Config) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver::new(&config.allowed_subnets)))
            // Many endpoints can share a host (one receiver service, one path per
            // customer), so a host may have as many requests in flight as the worker: keep
            // that many connections, or the rest are closed after each request and dialled
            // again for the next.
            .pool_max_idle_per_host(config.worker_concurrency.max(8))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()?;
        let names = match config.signature_headers {
            HeaderStyle::Webhook => ["webhook-id", "webhook-timestamp", "webhook-signature"],
            HeaderStyle::Svix => ["svix-id", "svix-timestamp", "svix-signature"],
        }
        .map(HeaderName::from_static);
        let user_agent = HeaderValue::from_static(concat!("Hookline/", env!("CARGO_PKG_VERSION")));
        Ok(Self {
            client,
            names,
            user_agent,
            allowed: config.allowed_subnets.as_slice().into(),
            targets: Arc::default(),
        })
    }

    /// Signs and POSTs `delivery`, reading at most [`RESPONSE_BODY_LIMIT`] of the answer.
    /// A destination the address policy refuses is a failed (retryable) attempt with
    /// [`ErrorClass::BlockedAddress`], and nothing is sent.
    pub async fn send(&self, delivery: &ClaimedDelivery) -> SendResult {
        let started_at = Utc::now();
        let clock = Instant::now();
        let Some(payload) = &delivery.payload else {
            return SendResult {
                started_at,
                status: None,
                body: "message content was expunged before it could be sent".into(),
                duration: Duration::ZERO,
                error_class: Some(ErrorClass::Other),
                verdict: Verdict::Fatal,
            };
        };
        let target = self.targets.get(&delivery.url);
        // IP-literal hosts never reach the resolver, so they are checked here.
        if let Some(ip) = target.as_ref().and_then(|t| t.ip) {
            if let Err(blocked) = net::check(ip, &self.allowed) {
                return SendResult {
                    started_at,
                    status: None,
                    body: refusal_body(&Refused::Literal(blocked)),
                    duration: clock.elapsed(),
                    error_class: Some(ErrorClass::BlockedAddress),
                    verdict: Verdict::Retry { retry_after: None },
                };
            }
        }
        let timestamp = started_at.timestamp();
        let request = match &target {
            Some(target) => self.client.post(target.url.clone()),
            None => self.client.post(delivery.url.as_str()),
        };
        let request = request
            .headers(self.headers(delivery, payload, timestamp))
            // Shares the bytes: no copy per attempt.
            .body(payload.clone());
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, started_at));
                let body = read_capped(response).await;
                let verdict = match status {
                    200..=299 => Verdict::Delivered,
                    410 => Verdict::Fatal,
                    429 | 503 => Verdict::Retry { retry_after },
                    _ => Verdict::Retry { retry_after: None },
                };
                SendResult {
                    started_at,
                    status: Some(status),
                    body,
                    duration: clock.elapsed(),
                    error_class: (!(200..=299).contains(&status)).then_some(ErrorClass::HttpStatus),
                    verdict,
                }
            }
            Err(e) => SendResult {
                started_at,
                status: None,
                body: describe(&e),
                duration: clock.elapsed(),
                error_class: Some(classify(&e)),
                verdict: Verdict::Retry { retry_after: None },
            },
        }
    }

    fn headers(&self, delivery: &ClaimedDelivery, payload: &[u8], timestamp: i64) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(delivery.headers.len() + 5);
        for (name, value) in &delivery.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        let msg_id = delivery.msg_id.as_str();
        let signature = signing::signature_header(&delivery.secrets, msg_id, timestamp, payload);
        let [id, ts, sig] = &self.names;
        for (name, value) in [
            (id, msg_id.to_owned()),
            (ts, timestamp.to_string()),
            (sig, signature),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name.clone(), value);
            }
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, self.user_agent.clone());
        headers
    }
}

async fn read_capped(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < RESPONSE_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = RESPONSE_BODY_LIMIT - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

fn chain_mentions(e: &reqwest::Error, needles: &[&str]) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        let text = err.to_string().to_ascii_lowercase();
        if needles.iter().any(|n| text.contains(n)) {
            return true;
        }
        source = err.source();
    }
    false
}

/// The address policy's refusal somewhere in the error's causes (from the resolver).
fn refusal(e: &reqwest::Error) -> Option<&Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return Some(refused);
        }
        source = err.source();
    }
    None
}

/// What an attempt refused by the policy records as its response.
fn refusal_body(refused: &Refused) -> String {
    format!("not sent: {refused}; {POLICY_HINT}")
}

fn classify(e: &reqwest::Error) -> ErrorClass {
    if refusal(e).is_some() {
        ErrorClass::BlockedAddress
    } else if e.is_timeout() {
        ErrorClass::Timeout
    } else if chain_mentions(e, &["dns error", "failed to lookup address"]) {
        ErrorClass::Dns
    } else if chain_mentions(e, &["certificate", "tls", "handshake"]) {
        ErrorClass::Tls
    } else if e.is_connect() {
        ErrorClass::Connect
    } else {
        ErrorClass::Other
    }
}

/// The error and its causes on one line, without the URL (already on the attempt); a
/// refusal by the address policy as just that.
fn describe(e: &reqwest::Error) -> String {
    if let Some(refused) = refusal(e) {
        return refusal_body(refused);
    }
    let mut parts = vec![match e.url() {
        Some(url) => e.to_string().replace(&format!(" ({url})"), ""),
        None => e.to_string(),
    }];
    let mut source = e.source();
    while let Some(err) = source {
        parts.push(err.to_string());
        source = err.source();
    }
    parts.dedup();
    parts.join(": ")
}
