//! The dashboard in a real browser: Debian's Chromium driven by `playwright-core`
//! (tests/browser/dashboard.mjs) against the real binary. `.ci/run` installs both.

use crate::binary::base_env;
use crate::helpers::{DEADLINE, TOKEN, TestApp, eventually};
use crate::process::{Process, free_port};
use crate::receiver::Receiver;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Where the screenshot of the last run is kept (a CI artefact).
fn screenshot_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    target.join("browser").join("dashboard.png")
}

#[tokio::test]
#[ignore = "needs Chromium and playwright-core; .ci/run installs them"]
async fn the_dashboard_shows_failing_attempts_and_resends_one() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        scripts.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci` in tests/browser (.ci/run does)"
    );
    let chromium =
        std::env::var("HOOKLINE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (.ci/run does)"
    );

    let dir = tempfile::tempdir().expect("temporary directory");
    let rx = Receiver::start().await;
    rx.always("/failing", 500);
    let port = free_port();
    let mut env = base_env(dir.path(), port);
    env.push(("HOOKLINE_API_TOKEN".into(), TOKEN.into()));
    // One attempt each, then nothing until someone resends.
    env.push(("HOOKLINE_RETRY_SCHEDULE".into(), "1h".into()));
    let mut server = Process::start("serve", dir.path(), &env);
    server.wait_healthy(port).await;

    let api = TestApp::external(port, TOKEN);
    let app_id = api.create_app("Storefront").await;
    // Enough messages for two pages of the dashboard's message list (25 a page); those sent
    // before the endpoint exists go nowhere.
    let messages = 27;
    for n in 2..messages {
        api.send_message(&app_id, "catalog.synced", json!({ "n": n }))
            .await;
    }
    let url = rx.url("/failing");
    let ep = api.create_endpoint_id(&app_id, &url, json!({})).await;
    for n in 0..2 {
        api.send_message(&app_id, "order.created", json!({ "n": n }))
            .await;
    }
    let attempts_path = format!("/api/v1/app/{app_id}/attempt/endpoint/{ep}");
    eventually("both messages fail once", DEADLINE, || async {
        (api.list(&attempts_path).await.len() == 2).then_some(())
    })
    .await;
    rx.always("/failing", 200);

    let screenshot = screenshot_path();
    std::fs::create_dir_all(screenshot.parent().expect("a parent")).expect("screenshot folder");
    let _ = std::fs::remove_file(&screenshot);
    let run = tokio::process::Command::new("node")
        .arg(scripts.join("dashboard.mjs"))
        .current_dir(&scripts)
        .env("HOOKLINE_URL", format!("http://127.0.0.1:{port}"))
        .env("HOOKLINE_TOKEN", TOKEN)
        .env("APP_NAME", "Storefront")
        .env("ENDPOINT_URL", &url)
        .env("MESSAGES", messages.to_string())
        .env("SCREENSHOT", &screenshot)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("the browser run finishes within 2 minutes")
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser run failed:\n{}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.output_tail(40)
    );

    let png = std::fs::read(&screenshot).expect("a screenshot was saved");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    let attempts = api.list(&attempts_path).await;
    assert_eq!(
        attempts.len(),
        3,
        "the resend made one more attempt: {attempts:?}"
    );
    assert_eq!(
        attempts
            .iter()
            .filter(|a| a["responseStatusCode"] == 200)
            .count(),
        1,
        "the new attempt succeeded"
    );
    assert_eq!(rx.count("/failing"), 3);
}
