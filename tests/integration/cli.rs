//! The client subcommands (`status`, `endpoints`, `attempts`, `resend`, `recover`), run as
//! the real binary against the real binary serving on a temporary SQLite file, with
//! receivers on loopback: one path answering 200 and one answering 500.

mod harness;

use crate::helpers::{DEADLINE, SUCCESS, TOKEN, eventually};
use crate::process::free_port;
use harness::{APP_UID, fixture, fixture_with, run_in};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The (endpoint id, status code) of every attempt in `attempts`.
fn outcomes(attempts: &Value) -> Vec<(String, i64)> {
    attempts
        .as_array()
        .expect("an attempts array")
        .iter()
        .map(|a| {
            (
                a["endpointId"].as_str().expect("endpointId").to_owned(),
                a["responseStatusCode"]
                    .as_i64()
                    .expect("responseStatusCode"),
            )
        })
        .collect()
}

#[tokio::test]
async fn cli_endpoints_lists_each_endpoint_with_its_health() {
    let f = fixture().await;
    let s = &f.server;
    // The client must not read the server's configuration: here it would be refused.
    let cwd = tempfile::tempdir().expect("temporary directory");
    std::fs::write(cwd.path().join("hookline.toml"), "listen = \"nowhere\"\n").expect("write");
    let env = [
        ("HOOKLINE_URL", s.url.as_str()),
        ("HOOKLINE_TOKEN", TOKEN),
        ("HOOKLINE_LISTEN", "not-an-address"),
        ("HOOKLINE_WORKER_CONCURRENCY", "0"),
    ];
    let table = run_in(cwd.path(), &env, &["endpoints", APP_UID]).await;
    let table = table.ok();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two endpoints:\n{table}");
    for (ep, path, rate) in [(&f.ok, "/ok", "100.0%"), (&f.failing, "/failing", "0.0%")] {
        let row = lines
            .iter()
            .find(|l| l.contains(ep.as_str()))
            .unwrap_or_else(|| panic!("no row for {ep}:\n{table}"));
        assert!(row.contains(&f.rx.url(path)), "{row}");
        assert!(row.contains("closed") && row.contains(rate), "{row}");
    }

    let out = s.cli(&["endpoints", &f.app, "--json"]).await.json();
    let endpoints = out["endpoints"].as_array().expect("endpoints array");
    assert_eq!(endpoints.len(), 2, "{out}");
    let failing = endpoints
        .iter()
        .find(|e| e["id"] == f.failing.as_str())
        .expect("the failing endpoint");
    assert_eq!(failing["url"], f.rx.url("/failing"));
    assert_eq!(failing["disabled"], false);
    assert_eq!(failing["health"]["breaker"]["state"], "closed");
    assert_eq!(failing["health"]["backlog"], 0);
    assert_eq!(failing["health"]["recent"]["successRate"], 0.0);
    assert!(
        failing["health"]["recent"]["latencyP99Ms"].is_i64(),
        "{failing}"
    );
}

#[tokio::test]
async fn cli_attempts_lists_every_attempt_with_or_without_the_app() {
    let f = fixture().await;
    let s = &f.server;
    let msg = &f.msgs[0];
    let expected: BTreeSet<(String, i64)> = [(f.ok.clone(), 200), (f.failing.clone(), 500)].into();

    let table = s.cli(&["attempts", msg, "--app", APP_UID]).await;
    let table = table.ok();
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("ep_")).collect();
    assert_eq!(
        rows.len(),
        4,
        "one attempt to ok, three to failing:\n{table}"
    );
    let ok_rows: Vec<_> = rows.iter().filter(|r| r.contains(f.ok.as_str())).collect();
    assert!(
        ok_rows.len() == 1 && ok_rows[0].contains(" 200 "),
        "{table}"
    );
    let failing_rows = rows.iter().filter(|r| r.contains(f.failing.as_str()));
    assert!(
        failing_rows.clone().count() == 3 && failing_rows.clone().all(|r| r.contains(" 500 ")),
        "{table}"
    );
    assert!(
        table.contains("reply 500"),
        "the receiver's answer is shown:\n{table}"
    );

    let searched = s.cli(&["attempts", msg, "--json"]).await.json();
    assert_eq!(searched["message"]["id"], msg.as_str());
    let got = outcomes(&searched["attempts"]);
    assert_eq!(got.len(), 4, "{searched}");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);
    let bodies: Vec<&str> = searched["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["response"].as_str().expect("response"))
        .collect();
    assert!(
        bodies.iter().any(|b| b.starts_with("reply 500 #")),
        "{bodies:?}"
    );

    let plain = s.cli(&["attempts", msg]).await;
    assert_eq!(
        plain.ok().lines().filter(|l| l.contains("ep_")).count(),
        4,
        "the search finds the same attempts:\n{}",
        plain.stdout
    );
}

#[tokio::test]
async fn cli_resend_makes_a_new_manual_attempt() {
    let f = fixture().await;
    let s = &f.server;
    let msg = &f.msgs[1];
    let before = s.api.list_attempts_by_msg(&f.app, msg).await.len();

    let shown = s.cli(&["resend", msg, &f.ok]).await;
    let shown = shown.ok();
    assert!(
        shown.contains(f.ok.as_str()) && shown.contains(" 200 ") && shown.contains("manual"),
        "{shown}"
    );
    let after = s.api.list_attempts_by_msg(&f.app, msg).await;
    assert_eq!(after.len(), before + 1, "{after:?}");
    assert_eq!(after[0]["triggerType"], 1);
    assert_eq!(after[0]["endpointId"], f.ok.as_str());

    let out = s
        .cli(&["resend", msg, &f.failing, "--app", &f.app, "--json"])
        .await
        .json();
    assert_eq!(out["attempt"]["endpointId"], f.failing.as_str(), "{out}");
    assert_eq!(out["attempt"]["responseStatusCode"], 500);
    assert_eq!(out["attempt"]["triggerType"], 1);
    assert_eq!(
        s.api.list_attempts_by_msg(&f.app, msg).await.len(),
        before + 2
    );

    let queued = s
        .cli(&["resend", msg, &f.ok, "--app", &f.app, "--no-wait", "--json"])
        .await
        .json();
    assert_eq!(queued, json!({ "attempt": null }));
    f.server
        .api
        .wait_for_attempts(&f.app, msg, before + 3)
        .await;
}

#[tokio::test]
async fn cli_recover_requeues_the_failed_deliveries_and_follows_them_out() {
    let f = fixture().await;
    let s = &f.server;
    f.rx.always("/failing", 200);
    let sent_before = f.rx.count("/failing");

    let run = s
        .cli(&["recover", &f.failing, "--since", "1h", "--json"])
        .await;
    let out = run.json();
    assert_eq!(out["recover"]["queued"], 2, "{out}");
    assert_eq!(out["recover"]["task"], "endpoint.recover");
    assert_eq!(
        (&out["pending"], &out["failed"]),
        (&json!(0), &json!(0)),
        "{out}"
    );
    assert!(
        run.stderr.contains("recover: 2/2 sent"),
        "plain progress lines when stderr is not a terminal:\n{}",
        run.stderr
    );
    for msg in &f.msgs {
        let dest = f
            .server
            .api
            .wait_for_delivery_status(&f.app, msg, &f.failing, SUCCESS)
            .await;
        assert_eq!(dest["status"], SUCCESS);
        let attempts = s.api.list_attempts_by_msg(&f.app, msg).await;
        assert_eq!(attempts[0]["responseStatusCode"], 200, "{attempts:?}");
        assert_eq!(attempts[0]["triggerType"], 1, "{attempts:?}");
    }
    assert_eq!(f.rx.count("/failing"), sent_before + 2);

    // Nothing is failed any more, so a second recovery has nothing to do.
    let again = s
        .cli(&["recover", &f.failing, "--since", "1h", "--app", APP_UID])
        .await;
    assert!(
        again.ok().contains("Nothing to recover"),
        "{}",
        again.stdout
    );
}

#[tokio::test]
async fn cli_errors_are_one_line_and_exit_non_zero() {
    let f = fixture().await;
    let s = &f.server;
    let dir = s.dir.path();

    let env = [("HOOKLINE_URL", s.url.as_str())];
    let bad_token = run_in(
        dir,
        &env,
        &["endpoints", &f.app, "--token", "not-the-token-at-all"],
    )
    .await;
    let line = bad_token.fails_with(1);
    assert!(
        line.contains("token is not valid") && line.contains("401"),
        "{line}"
    );

    let down = format!("http://127.0.0.1:{}", free_port());
    let env = [("HOOKLINE_URL", down.as_str()), ("HOOKLINE_TOKEN", TOKEN)];
    let line = run_in(dir, &env, &["status"])
        .await
        .fails_with(1)
        .to_owned();
    assert!(
        line.contains("cannot reach Hookline") && line.contains(&down),
        "{line}"
    );

    let unknown = "msg_01HZZZZZZZZZZZZZZZZZZZZZZZ";
    let line = s.cli(&["attempts", unknown]).await.fails_with(1).to_owned();
    assert!(line.contains("not found"), "{line}");
    let line = s
        .cli(&["attempts", unknown, "--app", &f.app])
        .await
        .fails_with(1)
        .to_owned();
    assert!(line.contains("not found") && line.contains("404"), "{line}");
    let line = s
        .cli(&["resend", &f.msgs[0], "ep_01HZZZZZZZZZZZZZZZZZZZZZZZ"])
        .await
        .fails_with(1)
        .to_owned();
    assert!(line.contains("not found"), "{line}");

    // Usage errors are clap's: exit 2, before any request.
    assert_eq!(s.cli(&["attempts"]).await.code, Some(2));
    let bad_since = s
        .cli(&["recover", &f.failing, "--since", "last tuesday"])
        .await;
    assert_eq!(bad_since.code, Some(2), "{}", bad_since.stderr);
    assert!(
        bad_since.stderr.contains("RFC 3339"),
        "{}",
        bad_since.stderr
    );
}

#[tokio::test]

async fn cli_status_shows_the_queue_and_open_breakers() {
    let breaker_opens_fast = [
        ("HOOKLINE_BREAKER_FAILURES", "2"),
        ("HOOKLINE_BREAKER_COOLDOWN", "1h"),
        ("HOOKLINE_BREAKER_MAX_COOLDOWN", "1h"),
    ];
    let f = fixture_with(&breaker_opens_fast, false).await;
    let s = &f.server;
    let out = eventually(
        "the failing endpoint's breaker to open",
        DEADLINE,
        || async {
            let out = s.cli(&["status", "--json"]).await.json();
            let open = out["openBreakers"]
                .as_array()
                .is_some_and(|b| b.iter().any(|b| b["endpointId"] == f.failing.as_str()));
            open.then_some(out)
        },
    )
    .await;
    for key in ["due", "delayed", "sending", "failed"] {
        assert!(out["queue"][key].is_i64(), "queue.{key} in {out}");
    }
    assert!(out["lastMinute"]["delivered"].as_i64() >= Some(2), "{out}");
    let breaker = &out["openBreakers"][0];
    assert_eq!(breaker["url"], f.rx.url("/failing"));
    assert_eq!(breaker["appId"], f.app.as_str());

    let table = s.cli(&["status"]).await;
    let table = table.ok();
    assert!(table.contains("Open breakers: 1"), "{table}");
    let row = table
        .lines()
        .find(|l| l.contains(f.failing.as_str()))
        .unwrap_or_else(|| panic!("no row for the failing endpoint:\n{table}"));
    assert!(
        row.contains(&f.rx.url("/failing")) && row.contains("open"),
        "{row}"
    );
    assert!(
        !table.contains(f.ok.as_str()),
        "a closed breaker is not listed:\n{table}"
    );
}

#[tokio::test]
async fn config_files_are_for_server_commands_only() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("other.toml");
    std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").expect("write");
    let file = file.to_str().expect("a UTF-8 path");

    // A server command reads the named file, and refuses it before touching a database.
    let db = dir.path().join("hookline.db");
    let db_url = format!("sqlite://{}", db.display());
    let migrate = run_in(
        dir.path(),
        &[("HOOKLINE_DATABASE_URL", &db_url)],
        &["migrate", "--config", file],
    )
    .await;
    let message = migrate.fails_with(2);
    assert!(
        message.contains("other.toml") && message.contains("unknown key"),
        "{message}"
    );
    assert!(!db.exists(), "a refused configuration touches no database");

    // A client command has no server configuration to read: `--config` is a usage error.
    let status = run_in(
        dir.path(),
        &[("HOOKLINE_TOKEN", TOKEN)],
        &["status", "--config", file],
    )
    .await;
    assert_eq!(status.code, Some(2), "{}", status.stderr);
    assert!(status.stderr.contains("--config"), "{}", status.stderr);
}
