//! Two API processes on one database get the same `idempotency-key` at the same moment:
//! the database decides, so one message is created per key, never two.

use super::Fleet;
use axum::http::StatusCode;
use serde_json::Value;
use std::collections::BTreeMap;

const KEYS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_sent_to_two_api_processes_at_once_creates_one_message() {
    let fleet = Fleet::exclusive().await;
    let apis = [fleet.start_api().await, fleet.start_api().await];
    assert_ne!(apis[0].port, apis[1].port);
    let app_id = apis[0].client.create_app("Idempotent fleet").await;
    let path = format!("/api/v1/app/{app_id}/msg");
    let body = |k: usize| format!(r#"{{"eventType":"order.created","payload":{{"key":{k}}}}}"#);
    let key = |k: usize| format!("order-{k}");

    // Every request of every key at once, each key to both processes.
    let requests = (0..KEYS).flat_map(|k| {
        let (path, body, key) = (&path, body(k), key(k));
        apis.iter().map(move |api| {
            let (body, key) = (body.clone(), key.clone());
            async move {
                let response = api
                    .client
                    .post_raw(path, body, &[("idempotency-key", &key)])
                    .await;
                (k, response)
            }
        })
    });
    let responses = futures::future::join_all(requests).await;

    let mut winners: BTreeMap<usize, String> = BTreeMap::new();
    let mut in_progress = 0;
    for k in 0..KEYS {
        let answers: Vec<&(StatusCode, Value)> = responses
            .iter()
            .filter(|(key, _)| *key == k)
            .map(|(_, answer)| answer)
            .collect();
        assert_eq!(answers.len(), 2);
        let mut ids = Vec::new();
        for (status, body) in &answers {
            match *status {
                StatusCode::ACCEPTED => {
                    ids.push(body["id"].as_str().expect("message id").to_owned());
                }
                StatusCode::CONFLICT => {
                    assert!(
                        body["detail"]
                            .as_str()
                            .is_some_and(|d| d.contains("in progress")),
                        "key {k}: a 409 says the first request is in progress: {body}"
                    );
                    in_progress += 1;
                }
                other => panic!("key {k}: unexpected {other}: {body}"),
            }
        }
        assert!(
            !ids.is_empty(),
            "key {k}: neither request created a message"
        );
        ids.dedup();
        assert_eq!(
            ids.len(),
            1,
            "key {k}: two different messages were created: {answers:?}"
        );
        winners.insert(k, ids.remove(0));
    }
    println!("idempotency: {in_progress} of {KEYS} keys answered 409 in progress on one process");

    let messages = apis[1].client.list_all(&path).await;
    let mut per_key: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for m in &messages {
        let k = m["payload"]["key"]
            .as_u64()
            .and_then(|k| usize::try_from(k).ok())
            .unwrap_or_else(|| panic!("message without its key: {m}"));
        per_key
            .entry(k)
            .or_default()
            .push(m["id"].as_str().expect("message id").to_owned());
    }
    let expected: BTreeMap<usize, Vec<String>> = winners
        .iter()
        .map(|(k, id)| (*k, vec![id.clone()]))
        .collect();
    assert_eq!(
        per_key, expected,
        "exactly one message per key, the one answered"
    );

    // Afterwards either process replays the stored answer.
    for (k, id) in &winners {
        for api in &apis {
            let (status, replayed) = api
                .client
                .post_raw(&path, body(*k), &[("idempotency-key", &key(*k))])
                .await;
            assert_eq!(
                status,
                StatusCode::ACCEPTED,
                "replay of key {k}: {replayed}"
            );
            assert_eq!(replayed["id"], id.as_str(), "replay of key {k}");
        }
    }
    assert_eq!(apis[0].client.list_all(&path).await.len(), KEYS);
    for api in apis {
        let finished = api.process.terminate().await;
        assert!(finished.status.success(), "{}", finished.stderr);
    }
}
