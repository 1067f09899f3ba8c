//! Wire compatibility: the official Svix Rust SDK drives Hookline with nothing but its
//! server URL changed.

use crate::helpers::{Receiver, StoreKind, TOKEN, per_store, spawn_app, svix_verify};
use std::collections::BTreeSet;
use svix::api::{MessageAttemptListByMsgOptions, Svix, SvixOptions};
use svix::models::{
    AppPortalAccessIn, ApplicationIn, EndpointIn, EndpointSecretRotateIn,
    MessageAttemptTriggerType, MessageIn, MessageStatus,
};

per_store!(
    the_official_svix_sdk_works_against_hookline,
    the_svix_sdk_mints_app_portal_tokens_that_are_scoped_and_can_log_out,
);

fn client(base_url: &str) -> Svix {
    client_with(base_url, TOKEN)
}

fn client_with(base_url: &str, token: &str) -> Svix {
    Svix::new(
        token.into(),
        Some(SvixOptions {
            server_url: Some(base_url.to_owned()),
            ..Default::default()
        }),
    )
}

async fn the_official_svix_sdk_works_against_hookline(store: StoreKind) {
    let app = spawn_app(store).await;
    let rx = Receiver::start().await;
    let svix = client(&app.address);

    // Applications.
    let mut app_in = ApplicationIn::new("SDK customer".into());
    app_in.uid = Some("sdk-customer".into());
    let created = svix
        .application()
        .create(app_in, None)
        .await
        .expect("application.create");
    assert!(created.id.starts_with("app_"), "{created:?}");
    assert_eq!(created.name, "SDK customer");
    assert_eq!(created.uid.as_deref(), Some("sdk-customer"));
    let by_uid = svix
        .application()
        .get("sdk-customer".into())
        .await
        .expect("application.get by uid");
    assert_eq!(by_uid.id, created.id);
    let again = svix
        .application()
        .get_or_create(ApplicationIn::new("SDK customer".into()), None)
        .await
        .expect("application.get_or_create");
    assert_ne!(again.id, created.id, "no uid given, so a new application");
    let app_id = created.id.clone();

    // Endpoints.
    let mut ep_in = EndpointIn::new(rx.url("/sdk"));
    ep_in.uid = Some("sdk-endpoint".into());
    ep_in.description = Some("from the SDK".into());
    ep_in.event_types = Some(BTreeSet::from(["user.signup".to_owned()]));
    let ep = svix
        .endpoint()
        .create(app_id.clone(), ep_in, None)
        .await
        .expect("endpoint.create");
    assert!(ep.id.starts_with("ep_"), "{ep:?}");
    assert_eq!(ep.url, rx.url("/sdk"));
    assert_eq!(ep.description, "from the SDK");
    assert_eq!(ep.uid.as_deref(), Some("sdk-endpoint"));
    assert_eq!(
        ep.event_types,
        Some(BTreeSet::from(["user.signup".to_owned()]))
    );
    let fetched = svix
        .endpoint()
        .get(app_id.clone(), "sdk-endpoint".into())
        .await
        .expect("endpoint.get by uid");
    assert_eq!(fetched.id, ep.id);
    let secret = svix
        .endpoint()
        .get_secret(app_id.clone(), ep.id.clone())
        .await
        .expect("endpoint.get_secret")
        .key;
    assert!(secret.starts_with("whsec_"), "{secret}");

    // Messages.
    let mut msg_ids = Vec::new();
    for n in 0..3 {
        let mut msg_in = MessageIn::new("user.signup".into(), serde_json::json!({ "n": n }));
        if n == 0 {
            msg_in.event_id = Some("signup-0".into());
        }
        let out = svix
            .message()
            .create(app_id.clone(), msg_in, None)
            .await
            .expect("message.create");
        assert!(out.id.starts_with("msg_"), "{out:?}");
        assert_eq!(out.event_type, "user.signup");
        msg_ids.push(out.id);
    }
    let dup = svix
        .message()
        .create(
            app_id.clone(),
            {
                let mut m = MessageIn::new("user.signup".into(), serde_json::json!({}));
                m.event_id = Some("signup-0".into());
                m
            },
            None,
        )
        .await;
    match dup {
        Err(svix::error::Error::Http(e)) => {
            assert_eq!(e.status.as_u16(), 409);
            let payload = e.payload.expect("the SDK parses {code, detail}");
            assert!(!payload.code.is_empty() && !payload.detail.is_empty());
        }
        other => panic!("duplicate eventId should be an HTTP 409, got {other:?}"),
    }
    let listed = svix
        .message()
        .list(app_id.clone(), None)
        .await
        .expect("message.list");
    assert_eq!(listed.data.len(), 3, "{listed:?}");
    assert!(listed.done);
    let listed_ids: BTreeSet<_> = listed.data.iter().map(|m| m.id.clone()).collect();
    assert_eq!(listed_ids, msg_ids.iter().cloned().collect());

    // Deliveries, observed through the attempt listings.
    let got = rx.wait_for("/sdk", 3).await;
    for request in &got {
        svix_verify(&secret, &request.body, &request.headers)
            .expect("the SDK's secret verifies the delivery");
    }
    let mut seen: Vec<_> = got
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    seen.sort();
    let mut want = msg_ids.clone();
    want.sort();
    assert_eq!(seen, want);

    for msg_id in &msg_ids {
        let attempts = crate::helpers::eventually(
            "an attempt listed through the SDK",
            crate::helpers::DEADLINE,
            || async {
                let page = svix
                    .message_attempt()
                    .list_by_msg(app_id.clone(), msg_id.clone(), None)
                    .await
                    .expect("message_attempt.list_by_msg");
                (!page.data.is_empty()).then_some(page)
            },
        )
        .await;
        assert_eq!(attempts.data.len(), 1, "{attempts:?}");
        let a = &attempts.data[0];
        assert_eq!(a.status, MessageStatus::Success);
        assert_eq!(a.response_status_code, 200);
        assert_eq!(a.trigger_type, MessageAttemptTriggerType::Scheduled);
        assert_eq!(&a.msg_id, msg_id);
        assert_eq!(a.endpoint_id, ep.id);
    }
    let by_endpoint = svix
        .message_attempt()
        .list_by_endpoint(app_id.clone(), ep.id.clone(), None)
        .await
        .expect("message_attempt.list_by_endpoint");
    assert_eq!(by_endpoint.data.len(), 3, "{by_endpoint:?}");
    assert!(
        by_endpoint
            .data
            .iter()
            .all(|a| a.status == MessageStatus::Success)
    );

    let stats = svix
        .endpoint()
        .get_stats(app_id.clone(), ep.id.clone(), None)
        .await
        .expect("endpoint.get_stats");
    assert_eq!(
        (stats.success, stats.pending, stats.sending, stats.fail),
        (3, 0, 0, 0),
        "{stats:?}"
    );

    // Resend one message.
    svix.message_attempt()
        .resend(app_id.clone(), msg_ids[0].clone(), ep.id.clone(), None)
        .await
        .expect("message_attempt.resend");
    let got = rx.wait_for("/sdk", 4).await;
    assert_eq!(got[3].header("webhook-id"), msg_ids[0]);
    let attempts = crate::helpers::eventually(
        "the resend to be listed",
        crate::helpers::DEADLINE,
        || async {
            let page = svix
                .message_attempt()
                .list_by_msg(
                    app_id.clone(),
                    msg_ids[0].clone(),
                    Some(MessageAttemptListByMsgOptions {
                        endpoint_id: Some(ep.id.clone()),
                        ..Default::default()
                    }),
                )
                .await
                .expect("message_attempt.list_by_msg");
            (page.data.len() >= 2).then_some(page)
        },
    )
    .await;
    assert_eq!(attempts.data.len(), 2);
    assert_eq!(
        attempts.data[0].trigger_type,
        MessageAttemptTriggerType::Manual
    );

    // Rotate the secret; the next delivery verifies with the new one.
    let rotated = svix
        .endpoint()
        .rotate_secret(
            app_id.clone(),
            ep.id.clone(),
            EndpointSecretRotateIn::new(),
            None,
        )
        .await
        .expect("endpoint.rotate_secret");
    let new_secret = svix
        .endpoint()
        .get_secret(app_id.clone(), ep.id.clone())
        .await
        .expect("endpoint.get_secret after rotation")
        .key;
    assert_ne!(new_secret, secret);
    assert_eq!(rotated.key, new_secret, "rotate returns the new secret");
    svix.message()
        .create(
            app_id.clone(),
            MessageIn::new(
                "user.signup".into(),
                serde_json::json!({ "after": "rotation" }),
            ),
            None,
        )
        .await
        .expect("message.create after rotation");
    let got = rx.wait_for("/sdk", 5).await;
    svix_verify(&new_secret, &got[4].body, &got[4].headers).expect("verifies with the new key");
    svix_verify(&secret, &got[4].body, &got[4].headers).expect("the old key is in grace");
}

/// The HTTP status of an SDK error, if it came from an answer.
fn status_of(err: &svix::error::Error) -> Option<u16> {
    match err {
        svix::error::Error::Http(e) => Some(e.status.as_u16()),
        svix::error::Error::Validation(e) => Some(e.status.as_u16()),
        _ => None,
    }
}

async fn the_svix_sdk_mints_app_portal_tokens_that_are_scoped_and_can_log_out(store: StoreKind) {
    let app = spawn_app(store).await;
    let svix = client(&app.address);
    let mut access = AppPortalAccessIn::new();
    access.application = Some(ApplicationIn::new("Portal customer".into()));
    let out = svix
        .authentication()
        .app_portal_access("portal-customer".into(), access, None)
        .await
        .expect("authentication.app_portal_access");
    assert!(out.token.starts_with("appsk_"), "{}", out.token);
    assert!(
        out.url
            .contains(&format!("/ui/#token={}&app=app_", out.token)),
        "{}",
        out.url
    );
    let created = svix
        .application()
        .get("portal-customer".into())
        .await
        .expect("the application was created with the path key as uid");
    assert_eq!(created.name, "Portal customer");

    let portal = client_with(&app.address, &out.token);
    let ep = portal
        .endpoint()
        .create(
            "portal-customer".into(),
            EndpointIn::new("https://receiver.example/portal".into()),
            None,
        )
        .await
        .expect("endpoint.create with the app token");
    let listed = portal
        .endpoint()
        .list(created.id.clone(), None)
        .await
        .expect("endpoint.list with the app token");
    assert_eq!(listed.data.len(), 1);
    assert_eq!(listed.data[0].id, ep.id);
    let err = portal
        .application()
        .list(None)
        .await
        .expect_err("app tokens cannot list applications");
    assert_eq!(status_of(&err), Some(403), "{err:?}");

    portal
        .authentication()
        .logout(None)
        .await
        .expect("authentication.logout");
    let err = portal
        .endpoint()
        .list(created.id.clone(), None)
        .await
        .expect_err("a logged-out token is refused");
    assert_eq!(status_of(&err), Some(401), "{err:?}");
}
