//! Applications, endpoints, event types, API tokens, idempotency keys and secrets.

use super::*;
use hookline::store::{EventTypeFields, IdempotencyState, Store, StoreError, StoredResponse};

store_tests!(
    application_is_found_by_id_and_by_uid_and_is_gone_after_delete,
    application_uid_must_be_unique,
    endpoint_uid_is_unique_within_its_application_only,
    endpoint_changes_are_stored,
    deleting_an_application_deletes_what_it_owns,
    event_types_are_listed_by_name_and_archived_ones_are_hidden_by_default,
    api_token_hashes_are_remembered_once,
    idempotency_key_is_owned_by_one_request_and_replays_its_response,
    rotated_secret_keeps_signing_until_its_grace_period_ends,
);

pub async fn application_is_found_by_id_and_by_uid_and_is_gone_after_delete(store: DynStore) {
    let app = new_app(&store, Some("customer-1")).await;
    assert!(app.id.as_str().starts_with("app_"));
    assert_eq!(app.metadata.get("tier").map(String::as_str), Some("gold"));

    let by_id = store.get_application(app.id.as_str()).await.expect("get");
    let by_uid = store.get_application("customer-1").await.expect("get");
    assert_eq!(by_id.map(|a| a.id), Some(app.id.clone()));
    assert_eq!(by_uid.map(|a| a.id), Some(app.id.clone()));
    assert!(
        store
            .get_application("nobody")
            .await
            .expect("get")
            .is_none()
    );

    let mut fields = app_fields("Acme Corp", Some("customer-one"));
    fields.throttle_rate = Some(20);
    let updated = store
        .update_application(&app.id, &fields)
        .await
        .expect("update");
    assert_eq!(updated.name, "Acme Corp");
    assert_eq!(updated.throttle_rate, Some(20));
    assert!(updated.updated_at >= app.updated_at);
    assert_eq!(updated.created_at, app.created_at);
    assert!(
        store
            .get_application("customer-1")
            .await
            .expect("get")
            .is_none()
    );
    let again = store.get_application("customer-one").await.expect("get");
    assert_eq!(again.map(|a| a.name), Some("Acme Corp".to_owned()));

    store.delete_application(&app.id).await.expect("delete");
    assert!(
        store
            .get_application(app.id.as_str())
            .await
            .expect("get")
            .is_none()
    );
    let missing = store.delete_application(&app.id).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    let missing = store.update_application(&app.id, &fields).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn application_uid_must_be_unique(store: DynStore) {
    new_app(&store, Some("taken")).await;
    let err = store
        .create_application(&app_fields("Other", Some("taken")))
        .await
        .expect_err("a second application with the same uid");
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("uid")),
        "{err:?}"
    );

    let other = new_app(&store, Some("free")).await;
    let err = store
        .update_application(&other.id, &app_fields("Other", Some("taken")))
        .await
        .expect_err("renaming onto a taken uid");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // Applications without a uid never collide.
    new_app(&store, None).await;
    new_app(&store, None).await;
}

pub async fn endpoint_uid_is_unique_within_its_application_only(store: DynStore) {
    let app = new_app(&store, None).await;
    let other_app = new_app(&store, None).await;
    let mut fields = endpoint_fields("https://a.example/hook");
    fields.uid = Some(uid("primary"));
    let ep = new_endpoint(&store, &app.id, fields.clone()).await;
    assert!(ep.id.as_str().starts_with("ep_"));

    let err = store
        .create_endpoint(
            &app.id,
            &fields,
            &EndpointSecret::generate(),
            &BTreeMap::new(),
        )
        .await
        .expect_err("same uid in the same application");
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("uid")),
        "{err:?}"
    );
    let elsewhere = new_endpoint(&store, &other_app.id, fields).await;

    let found = store.get_endpoint(&app.id, "primary").await.expect("get");
    assert_eq!(found.map(|e| e.id), Some(ep.id.clone()));
    let found = store
        .get_endpoint(&app.id, ep.id.as_str())
        .await
        .expect("get");
    assert_eq!(found.map(|e| e.id), Some(ep.id.clone()));
    let found = store
        .get_endpoint(&other_app.id, "primary")
        .await
        .expect("get");
    assert_eq!(found.map(|e| e.id), Some(elsewhere.id));
    // Another application's endpoint id does not resolve.
    let found = store
        .get_endpoint(&other_app.id, ep.id.as_str())
        .await
        .expect("get");
    assert!(found.is_none());

    let missing = store
        .create_endpoint(
            &AppId::generate(),
            &endpoint_fields("https://a.example/"),
            &EndpointSecret::generate(),
            &BTreeMap::new(),
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn endpoint_changes_are_stored(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    assert_eq!(ep.headers.get("x-tenant").map(String::as_str), Some("acme"));
    assert!(ep.retired_secrets.is_empty());

    let mut fields = endpoint_fields("https://b.example/new");
    fields.uid = Some(uid("renamed"));
    fields.disabled = true;
    fields.event_types = Some(vec![ty("invoice.paid")]);
    fields.channels = Some(vec![ch("eu")]);
    fields.throttle_rate = Some(5);
    fields.metadata = BTreeMap::from([("team".to_owned(), "billing".to_owned())]);
    let updated = store
        .update_endpoint(&app.id, &ep.id, &fields)
        .await
        .expect("update");
    assert_eq!(updated.url.as_str(), "https://b.example/new");
    assert!(updated.disabled);
    assert_eq!(updated.event_types, Some(vec![ty("invoice.paid")]));
    assert_eq!(updated.channels, Some(vec![ch("eu")]));
    assert_eq!(updated.throttle_rate, Some(5));
    assert_eq!(updated.secret, ep.secret, "an update keeps the secret");

    let headers = BTreeMap::from([("authorization".to_owned(), "Bearer x".to_owned())]);
    store
        .set_endpoint_headers(&app.id, &ep.id, &headers)
        .await
        .expect("headers");
    let read = store
        .get_endpoint(&app.id, "renamed")
        .await
        .expect("get")
        .expect("the endpoint exists");
    assert_eq!(read.headers, headers);
    assert_eq!(
        read.metadata.get("team").map(String::as_str),
        Some("billing")
    );

    store
        .delete_endpoint(&app.id, &ep.id)
        .await
        .expect("delete");
    assert!(
        store
            .get_endpoint(&app.id, ep.id.as_str())
            .await
            .expect("get")
            .is_none()
    );
    let missing = store.delete_endpoint(&app.id, &ep.id).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    let missing = store.set_endpoint_headers(&app.id, &ep.id, &headers).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn deleting_an_application_deletes_what_it_owns(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let (msg, _) = post(&store, message(&app.id, "a", None)).await;
    store.delete_application(&app.id).await.expect("delete");

    assert!(
        store
            .get_endpoint(&app.id, ep.id.as_str())
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        store
            .get_message(&app.id, msg.as_str())
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        claim(&store, WORKER_A, 10).await.is_empty(),
        "its deliveries went too"
    );
}

pub async fn event_types_are_listed_by_name_and_archived_ones_are_hidden_by_default(
    store: DynStore,
) {
    let fields = |description: &str| EventTypeFields {
        description: description.to_owned(),
        archived: false,
        deprecated: false,
        feature_flag: None,
        schemas: Some(serde_json::json!({"1": {"type": "object"}})),
    };
    for name in ["user.created", "invoice.paid", "invoice.void"] {
        store
            .create_event_type(&ty(name), &fields(name))
            .await
            .expect("create");
    }
    let err = store
        .create_event_type(&ty("invoice.paid"), &fields("again"))
        .await
        .expect_err("a duplicate name");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    store
        .archive_event_type(&ty("invoice.void"))
        .await
        .expect("archive");
    let names = |page: hookline::store::Page<hookline::store::EventType>| {
        page.items
            .into_iter()
            .map(|t| t.name.to_string())
            .collect::<Vec<_>>()
    };
    let shown = store
        .list_event_types(&first_page(10, Order::Ascending), false)
        .await
        .expect("list");
    assert_eq!(names(shown), ["invoice.paid", "user.created"]);
    let all = store
        .list_event_types(&first_page(2, Order::Ascending), true)
        .await
        .expect("list");
    assert!(all.more);
    assert_eq!(names(all), ["invoice.paid", "invoice.void"]);
    let rest = store
        .list_event_types(&page_from(2, Order::Ascending, "invoice.void", false), true)
        .await
        .expect("list");
    assert!(!rest.more);
    assert_eq!(names(rest), ["user.created"]);

    let archived = store
        .get_event_type(&ty("invoice.void"))
        .await
        .expect("get");
    assert!(archived.is_some_and(|t| t.archived));
    let mut changed = fields("paid invoices");
    changed.deprecated = true;
    changed.feature_flag = Some("beta".to_owned());
    let updated = store
        .update_event_type(&ty("invoice.paid"), &changed)
        .await
        .expect("update");
    assert_eq!(updated.description, "paid invoices");
    assert!(updated.deprecated);
    assert_eq!(updated.feature_flag.as_deref(), Some("beta"));
    assert_eq!(updated.schemas, changed.schemas);

    let missing = store.update_event_type(&ty("nope"), &changed).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    let missing = store.archive_event_type(&ty("nope")).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    assert!(
        store
            .get_event_type(&ty("nope"))
            .await
            .expect("get")
            .is_none()
    );
}

pub async fn api_token_hashes_are_remembered_once(store: DynStore) {
    assert!(store.api_token_hashes().await.expect("hashes").is_empty());
    let hash = "ab".repeat(32);
    store.insert_api_token_hash(&hash).await.expect("insert");
    store
        .insert_api_token_hash(&hash)
        .await
        .expect("insert again");
    assert_eq!(store.api_token_hashes().await.expect("hashes"), [hash]);
}

pub async fn idempotency_key_is_owned_by_one_request_and_replays_its_response(store: DynStore) {
    let begin = |key: &'static str, fp: &'static str| {
        let store = store.clone();
        async move { store.idempotency_begin(key, fp).await.expect("begin") }
    };
    assert_eq!(begin("k1", "fp-a").await, IdempotencyState::Started);
    assert_eq!(begin("k1", "fp-a").await, IdempotencyState::InProgress);
    assert_eq!(begin("k1", "fp-b").await, IdempotencyState::Mismatch);

    let response = StoredResponse {
        status: 202,
        body: br#"{"id":"msg_1"}"#.to_vec(),
    };
    store
        .idempotency_complete("k1", &response)
        .await
        .expect("complete");
    assert_eq!(
        begin("k1", "fp-a").await,
        IdempotencyState::Completed(response)
    );
    assert_eq!(begin("k1", "fp-b").await, IdempotencyState::Mismatch);

    assert_eq!(begin("k2", "fp-a").await, IdempotencyState::Started);
    store.idempotency_abandon("k2").await.expect("abandon");
    assert_eq!(
        begin("k2", "fp-c").await,
        IdempotencyState::Started,
        "an abandoned key is free again"
    );
}

pub async fn rotated_secret_keeps_signing_until_its_grace_period_ends(store: DynStore) {
    let app = new_app(&store, None).await;
    let ep = plain_endpoint(&store, &app.id).await;
    let first = ep.secret.clone();
    let second = EndpointSecret::generate();
    let third = EndpointSecret::generate();

    store
        .rotate_endpoint_secret(&app.id, &ep.id, &second, Duration::from_millis(400))
        .await
        .expect("rotate");
    let read = get_endpoint(&store, &app.id, &ep.id).await;
    assert_eq!(read.secret, second);
    let retired: Vec<_> = read
        .retired_secrets
        .iter()
        .map(|r| r.secret.clone())
        .collect();
    assert_eq!(retired, std::slice::from_ref(&first));
    assert!(read.retired_secrets[0].expires_at > Utc::now());

    post(&store, message(&app.id, "a", None)).await;
    let claimed = claim(&store, WORKER_A, 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].secrets, [second.clone(), first.clone()]);

    // A rotation with no grace stops the old key at once; the older one is still in grace.
    store
        .rotate_endpoint_secret(&app.id, &ep.id, &third, Duration::ZERO)
        .await
        .expect("rotate");
    let read = get_endpoint(&store, &app.id, &ep.id).await;
    let retired: Vec<_> = read
        .retired_secrets
        .iter()
        .map(|r| r.secret.clone())
        .collect();
    assert_eq!(retired, std::slice::from_ref(&first));

    tokio::time::sleep(Duration::from_millis(450)).await;
    post(&store, message(&app.id, "a", None)).await;
    let claimed = claim(&store, WORKER_A, 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].secrets, [third], "expired keys no longer sign");
    let read = get_endpoint(&store, &app.id, &ep.id).await;
    assert!(read.retired_secrets.is_empty());

    let missing = store
        .rotate_endpoint_secret(&app.id, &EndpointId::generate(), &first, Duration::ZERO)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

async fn get_endpoint(store: &DynStore, app: &AppId, id: &EndpointId) -> Endpoint {
    let store: &dyn Store = store.as_ref();
    store
        .get_endpoint(app, id.as_str())
        .await
        .expect("get")
        .expect("the endpoint exists")
}
