//! The address policy: endpoints on non-global addresses are refused when created, names
//! resolving to them are refused when sent, redirects are never followed and proxies in the
//! environment are never used.

use crate::helpers::{
    FAIL, Receiver, StoreKind, TOKEN, TestApp, TestDatabase, per_store, spawn_app_with, test_config,
};
use crate::process::{Process, free_port};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::{CancellationToken, DropGuard};

per_store!(
    hostile_url_spellings_are_refused_on_create_put_and_patch_and_nothing_is_stored,
    an_allowed_subnet_can_be_an_endpoint_and_others_still_cannot,
    a_name_resolving_to_loopback_is_blocked_when_sent_and_retried,
    a_literal_the_policy_no_longer_allows_is_blocked_when_sent,
    a_redirect_to_another_receiver_is_recorded_and_not_followed,
);

/// URLs whose host is a non-global address however it is spelled, and what the refusal
/// must say about it.
const HOSTILE: &[(&str, &str)] = &[
    ("http://0x7f000001/", "127.0.0.1 is a loopback address"),
    ("http://2130706433/", "127.0.0.1 is a loopback address"),
    ("http://017700000001/", "127.0.0.1 is a loopback address"),
    ("http://0177.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://127.1/", "127.0.0.1 is a loopback address"),
    (
        "http://127.0.0.1:9000/hook",
        "127.0.0.1 is a loopback address",
    ),
    ("http://[::1]/", "::1 is a loopback address"),
    (
        "http://[::ffff:127.0.0.1]/",
        "::ffff:127.0.0.1 is an IPv4-mapped address for 127.0.0.1, a loopback address",
    ),
    (
        "http://[::ffff:7f00:1]/",
        "::ffff:127.0.0.1 is an IPv4-mapped address for 127.0.0.1, a loopback address",
    ),
    (
        "http://169.254.169.254/latest/meta-data",
        "169.254.169.254 is a link-local address (the cloud instance metadata service)",
    ),
    ("http://[fe80::1]/", "fe80::1 is a link-local address"),
    ("http://10.0.0.1/", "10.0.0.1 is a private address"),
    (
        "https://192.168.1.1:8443/x",
        "192.168.1.1 is a private address",
    ),
    ("http://172.16.0.1/", "172.16.0.1 is a private address"),
    (
        "http://100.64.0.1/",
        "100.64.0.1 is a carrier-grade NAT address",
    ),
    ("http://0.0.0.0/", "0.0.0.0 is the unspecified address"),
    ("http://0/", "0.0.0.0 is the unspecified address"),
    (
        "http://[64:ff9b::a00:1]/",
        "64:ff9b::a00:1 is a NAT64 address for 10.0.0.1, a private address",
    ),
    (
        "http://[2002:a00:1::]/",
        "2002:a00:1:: is a 6to4 address for 10.0.0.1, a private address",
    ),
    ("http://[fd00::1]/", "fd00::1 is a unique local address"),
    ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
    (
        "http://[2001:db8::1]/",
        "2001:db8::1 is a documentation address",
    ),
    ("http://[2001::1]/", "2001::1 is a Teredo tunnel address"),
];

/// Asserts a 422 `validation` refusal of the URL that says `why` and how to allow it.
fn assert_refused(status: StatusCode, body: &Value, url: &str, why: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
    assert_eq!(body["code"], "validation", "{url}: {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("url: "), "{url}: {detail}");
    assert!(
        detail.contains(why),
        "{url}: {detail:?} does not say {why:?}"
    );
    assert!(
        detail.contains("HOOKLINE_ALLOWED_SUBNETS"),
        "{url}: {detail:?} does not say how to allow it"
    );
}

/// The test configuration with no subnet allowed, as in production.
fn no_allowance(config: &mut hookline::Config) {
    config.allowed_subnets.clear();
}

async fn hostile_url_spellings_are_refused_on_create_put_and_patch_and_nothing_is_stored(
    store: StoreKind,
) {
    let app = spawn_app_with(store, no_allowance).await;
    let app_id = app.create_app("Hostile").await;
    let endpoints = format!("/api/v1/app/{app_id}/endpoint");
    for (n, (url, why)) in HOSTILE.iter().enumerate() {
        let (status, body) = app.post(&endpoints, &json!({ "url": url })).await;
        assert_refused(status, &body, url, why);
        let (status, body) = app
            .put(&format!("{endpoints}/hostile-{n}"), &json!({ "url": url }))
            .await;
        assert_refused(status, &body, url, why);
    }
    assert_eq!(app.list_endpoints(&app_id).await, Vec::<Value>::new());

    // Names are not resolved when an endpoint is created: a public-looking name is stored.
    let good = "https://hooks.example.com/in";
    let ep = app.create_endpoint_id(&app_id, good, json!({})).await;
    let path = format!("{endpoints}/{ep}");
    for (url, why) in HOSTILE {
        let (status, body) = app.patch(&path, &json!({ "url": url })).await;
        assert_refused(status, &body, url, why);
        let (status, body) = app.put(&path, &json!({ "url": url })).await;
        assert_refused(status, &body, url, why);
    }
    let listed = app.list_endpoints(&app_id).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        listed[0]["url"], good,
        "refused changes leave the endpoint as it was"
    );
}

async fn an_allowed_subnet_can_be_an_endpoint_and_others_still_cannot(store: StoreKind) {
    let app = spawn_app_with(store, |c| {
        c.allowed_subnets = vec!["10.0.0.0/8".parse().expect("a CIDR")];
    })
    .await;
    let app_id = app.create_app("Allowed").await;
    for url in ["http://10.1.2.3:8080/hook", "http://[::ffff:10.0.0.1]/"] {
        app.create_endpoint(&app_id, url, json!({})).await;
    }
    let (status, body) = app
        .post(
            &format!("/api/v1/app/{app_id}/endpoint"),
            &json!({ "url": "http://192.168.0.1/" }),
        )
        .await;
    assert_refused(
        status,
        &body,
        "http://192.168.0.1/",
        "192.168.0.1 is a private address",
    );
    assert_eq!(app.list_endpoints(&app_id).await.len(), 2);
}

/// Waits until the message has failed for good and returns its attempts, asserting each
/// was refused by the policy with a response that says `why`.
async fn assert_blocked_attempts(
    app: &TestApp,
    app_id: &str,
    msg: &str,
    ep: &str,
    attempts: usize,
    why: &str,
) {
    app.wait_for_delivery_status(app_id, msg, ep, FAIL).await;
    let recorded = app.list_attempts_by_msg(app_id, msg).await;
    assert_eq!(
        recorded.len(),
        attempts,
        "retried on schedule: {recorded:?}"
    );
    for a in &recorded {
        assert_eq!(a["errorClass"], "blocked address", "{a}");
        assert_eq!(a["responseStatusCode"], 0, "{a}");
        assert_eq!(a["status"], FAIL, "{a}");
        let response = a["response"].as_str().unwrap_or_default();
        assert!(response.contains(why), "{response:?} does not say {why:?}");
        assert!(
            response.contains("HOOKLINE_ALLOWED_SUBNETS"),
            "{response:?} does not say how to allow it"
        );
    }
}

async fn a_name_resolving_to_loopback_is_blocked_when_sent_and_retried(store: StoreKind) {
    let schedule = vec![Duration::from_millis(100); 2];
    let app = spawn_app_with(store, |c| {
        no_allowance(c);
        c.retry_schedule = schedule.clone();
    })
    .await;
    let rx = Receiver::start().await;
    let app_id = app.create_app("Rebinding").await;
    let url = format!("http://localhost:{}/hook", rx.addr.port());
    let ep = app.create_endpoint_id(&app_id, &url, json!({})).await;
    let msg = app.send_message(&app_id, "a.b", json!({ "n": 1 })).await;

    assert_blocked_attempts(
        &app,
        &app_id,
        &msg,
        &ep,
        schedule.len() + 1,
        "localhost resolves only to blocked addresses: 127.0.0.1 is a loopback address",
    )
    .await;
    assert_eq!(rx.total(), 0, "nothing reached the receiver");
}

/// Runs the service in `role` on an existing database until the guard is dropped.
async fn start(url: String, role: hookline::Role, allowed: &str) -> (TestApp, DropGuard) {
    let mut config = test_config(url);
    config.allowed_subnets = allowed
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("a CIDR"))
        .collect();
    let built = hookline::Application::build(config, role)
        .await
        .expect("the application builds");
    let port = built.port().expect("the role serves the API");
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { built.run_until_stopped(token).await });
    (TestApp::external(port, TOKEN), stop.drop_guard())
}

async fn a_literal_the_policy_no_longer_allows_is_blocked_when_sent(store: StoreKind) {
    let db = TestDatabase::create(store).await;
    let rx = Receiver::start().await;
    // Created while loopback was allowed, by an API that runs no workers...
    let (api, stop) = start(db.url(), hookline::Role::Api, "127.0.0.0/8").await;
    let app_id = api.create_app("Tightened").await;
    let ep = api
        .create_endpoint_id(&app_id, &rx.url("/hook"), json!({}))
        .await;
    drop(stop);
    // ...and sent by a process whose policy no longer allows it.
    let (app, _stop) = start(db.url(), hookline::Role::Serve, "").await;
    let msg = app.send_message(&app_id, "a.b", json!({ "n": 2 })).await;
    let attempts = test_config(String::new()).retry_schedule.len() + 1;
    assert_blocked_attempts(
        &app,
        &app_id,
        &msg,
        &ep,
        attempts,
        "not sent: 127.0.0.1 is a loopback address",
    )
    .await;
    assert_eq!(rx.total(), 0, "nothing reached the receiver");
}

async fn a_redirect_to_another_receiver_is_recorded_and_not_followed(store: StoreKind) {
    let app = spawn_app_with(store, |c| {
        c.retry_schedule = vec![Duration::from_millis(100)];
    })
    .await;
    let moved = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    moved.redirect("/moved", &elsewhere.url("/target"));
    let app_id = app.create_app("Redirects").await;
    let ep = app
        .create_endpoint_id(&app_id, &moved.url("/moved"), json!({}))
        .await;
    let msg = app.send_message(&app_id, "a.b", json!({ "n": 3 })).await;

    app.wait_for_delivery_status(&app_id, &msg, &ep, FAIL).await;
    let attempts = app.list_attempts_by_msg(&app_id, &msg).await;
    let seen: Vec<_> = attempts
        .iter()
        .map(|a| (a["responseStatusCode"].clone(), a["response"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!(302), json!("reply 302 #2")),
            (json!(302), json!("reply 302 #1"))
        ],
        "each attempt is the 302 itself"
    );
    assert_eq!(moved.count("/moved"), 2);
    assert_eq!(elsewhere.total(), 0, "the Location is never fetched");
}

#[tokio::test]
async fn the_binary_sends_directly_whatever_proxy_the_environment_names() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let proxy = Receiver::start().await;
    let rx = Receiver::start().await;
    let port = free_port();
    let mut env: Vec<(String, String)> = [
        (
            "HOOKLINE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("hookline.db").display()),
        ),
        ("HOOKLINE_LISTEN", format!("127.0.0.1:{port}")),
        ("HOOKLINE_API_TOKEN", TOKEN.to_owned()),
        ("HOOKLINE_ALLOWED_SUBNETS", "127.0.0.0/8".to_owned()),
        ("HOOKLINE_POLL_INTERVAL", "100ms".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        env.push((var.to_owned(), proxy.url("")));
    }
    let mut serve = Process::start("serve", dir.path(), &env);
    serve.wait_healthy(port).await;
    let client = TestApp::external(port, TOKEN);
    let app_id = client.create_app("Proxied").await;
    client
        .create_endpoint_id(&app_id, &rx.url("/direct"), json!({}))
        .await;
    let msg = client.send_message(&app_id, "a.b", json!({ "n": 4 })).await;

    let got = rx.wait_for("/direct", 1).await;
    assert_eq!(got[0].header("webhook-id"), msg);
    assert_eq!(proxy.total(), 0, "the proxy saw nothing");
    let finished = serve.terminate().await;
    assert!(finished.status.success(), "{}", finished.stderr);
}
