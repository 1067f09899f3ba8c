//! End-to-end load bench: the real service on a temporary store, a fast receiver on
//! loopback, and a load generator posting messages for a fixed time.
//!
//! ```text
//! cargo bench --bench e2e -- [--seconds 10] [--clients 32] [--endpoints 1]
//! ```
//!
//! Reports ingest (messages/s accepted and API latency p50/p99), deliveries/s from first to
//! last receipt, and creation-to-receipt p50/p99. It fails if any delivery is missing.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use hookline::{Application, Config, Role};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "bench-token-0123456789";

struct Args {
    seconds: u64,
    clients: usize,
    endpoints: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        seconds: 10,
        clients: 32,
        endpoints: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse().ok());
        match flag.as_str() {
            "--seconds" => args.seconds = value().unwrap_or(args.seconds as usize) as u64,
            "--clients" => args.clients = value().unwrap_or(args.clients),
            "--endpoints" => args.endpoints = value().unwrap_or(args.endpoints),
            _ => {} // cargo passes `--bench`; ignore what we do not know
        }
    }
    args
}

#[derive(Default)]
struct Receipts {
    /// (receipt instant, creation-to-receipt latency) per delivery.
    seen: Vec<(Instant, Duration)>,
}

struct Receiver {
    base: Instant,
    receipts: Mutex<Receipts>,
}

async fn receive(State(rx): State<Arc<Receiver>>, body: Bytes) -> StatusCode {
    let now = Instant::now();
    let sent_ns = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["sentNs"].as_u64())
        .unwrap_or(0);
    let latency = now.duration_since(rx.base) - Duration::from_nanos(sent_ns);
    if let Ok(mut r) = rx.receipts.lock() {
        r.seen.push((now, latency));
    }
    StatusCode::OK
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args();
    let dir = tempfile::tempdir()?;
    let receiver = Arc::new(Receiver {
        base: Instant::now(),
        receipts: Mutex::new(Receipts::default()),
    });
    let rx_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let rx_addr = rx_listener.local_addr()?;
    let rx_app = Router::new()
        .route("/hook/{n}", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(rx_listener, rx_app).await });

    let config = Config {
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        listen: "127.0.0.1:0".parse()?,
        api_tokens: vec![TOKEN.into()],
        allowed_subnets: vec!["127.0.0.0/8".parse()?],
        poll_interval: Duration::from_millis(100),
        ..Config::default()
    };
    let store_name = if config.is_sqlite() {
        "sqlite"
    } else {
        "postgres"
    };
    let app = Application::build(config, Role::Serve).await?;
    let base = format!("http://127.0.0.1:{}/api/v1", app.port().unwrap_or_default());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let auth = format!("Bearer {TOKEN}");
    let app_id: String = client
        .post(format!("{base}/app/"))
        .header("authorization", &auth)
        .json(&serde_json::json!({"name": "bench"}))
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for n in 0..args.endpoints {
        let status = client
            .post(format!("{base}/app/{app_id}/endpoint/"))
            .header("authorization", &auth)
            .json(&serde_json::json!({"url": format!("http://{rx_addr}/hook/{n}")}))
            .send()
            .await?
            .status();
        anyhow::ensure!(status.is_success(), "creating an endpoint failed: {status}");
    }

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let (client, auth, base, app_id, receiver) = (
            client.clone(),
            auth.clone(),
            base.clone(),
            app_id.clone(),
            receiver.clone(),
        );
        clients.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let body = format!(
                    r#"{{"eventType":"bench.event","payload":{{"sentNs":{}}}}}"#,
                    sent.duration_since(receiver.base).as_nanos()
                );
                let ok = client
                    .post(format!("{base}/app/{app_id}/msg/"))
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::ACCEPTED);
                if !ok {
                    return Err(anyhow::anyhow!("a message was not accepted"));
                }
                latencies.push(sent.elapsed());
            }
            Ok(latencies)
        });
    }
    let mut api_latencies = Vec::new();
    while let Some(result) = clients.join_next().await {
        api_latencies.extend(result??);
    }
    let ingest_elapsed = started.elapsed();
    let messages = api_latencies.len();
    let expected = messages * args.endpoints;

    let wait_until = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = receiver.receipts.lock().map(|r| r.seen.len()).unwrap_or(0);
        if seen >= expected || Instant::now() > wait_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    server.await??;

    let receipts = std::mem::take(
        &mut receiver
            .receipts
            .lock()
            .map_err(|_| anyhow::anyhow!("receiver lock poisoned"))?
            .seen,
    );
    anyhow::ensure!(
        receipts.len() >= expected,
        "only {} of {expected} deliveries arrived",
        receipts.len()
    );
    let first = receipts.iter().map(|r| r.0).min().unwrap_or(started);
    let last = receipts.iter().map(|r| r.0).max().unwrap_or(started);
    let mut e2e: Vec<Duration> = receipts.iter().map(|r| r.1).collect();
    e2e.sort();
    api_latencies.sort();
    let delivery_secs = (last - first).as_secs_f64().max(1e-9);
    println!(
        "store={store_name} clients={} endpoints={} seconds={}",
        args.clients, args.endpoints, args.seconds
    );
    println!(
        "ingest: {messages} messages, {:.0} msgs/s, API p50 {:.1} ms, p99 {:.1} ms",
        messages as f64 / ingest_elapsed.as_secs_f64(),
        percentile(&api_latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&api_latencies, 0.99).as_secs_f64() * 1e3,
    );
    println!(
        "delivery: {} deliveries, {:.0} deliveries/s, creation-to-receipt p50 {:.1} ms, p99 {:.1} ms",
        receipts.len(),
        receipts.len() as f64 / delivery_secs,
        percentile(&e2e, 0.5).as_secs_f64() * 1e3,
        percentile(&e2e, 0.99).as_secs_f64() * 1e3,
    );
    Ok(())
}
