//! Admin and application-scoped tokens: 401 for no, bad, expired or revoked tokens, 403 for
//! an application token outside its application, minting the Svix way.

use crate::helpers::{
    Receiver, SUCCESS, StoreKind, TestApp, assert_error_shape, per_store, spawn_app,
};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

per_store!(
    requests_without_a_valid_token_or_with_an_expired_app_token_are_unauthorized,
    an_app_token_manages_and_delivers_for_its_own_application,
    an_app_token_is_forbidden_everything_outside_its_application,
    logout_revokes_the_app_token_and_is_refused_to_admin_tokens,
    deleting_the_application_invalidates_its_tokens,
    minting_creates_the_application_from_the_body_or_answers_404,
);

/// Mints a token for `app_key` as an admin.
async fn mint(admin: &TestApp, app_key: &str, body: &Value) -> (StatusCode, Value) {
    admin
        .post(&format!("/api/v1/auth/app-portal-access/{app_key}"), body)
        .await
}

/// Mints a token for `app_key` and returns a client using it.
async fn app_client(admin: &TestApp, app_key: &str) -> TestApp {
    let (status, out) = mint(admin, app_key, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "mint for {app_key}: {out}");
    admin.with_token(out["token"].as_str().expect("token"))
}

fn assert_status(what: &str, got: (StatusCode, Value), want: StatusCode, code: &str) {
    let (status, body) = got;
    assert_eq!(status, want, "{what}: {body}");
    assert_error_shape(&body, what);
    assert_eq!(body["code"], code, "{what}: {body}");
}

async fn requests_without_a_valid_token_or_with_an_expired_app_token_are_unauthorized(
    store: StoreKind,
) {
    let admin = spawn_app(store).await;
    let app_id = admin.create_app("Expiring").await;
    let path = format!("/api/v1/app/{app_id}/endpoint");

    let response = admin
        .client
        .get(admin.url(&path))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "no token");
    let unknown = "appsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for bad in ["not-a-token-at-all", unknown] {
        let got = admin.with_token(bad).get(&path).await;
        assert_status(bad, got, StatusCode::UNAUTHORIZED, "authentication_failed");
    }

    let (status, out) = mint(&admin, &app_id, &json!({ "expiry": 1 })).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let short = admin.with_token(out["token"].as_str().expect("token"));
    let (status, body) = short.get(&path).await;
    assert_eq!(status, StatusCode::OK, "fresh token works: {body}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let got = short.get(&path).await;
    assert_status(
        "expired",
        got,
        StatusCode::UNAUTHORIZED,
        "authentication_failed",
    );
}

async fn an_app_token_manages_and_delivers_for_its_own_application(store: StoreKind) {
    let admin = spawn_app(store).await;
    let rx = Receiver::start().await;
    let (status, app) = admin
        .post("/api/v1/app", &json!({ "name": "Own", "uid": "own-app" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let app_id = app["id"].as_str().expect("id").to_owned();

    let (status, out) = mint(&admin, "own-app", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let token = out["token"].as_str().expect("token");
    assert!(token.starts_with("appsk_") && token.len() == 49, "{token}");
    let host = admin.address.trim_start_matches("http://");
    assert_eq!(
        out["url"],
        format!("http://{host}/ui/#token={token}&app={app_id}")
    );
    let own = admin.with_token(token);

    for key in [app_id.as_str(), "own-app"] {
        let (status, body) = own.get(&format!("/api/v1/app/{key}")).await;
        assert_eq!(status, StatusCode::OK, "GET own app by {key}: {body}");
        assert_eq!(body["id"], app_id.as_str());
    }
    assert!(own.list_endpoints("own-app").await.is_empty());
    let ep = own
        .create_endpoint_id("own-app", &rx.url("/own"), json!({}))
        .await;
    assert_eq!(own.list_endpoints(&app_id).await.len(), 1);
    let (status, types) = own.get("/api/v1/event-type").await;
    assert_eq!(status, StatusCode::OK, "event types are readable: {types}");

    let msg = own
        .send_message("own-app", "order.created", json!({ "n": 1 }))
        .await;
    own.wait_for_delivery_status(&app_id, &msg, &ep, SUCCESS)
        .await;
    let attempts = own.list_attempts_by_msg("own-app", &msg).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["responseStatusCode"], 200);
    assert_eq!(rx.wait_for("/own", 1).await[0].header("webhook-id"), msg);
}

async fn an_app_token_is_forbidden_everything_outside_its_application(store: StoreKind) {
    let admin = spawn_app(store).await;
    let (status, mine) = admin
        .post("/api/v1/app", &json!({ "name": "Mine", "uid": "mine" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    let (status, other) = admin
        .post("/api/v1/app", &json!({ "name": "Other", "uid": "other" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let other_id = other["id"].as_str().expect("id");
    admin
        .create_endpoint_id(other_id, "https://receiver.example/x", json!({}))
        .await;
    let own = app_client(&admin, "mine").await;

    let rename = json!({ "name": "Renamed" });
    let cases: Vec<(&str, Method, String, Option<Value>)> = vec![
        ("list apps", Method::GET, "/api/v1/app".into(), None),
        (
            "create app",
            Method::POST,
            "/api/v1/app".into(),
            Some(rename.clone()),
        ),
        (
            "other by id",
            Method::GET,
            format!("/api/v1/app/{other_id}/endpoint"),
            None,
        ),
        (
            "other by uid",
            Method::GET,
            "/api/v1/app/other/endpoint".into(),
            None,
        ),
        ("other app", Method::GET, "/api/v1/app/other".into(), None),
        (
            "no such uid",
            Method::GET,
            "/api/v1/app/nobody/endpoint".into(),
            None,
        ),
        (
            "no such id",
            Method::GET,
            "/api/v1/app/app_01ARZ3NDEKTSV4RRFFQ69G5FAV/msg".into(),
            None,
        ),
        (
            "delete own",
            Method::DELETE,
            "/api/v1/app/mine".into(),
            None,
        ),
        (
            "update own",
            Method::PUT,
            "/api/v1/app/mine".into(),
            Some(rename.clone()),
        ),
        (
            "patch own",
            Method::PATCH,
            "/api/v1/app/mine".into(),
            Some(rename.clone()),
        ),
        (
            "create event type",
            Method::POST,
            "/api/v1/event-type".into(),
            Some(json!({ "name": "sneaky.event", "description": "no" })),
        ),
        (
            "mint for own",
            Method::POST,
            "/api/v1/auth/app-portal-access/mine".into(),
            Some(json!({})),
        ),
        (
            "mint for other",
            Method::POST,
            "/api/v1/auth/app-portal-access/other".into(),
            Some(json!({})),
        ),
        ("fleet status", Method::GET, "/api/v1/status".into(), None),
        ("metrics", Method::GET, "/metrics".into(), None),
    ];
    for (what, method, path, body) in cases {
        let got = own.request(method, &path, body.as_ref()).await;
        assert_status(what, got, StatusCode::FORBIDDEN, "forbidden");
    }

    // Nothing changed.
    let apps = admin.list("/api/v1/app").await;
    assert_eq!(apps.len(), 2, "{apps:?}");
    assert!(apps.iter().all(|a| a["name"] != "Renamed"), "{apps:?}");
    let (status, _) = admin.get("/api/v1/event-type/sneaky.event").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(admin.list_endpoints(other_id).await.len(), 1);
}

async fn logout_revokes_the_app_token_and_is_refused_to_admin_tokens(store: StoreKind) {
    let admin = spawn_app(store).await;
    let app_id = admin.create_app("Logout").await;
    let first = app_client(&admin, &app_id).await;
    let second = app_client(&admin, &app_id).await;
    let path = format!("/api/v1/app/{app_id}");

    // The SDKs send an idempotency key with every POST; a logout is never a replay.
    let key = [("idempotency-key", "logout-key")];
    let (status, body) = first.post_raw("/api/v1/auth/logout", "", &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let got = first.get(&path).await;
    assert_status(
        "after logout",
        got,
        StatusCode::UNAUTHORIZED,
        "authentication_failed",
    );
    let (status, body) = second.get(&path).await;
    assert_eq!(status, StatusCode::OK, "other tokens stay valid: {body}");
    let (status, body) = second.post_raw("/api/v1/auth/logout", "", &key).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let got = second.get(&path).await;
    assert_status(
        "second logout",
        got,
        StatusCode::UNAUTHORIZED,
        "authentication_failed",
    );

    let got = admin.post("/api/v1/auth/logout", &json!({})).await;
    assert_status("admin logout", got, StatusCode::FORBIDDEN, "forbidden");
    let (status, _) = admin.get(&path).await;
    assert_eq!(status, StatusCode::OK, "the admin token still works");
}

async fn deleting_the_application_invalidates_its_tokens(store: StoreKind) {
    let admin = spawn_app(store).await;
    let (status, app) = admin
        .post("/api/v1/app", &json!({ "name": "Doomed", "uid": "doomed" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let own = app_client(&admin, "doomed").await;
    let (status, _) = own.get("/api/v1/app/doomed").await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = admin
        .request(Method::DELETE, "/api/v1/app/doomed", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // A new application with the same uid is another application.
    admin
        .post("/api/v1/app", &json!({ "name": "Reborn", "uid": "doomed" }))
        .await;
    let got = own.get("/api/v1/app/doomed").await;
    assert_status(
        "deleted app",
        got,
        StatusCode::UNAUTHORIZED,
        "authentication_failed",
    );
}

async fn minting_creates_the_application_from_the_body_or_answers_404(store: StoreKind) {
    let admin = spawn_app(store).await;
    let create = json!({ "application": { "name": "Fresh customer" } });

    for (what, body) in [
        (
            "expiry 0",
            json!({ "expiry": 0, "application": { "name": "X" } }),
        ),
        (
            "expiry 31 days",
            json!({ "expiry": 2_678_400, "application": { "name": "X" } }),
        ),
        ("empty name", json!({ "application": { "name": "" } })),
        (
            "read-only",
            json!({ "readOnly": true, "application": { "name": "X" } }),
        ),
    ] {
        let got = mint(&admin, "fresh", &body).await;
        assert_status(what, got, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    let got = mint(&admin, "fresh", &json!({})).await;
    assert_status("no application", got, StatusCode::NOT_FOUND, "not_found");
    let got = mint(&admin, "app_01ARZ3NDEKTSV4RRFFQ69G5FAV", &create).await;
    assert_status("id-shaped key", got, StatusCode::NOT_FOUND, "not_found");
    assert!(
        admin.list("/api/v1/app").await.is_empty(),
        "nothing created"
    );

    let (status, out) = mint(&admin, "fresh", &create).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let (status, app) = admin.get("/api/v1/app/fresh").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "created with the path key as uid: {app}"
    );
    assert_eq!(app["name"], "Fresh customer");
    let own = admin.with_token(out["token"].as_str().expect("token"));
    let (status, body) = own.get("/api/v1/app/fresh").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A minted token is never kept for an idempotent replay: each request mints anew.
    let path = "/api/v1/auth/app-portal-access/fresh";
    let key = [("idempotency-key", "mint-key")];
    let (s1, one) = admin.post_raw(path, "{}", &key).await;
    let (s2, two) = admin.post_raw(path, "{}", &key).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{one} {two}");
    assert_ne!(one["token"], two["token"]);

    // An existing application is used as it is; the body's application is ignored.
    let (status, _) = mint(&admin, "fresh", &json!({ "application": { "name": "Y" } })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin.list("/api/v1/app").await.len(), 1);
}
