//! One signed POST per attempt over a single pooled HTTP client, to addresses the address
//! policy allows (see [`crate::net`]).
//!
//! The client is hyper's pooled client with rustls, driven directly: a general-purpose
//! client's redirect and retry layers (which a webhook sender turns off anyway) parsed each
//! request's URL again and copied its headers, about a tenth of a worker's CPU under load.

use super::retry::{Verdict, parse_retry_after};
use crate::config::{Config, HeaderStyle};
use crate::domain::{EndpointUrl, ip_host};
use crate::net::{self, Blocked, POLICY_HINT, PolicyResolver, Refused};
use crate::signing;
use crate::store::{ClaimedDelivery, ErrorClass};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{
    ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT,
};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use ipnet::IpNet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::time::timeout_at;

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
    client: Client<HttpsConnector<HttpConnector<PolicyResolver>>, Full<Bytes>>,
    timeout: Duration,
    names: [HeaderName; 3],
    user_agent: HeaderValue,
    targets: Arc<Targets>,
}

/// Most endpoint URLs kept parsed; the cache starts over when it is full.
const TARGETS_CAP: usize = 4096;

/// Endpoint URLs parsed for sending, by their text. A claim hands over many deliveries to
/// few endpoints, and parsing the URL for every request (for the address check, then for
/// the request line) was about 7% of a worker's CPU with ten endpoints under load.
struct Targets {
    parsed: Mutex<HashMap<String, Arc<Target>>>,
    /// Ranges the address policy opens (`HOOKLINE_ALLOWED_SUBNETS`).
    allowed: Arc<[IpNet]>,
}

/// A parsed endpoint URL: the request's URI, and if its host is an IP address the policy
/// refuses, why. (Such hosts never reach the resolver, which checks every other address.)
struct Target {
    uri: Uri,
    blocked: Option<Blocked>,
}

impl Targets {
    fn new(allowed: &[IpNet]) -> Self {
        Self {
            parsed: Mutex::default(),
            allowed: allowed.into(),
        }
    }

    /// `url` parsed, or why it cannot be sent to. The URI is made from the URL as the URL
    /// standard normalises it (host in punycode, spaces percent-encoded).
    fn get(&self, url: &EndpointUrl) -> Result<Arc<Target>, Failure> {
        let mut parsed = self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(target) = parsed.get(url.as_str()) {
            return Ok(target.clone());
        }
        let bad = |e: &dyn std::fmt::Display| Failure::BadUrl(e.to_string());
        let url_parsed = url::Url::parse(url.as_str()).map_err(|e| bad(&e))?;
        if !matches!(url_parsed.scheme(), "http" | "https") {
            return Err(Failure::BadUrl(format!(
                "the scheme {} is not http or https",
                url_parsed.scheme()
            )));
        }
        let target = Arc::new(Target {
            uri: Uri::try_from(url_parsed.as_str()).map_err(|e| bad(&e))?,
            blocked: ip_host(&url_parsed).and_then(|ip| net::check(ip, &self.allowed).err()),
        });
        if parsed.len() >= TARGETS_CAP {
            parsed.clear();
        }
        parsed.insert(url.as_str().to_owned(), target.clone());
        Ok(target)
    }
}

/// Why a request got no answer.
#[derive(Debug)]
enum Failure {
    /// The URL's host is an address the policy refuses; nothing was sent.
    Blocked(Refused),
    /// No response head within the request timeout.
    Timeout(Duration),
    /// The URL cannot be put on the wire.
    BadUrl(String),
    /// Resolving, connecting, the TLS handshake or the exchange failed.
    Request(hyper_util::client::legacy::Error),
}

impl Sender {
    /// One client for the process: keep-alive pool, the configured timeout, no redirects,
    /// no proxy, and a resolver that only returns addresses the policy allows
    /// (`HOOKLINE_ALLOWED_SUBNETS` opens ranges). HTTPS trusts the Mozilla root store and
    /// offers HTTP/2 and HTTP/1.1; plain HTTP is HTTP/1.1.
    ///
    /// # Errors
    /// If the TLS backend cannot be initialised.
    pub fn new(config: &Config) -> Result<Self, rustls::Error> {
        let mut http =
            HttpConnector::new_with_resolver(PolicyResolver::new(&config.allowed_subnets));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.request_timeout.min(Duration::from_secs(10))));
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            // Many endpoints can share a host (one receiver service, one path per
            // customer), so a host may have as many requests in flight as the worker: keep
            // that many connections, or the rest are closed after each request and dialled
            // again for the next.
            .pool_max_idle_per_host(config.worker_concurrency.max(8))
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        let names = match config.signature_headers {
            HeaderStyle::Webhook => ["webhook-id", "webhook-timestamp", "webhook-signature"],
            HeaderStyle::Svix => ["svix-id", "svix-timestamp", "svix-signature"],
        }
        .map(HeaderName::from_static);
        let user_agent = HeaderValue::from_static(concat!("Hookline/", env!("CARGO_PKG_VERSION")));
        Ok(Self {
            client,
            timeout: config.request_timeout,
            names,
            user_agent,
            targets: Arc::new(Targets::new(&config.allowed_subnets)),
        })
    }

    /// Signs and POSTs `delivery`, reading at most [`RESPONSE_BODY_LIMIT`] of the answer,
    /// all within the request timeout. A destination the address policy refuses is a failed
    /// (retryable) attempt with [`ErrorClass::BlockedAddress`], and nothing is sent.
    pub async fn send(&self, delivery: &ClaimedDelivery) -> SendResult {
        let started_at = Utc::now();
        let clock = Instant::now();
        let deadline = tokio::time::Instant::from_std(clock + self.timeout);
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
        match self.exchange(delivery, payload, started_at, deadline).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, started_at));
                let body = read_capped(response.into_body(), deadline).await;
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
            Err(failure) => SendResult {
                started_at,
                status: None,
                body: describe(&failure),
                duration: clock.elapsed(),
                error_class: Some(classify(&failure)),
                verdict: Verdict::Retry { retry_after: None },
            },
        }
    }

    /// Sends the request and returns the response head, by `deadline`.
    async fn exchange(
        &self,
        delivery: &ClaimedDelivery,
        payload: &Bytes,
        started_at: DateTime<Utc>,
        deadline: tokio::time::Instant,
    ) -> Result<hyper::Response<Incoming>, Failure> {
        let target = self.targets.get(&delivery.url)?;
        if let Some(blocked) = target.blocked {
            return Err(Failure::Blocked(Refused::Literal(blocked)));
        }
        let mut request = Request::new(Full::new(payload.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = target.uri.clone();
        *request.headers_mut() = self.headers(delivery, payload, started_at.timestamp());
        match timeout_at(deadline, self.client.request(request)).await {
            Ok(answer) => answer.map_err(Failure::Request),
            Err(_) => Err(Failure::Timeout(self.timeout)),
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
        // Each value is made once: the signature's string becomes the header's bytes as
        // it is, and the timestamp is written straight into its header.
        if let Ok(value) = HeaderValue::from_str(msg_id) {
            headers.insert(id.clone(), value);
        }
        headers.insert(ts.clone(), HeaderValue::from(timestamp));
        if let Ok(value) = HeaderValue::try_from(signature) {
            headers.insert(sig.clone(), value);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        headers.insert(USER_AGENT, self.user_agent.clone());
        headers
    }
}

/// The first [`RESPONSE_BODY_LIMIT`] bytes of `body`, or what arrived of them by
/// `deadline` or before the connection failed.
async fn read_capped(mut body: Incoming, deadline: tokio::time::Instant) -> String {
    let mut read = Vec::new();
    while read.len() < RESPONSE_BODY_LIMIT {
        match timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(chunk) = frame.into_data() {
                    let room = RESPONSE_BODY_LIMIT - read.len();
                    read.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
            }
            Ok(None | Some(Err(_))) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&read).into_owned()
}

/// `e` and its causes, outermost first.
fn chain(
    e: &hyper_util::client::legacy::Error,
) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    let first: &(dyn std::error::Error + 'static) = e;
    std::iter::successors(Some(first), |&err| err.source())
}

fn chain_mentions(e: &hyper_util::client::legacy::Error, needles: &[&str]) -> bool {
    chain(e).any(|err| {
        let text = err.to_string().to_ascii_lowercase();
        needles.iter().any(|n| text.contains(n))
    })
}

/// A TLS error somewhere in the causes: rustls's own (carried inside I/O errors, whose
/// `source` skips what they carry), or one that says what it is.
fn tls_failed(e: &hyper_util::client::legacy::Error) -> bool {
    fn is_rustls(err: &(dyn std::error::Error + 'static)) -> bool {
        err.is::<rustls::Error>()
            || err
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .is_some_and(|inner| is_rustls(inner))
    }
    chain(e).any(is_rustls) || chain_mentions(e, &["certificate", "tls", "handshake"])
}

/// The address policy's refusal somewhere in the error's causes (from the resolver).
fn refusal(e: &hyper_util::client::legacy::Error) -> Option<&Refused> {
    chain(e).find_map(|err| err.downcast_ref::<Refused>())
}

/// What an attempt refused by the policy records as its response.
fn refusal_body(refused: &Refused) -> String {
    format!("not sent: {refused}; {POLICY_HINT}")
}

fn classify(failure: &Failure) -> ErrorClass {
    let e = match failure {
        Failure::Blocked(_) => return ErrorClass::BlockedAddress,
        Failure::Timeout(_) => return ErrorClass::Timeout,
        Failure::BadUrl(_) => return ErrorClass::Other,
        Failure::Request(e) => e,
    };
    let timed_out = chain(e).any(|err| {
        err.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    });
    if refusal(e).is_some() {
        ErrorClass::BlockedAddress
    } else if timed_out {
        ErrorClass::Timeout
    } else if chain_mentions(e, &["dns error", "failed to lookup address"]) {
        ErrorClass::Dns
    } else if tls_failed(e) {
        ErrorClass::Tls
    } else if e.is_connect() {
        ErrorClass::Connect
    } else {
        ErrorClass::Other
    }
}

/// The error and its causes on one line; a refusal by the address policy as just that.
fn describe(failure: &Failure) -> String {
    let e = match failure {
        Failure::Blocked(refused) => return refusal_body(refused),
        Failure::Timeout(after) => {
            return format!("no response within {}", humantime::format_duration(*after));
        }
        Failure::BadUrl(why) => return format!("the URL cannot be sent to: {why}"),
        Failure::Request(e) => e,
    };
    if let Some(refused) = refusal(e) {
        return refusal_body(refused);
    }
    // The client's own text ("client error (Connect)") names its internals; the causes
    // after it say what happened.
    let first = if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut parts: Vec<String> = std::iter::once(first.to_owned())
        .chain(chain(e).skip(1).map(ToString::to_string))
        .collect();
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn uri_of(url: &str) -> String {
        let targets = Targets::new(&[]);
        let target = targets.get(&EndpointUrl::parse(url).unwrap()).unwrap();
        target.uri.to_string()
    }

    #[test]
    fn request_uris_are_the_normalised_urls() {
        assert_eq!(
            uri_of("https://example.com/hook?a=1"),
            "https://example.com/hook?a=1"
        );
        assert_eq!(
            uri_of("HTTP://Example.COM:80/a b"),
            "http://example.com/a%20b"
        );
        assert_eq!(
            uri_of("https://bücher.example/x"),
            "https://xn--bcher-kva.example/x"
        );
        assert_eq!(uri_of("http://[::1]:8080/"), "http://[::1]:8080/");
        // The fragment is not sent.
        assert_eq!(
            uri_of("https://example.com/p#frag"),
            "https://example.com/p"
        );
    }

    #[test]
    fn ip_hosts_are_checked_against_the_policy_once_parsed() {
        let allowed: Vec<IpNet> = vec!["10.1.0.0/16".parse().unwrap()];
        let targets = Targets::new(&allowed);
        let blocked = |url: &str| {
            targets
                .get(&EndpointUrl::parse(url).unwrap())
                .unwrap()
                .blocked
                .map(|b| b.addr.to_string())
        };
        assert_eq!(blocked("http://10.0.0.1/").as_deref(), Some("10.0.0.1"));
        assert_eq!(blocked("http://[fd00::1]/").as_deref(), Some("fd00::1"));
        assert_eq!(blocked("http://10.1.2.3/"), None, "an opened range");
        assert_eq!(blocked("http://93.184.215.14/"), None, "a global address");
        assert_eq!(
            blocked("http://example.com/"),
            None,
            "names are checked when resolved"
        );
    }
}
