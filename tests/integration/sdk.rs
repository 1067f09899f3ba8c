//! Wire compatibility: the official Svix Rust SDK drives Hookline with nothing but its
//! server URL changed.

use crate::helpers::{Receiver, StoreKind, TOKEN, per_store, spawn_app, svix_verify};
use std::collections::BTreeSet;
use svix::api::{MessageAttemptListByMsgOptions, Svix, SvixOptions};
use svix::models::{
    ApplicationIn, EndpointIn, EndpointSecretRotateIn, MessageAttemptTriggerType, MessageIn,
    MessageStatus,
};

per_store!(the_official_svix_sdk_works_against_hookline,);

fn client(base_url: &str) -> Svix {
    Svix::new(
        TOKEN.into(),
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
