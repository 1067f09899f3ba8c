//! The real binary at its most verbose (`RUST_LOG=trace` for every crate, JSON logs) never
//! writes a token, an endpoint secret or a sensitive header value, while it does log each
//! request's path and status.

use crate::helpers::{Receiver, SUCCESS, TestApp};
use crate::process::{Process, free_port};
use reqwest::StatusCode;
use serde_json::json;

const ADMIN_TOKEN: &str = "admin-token-LOGCANARY-7f3a9c";
/// `whsec_` + base64 of 32 bytes.
const ENDPOINT_SECRET: &str = "whsec_bG9nLWNhbmFyeS1zZWNyZXQtMDEyMzQ1Njc4OWFi";
const HEADER_VALUE: &str = "Bearer xyz-HEADERCANARY-41d2";
const QUERY_SECRET: &str = "QUERYCANARY-90bd";
const WRONG_TOKEN: &str = "wrong-token-WRONGCANARY-5e1c";

#[tokio::test]
async fn verbose_logs_never_contain_tokens_or_secrets() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let rx = Receiver::start().await;
    let port = free_port();
    let env: Vec<(String, String)> = [
        (
            "HOOKLINE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("hookline.db").display()),
        ),
        ("HOOKLINE_LISTEN", format!("127.0.0.1:{port}")),
        ("HOOKLINE_API_TOKEN", ADMIN_TOKEN.into()),
        ("HOOKLINE_ALLOWED_SUBNETS", "127.0.0.0/8".into()),
        ("HOOKLINE_POLL_INTERVAL", "100ms".into()),
        ("HOOKLINE_LOG_FORMAT", "json".into()),
        ("RUST_LOG", "trace".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut serve = Process::start("serve", dir.path(), &env);
    serve.wait_healthy(port).await;

    let admin = TestApp::external(port, ADMIN_TOKEN);
    let app_id = admin.create_app("Quiet").await;
    let (status, minted) = admin
        .post(
            &format!("/api/v1/auth/app-portal-access/{app_id}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    let app_token = minted["token"].as_str().expect("token").to_owned();
    let own = admin.with_token(&app_token);

    let ep = own
        .create_endpoint_id(
            &app_id,
            &rx.url("/quiet"),
            json!({ "secret": ENDPOINT_SECRET, "headers": { "authorization": HEADER_VALUE } }),
        )
        .await;
    assert_eq!(own.endpoint_secret(&app_id, &ep).await, ENDPOINT_SECRET);
    let (status, _) = own
        .get(&format!(
            "/api/v1/app/{app_id}/endpoint?api_key={QUERY_SECRET}"
        ))
        .await;
    assert!(status.is_success() || status.is_client_error(), "{status}");
    let (status, _) = admin.with_token(WRONG_TOKEN).get("/api/v1/app").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let msg = own
        .send_message(&app_id, "quiet.event", json!({ "n": 1 }))
        .await;
    own.wait_for_delivery_status(&app_id, &msg, &ep, SUCCESS)
        .await;
    assert_eq!(
        rx.wait_for("/quiet", 1).await[0].header("authorization"),
        HEADER_VALUE,
        "the header was really sent"
    );

    let finished = serve.terminate().await;
    let logs = format!("{}\n{}", finished.stdout, finished.stderr);
    for secret in [
        ADMIN_TOKEN,
        app_token.as_str(),
        ENDPOINT_SECRET,
        &ENDPOINT_SECRET["whsec_".len()..],
        HEADER_VALUE,
        "HEADERCANARY",
        QUERY_SECRET,
        WRONG_TOKEN,
    ] {
        assert!(
            !logs.contains(secret),
            "the logs contain {secret:?}:\n{}",
            logs.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let endpoint_path = format!("/api/v1/app/{app_id}/endpoint");
    assert!(
        logs.lines()
            .any(|l| l.contains(&endpoint_path) && l.contains("\"status\":201")),
        "requests are logged with their path and status:\n{}",
        logs.lines().take(40).collect::<Vec<_>>().join("\n")
    );
}
