//! The real binary: a `worker` process serves `/metrics` and health on
//! `HOOKLINE_METRICS_LISTEN`, and with `HOOKLINE_LOG_FORMAT=json` every attempt is one JSON
//! line carrying the message, endpoint and application ids, and nothing secret.

use super::scrape;
use crate::helpers::{DEADLINE, FAIL, Receiver, SUCCESS, TOKEN, TestApp, eventually};
use crate::process::{Process, free_port};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;

/// A SQLite database in `dir`, the API (if any) on `port`, loopback allowed, the token set.
fn env(dir: &Path, port: u16, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        (
            "HOOKLINE_DATABASE_URL",
            format!("sqlite://{}", dir.join("hookline.db").display()),
        ),
        ("HOOKLINE_LISTEN", format!("127.0.0.1:{port}")),
        ("HOOKLINE_POLL_INTERVAL", "100ms".into()),
        ("HOOKLINE_ALLOWED_SUBNETS", "127.0.0.0/8".into()),
        ("HOOKLINE_REQUEST_TIMEOUT", "2s".into()),
        ("HOOKLINE_API_TOKEN", TOKEN.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

#[tokio::test]
async fn a_worker_process_serves_its_metrics_and_health_on_the_metrics_listener() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let rx = Receiver::start().await;
    let (api_port, metrics_port) = (free_port(), free_port());
    let mut api = Process::start("api", dir.path(), &env(dir.path(), api_port, &[]));
    api.wait_healthy(api_port).await;
    let listen = format!("127.0.0.1:{metrics_port}");
    let mut worker = Process::start(
        "worker",
        dir.path(),
        &env(
            dir.path(),
            free_port(),
            &[("HOOKLINE_METRICS_LISTEN", &listen)],
        ),
    );
    worker.wait_healthy(metrics_port).await;

    let client = TestApp::external(api_port, TOKEN);
    let app_id = client.create_app("Worker metrics").await;
    client
        .create_endpoint_id(&app_id, &rx.url("/hook"), json!({}))
        .await;
    for n in 0..2 {
        client
            .send_message(&app_id, "order.created", json!({ "n": n }))
            .await;
    }
    rx.wait_for("/hook", 2).await;

    let on_worker = TestApp::external(metrics_port, TOKEN);
    let delivered = [("status_class", "2xx"), ("error_class", "none")];
    let m = eventually("the worker to count both attempts", DEADLINE, || async {
        let m = scrape(&on_worker).await;
        (m.counter("hookline_attempts_total", &delivered) == 2.0).then_some(m)
    })
    .await;
    assert_eq!(
        m.counter("hookline_messages_accepted_total", &[]),
        0.0,
        "counters are per process: the worker accepted nothing"
    );
    let on_api = scrape(&client).await;
    assert_eq!(on_api.counter("hookline_messages_accepted_total", &[]), 2.0);
    assert_eq!(on_api.counter("hookline_attempts_total", &delivered), 0.0);

    let (status, body) = TestApp::external(metrics_port, "wrong-token-0123456789")
        .get("/metrics")
        .await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = on_worker.get("/api/v1/app").await;
    assert_eq!(
        status,
        reqwest::StatusCode::NOT_FOUND,
        "the metrics listener serves no API"
    );
    for process in [worker, api] {
        let finished = process.terminate().await;
        assert!(finished.status.success(), "{}", finished.stderr);
    }
}

#[tokio::test]
async fn every_attempt_is_one_json_log_line_with_its_message_endpoint_and_application() {
    const MARKER: &str = "payload-marker-7f3a";
    let dir = tempfile::tempdir().expect("temporary directory");
    let rx = Receiver::start().await;
    rx.always("/bad", 500);
    let port = free_port();
    let extra = [
        ("HOOKLINE_LOG_FORMAT", "json"),
        ("HOOKLINE_RETRY_SCHEDULE", "100ms"),
    ];
    let mut serve = Process::start("serve", dir.path(), &env(dir.path(), port, &extra));
    serve.wait_healthy(port).await;
    let client = TestApp::external(port, TOKEN);
    let app_id = client.create_app("Logs").await;
    let ok = client
        .create_endpoint_id(&app_id, &rx.url("/ok"), json!({}))
        .await;
    let bad = client
        .create_endpoint_id(&app_id, &rx.url("/bad"), json!({}))
        .await;
    let secret = client.endpoint_secret(&app_id, &ok).await;
    let msg = client
        .send_message(&app_id, "order.created", json!({ "marker": MARKER }))
        .await;
    client
        .wait_for_delivery_status(&app_id, &msg, &ok, SUCCESS)
        .await;
    client
        .wait_for_delivery_status(&app_id, &msg, &bad, FAIL)
        .await;
    let finished = serve.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);

    let output = format!("{}\n{}", finished.stdout, finished.stderr);
    let lines: Vec<Value> = output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for secret_text in [TOKEN, MARKER, secret.as_str()] {
        assert!(
            !output.contains(secret_text),
            "{secret_text} was logged:\n{output}"
        );
    }
    assert!(
        lines.iter().all(|l| !l["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("tower_http"))),
        "no line per HTTP request at info:\n{output}"
    );
    let about_msg: Vec<&Value> = lines
        .iter()
        .filter(|l| l.to_string().contains(&msg))
        .collect();
    let attempts: BTreeSet<(String, u64, String)> = about_msg
        .iter()
        .map(|l| {
            assert_eq!(l["level"], "INFO", "{l}");
            assert_eq!(
                l["fields"]["message"], "attempt",
                "only attempts name the message: {l}"
            );
            let span = &l["span"];
            assert_eq!(
                (&span["msg_id"], &span["app_id"]),
                (&json!(msg), &json!(app_id)),
                "{l}"
            );
            assert!(l["fields"]["duration_ms"].is_u64(), "{l}");
            assert!(l["fields"].get("status").is_some(), "{l}");
            (
                span["endpoint_id"]
                    .as_str()
                    .expect("endpoint_id")
                    .to_owned(),
                span["attempt"].as_u64().expect("attempt number"),
                l["fields"]["outcome"].as_str().expect("outcome").to_owned(),
            )
        })
        .collect();
    assert_eq!(about_msg.len(), 3, "one line per attempt:\n{output}");
    assert_eq!(
        attempts,
        BTreeSet::from([
            (ok.clone(), 1, "delivered".to_owned()),
            (bad.clone(), 1, "retry_scheduled".to_owned()),
            (bad.clone(), 2, "exhausted".to_owned()),
        ])
    );
    let failed = about_msg
        .iter()
        .find(|l| l["span"]["endpoint_id"] == json!(bad))
        .expect("a line for the failing endpoint");
    assert_eq!(
        (
            &failed["fields"]["status"],
            &failed["fields"]["error_class"]
        ),
        (&json!(500), &json!("http status"))
    );
}
