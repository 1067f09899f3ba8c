//! The `Store` conformance suite: behaviour every store implementation must show.
//!
//! Each check is an `async fn(DynStore)` written against the trait only; `store_tests!`
//! (the integration binary's `per_store!` with a store fixture) turns a list of them into
//! `#[tokio::test]`s that run each check on a fresh store of each kind: a SQLite file in a
//! temporary directory, and a new database on the local Postgres.

mod claims;
mod isolation;
mod operability;
mod outcomes;
mod requeue;
mod resources;
mod retention;
mod routing;
mod tokens;
mod views;

use crate::stores::StoreKind;
use chrono::{DateTime, Utc};
use hookline::delivery::gate::{BreakerPolicy, ClaimPolicy};
use hookline::domain::{
    AppId, AttemptId, Channel, EndpointId, EndpointSecret, EndpointUrl, EventTypeName, MessageId,
    Uid,
};
use hookline::store::{
    Application, ApplicationFields, Attempt, AttemptFilter, ClaimedDelivery, Cursor,
    DeliveryStatus, DynStore, Endpoint, EndpointFields, ErrorClass, Message, NewMessage, NextStep,
    Order, Outcome, PageRequest, Sealer, TriggerType,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// A lease long enough never to expire during a test.
pub const LONG_LEASE: Duration = Duration::from_secs(600);
/// A lease short enough to wait out.
pub const SHORT_LEASE: Duration = Duration::from_millis(150);
/// Worker ids.
pub const WORKER_A: &str = "worker-a";
/// A second worker.
pub const WORKER_B: &str = "worker-b";

/// Generates one `#[tokio::test]` per check and store kind (`sqlite::<check>`,
/// `postgres::<check>`), each on a fresh store: `per_store!` with this suite's fixture.
macro_rules! store_tests {
    ($($check:ident),* $(,)?) => {
        crate::stores::per_store!(run = crate::store_conformance::on_fresh_store; $($check),*);
    };
}
pub(crate) use store_tests;

/// The main secret of the suite's stores: every check also proves that sealed secrets are
/// written and read back as the trait promises (the API tests run without one).
const MAIN_SECRET: &str = "conformance-main-secret";

/// Runs `check` on a freshly migrated store of `kind` that encrypts secrets at rest,
/// removed afterwards.
pub async fn on_fresh_store<F, Fut>(kind: StoreKind, check: F)
where
    F: FnOnce(DynStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let sealer = || Sealer::new(Some(MAIN_SECRET));
    match kind {
        StoreKind::Sqlite => {
            let dir = tempfile::tempdir().expect("creating a temporary directory");
            let url = format!("sqlite://{}", dir.path().join("hookline.db").display());
            let store = hookline::store::open(&url, sealer())
                .await
                .expect("opening the store");
            store.migrate().await.expect("migrating the store");
            store
                .prepare_secrets_at_rest()
                .await
                .expect("writing the key check");
            check(store).await;
        }
        StoreKind::Postgres => {
            let (store, _db) = crate::pg_support::fresh_pg_store(sealer()).await;
            store
                .prepare_secrets_at_rest()
                .await
                .expect("writing the key check");
            check(store).await;
        }
    }
}

/// Parses an event-type name.
pub fn ty(s: &str) -> EventTypeName {
    EventTypeName::parse(s).expect("valid event type")
}

/// Parses a channel.
pub fn ch(s: &str) -> Channel {
    Channel::parse(s).expect("valid channel")
}

/// Parses a uid.
pub fn uid(s: &str) -> Uid {
    Uid::parse(s).expect("valid uid")
}

/// Application fields with a name and optional uid.
pub fn app_fields(name: &str, uid_text: Option<&str>) -> ApplicationFields {
    ApplicationFields {
        uid: uid_text.map(uid),
        name: name.to_owned(),
        throttle_rate: None,
        metadata: BTreeMap::from([("tier".to_owned(), "gold".to_owned())]),
    }
}

/// Creates an application.
pub async fn new_app(store: &DynStore, uid_text: Option<&str>) -> Application {
    store
        .create_application(&app_fields("Acme", uid_text))
        .await
        .expect("creating an application")
}

/// Endpoint fields with no filters.
pub fn endpoint_fields(url: &str) -> EndpointFields {
    EndpointFields {
        uid: None,
        url: EndpointUrl::parse(url).expect("valid url"),
        description: "receiver".to_owned(),
        concurrency_limit: None,
        disabled: false,
        event_types: None,
        channels: None,
        throttle_rate: None,
        metadata: BTreeMap::new(),
    }
}

/// Creates an endpoint with a fresh secret and one custom header.
pub async fn new_endpoint(store: &DynStore, app: &AppId, fields: EndpointFields) -> Endpoint {
    let headers = BTreeMap::from([("x-tenant".to_owned(), "acme".to_owned())]);
    store
        .create_endpoint(app, &fields, &EndpointSecret::generate(), &headers)
        .await
        .expect("creating an endpoint")
}

/// Creates an unfiltered endpoint.
pub async fn plain_endpoint(store: &DynStore, app: &AppId) -> Endpoint {
    new_endpoint(store, app, endpoint_fields("https://receiver.example/hook")).await
}

/// A message of `event_type` on `channels`, created now.
pub fn message(app: &AppId, event_type: &str, channels: Option<&[&str]>) -> NewMessage {
    message_at(app, event_type, channels, Utc::now())
}

/// A message created at `created_at`.
pub fn message_at(
    app: &AppId,
    event_type: &str,
    channels: Option<&[&str]>,
    created_at: DateTime<Utc>,
) -> NewMessage {
    NewMessage {
        message: Message {
            id: MessageId::generate(),
            app_id: app.clone(),
            event_type: ty(event_type),
            event_id: None,
            channels: channels.map(|cs| cs.iter().map(|c| ch(c)).collect()),
            payload: Some(r#"{"type":"test"}"#.to_owned()),
            created_at,
        },
        retention: chrono::Duration::days(90),
    }
}

/// Stores a message and returns its id and how many deliveries it got.
pub async fn post(store: &DynStore, msg: NewMessage) -> (MessageId, usize) {
    let id = msg.message.id.clone();
    let n = store
        .create_message(&msg)
        .await
        .expect("creating a message");
    (id, n)
}

/// A claim policy that holds nothing back (no bulkhead to speak of, a breaker that
/// never opens), for checks about the queue itself; isolation checks build their own.
pub fn open_policy() -> ClaimPolicy {
    ClaimPolicy {
        endpoint_concurrency: 100_000,
        rate_lookahead: Duration::from_secs(1),
        breaker: BreakerPolicy {
            consecutive_failures: u32::MAX,
            failure_rate: 2.0,
            min_volume: u32::MAX,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(60),
            disable_after: Duration::from_secs(3650 * 24 * 3600),
        },
        sending: None,
    }
}

/// Claims with a long lease.
pub async fn claim(store: &DynStore, worker: &str, limit: usize) -> Vec<ClaimedDelivery> {
    claim_for(store, worker, limit, LONG_LEASE).await
}

/// Claims with a lease of `lease`.
pub async fn claim_for(
    store: &DynStore,
    worker: &str,
    limit: usize,
    lease: Duration,
) -> Vec<ClaimedDelivery> {
    store
        .claim(worker, limit, lease, &open_policy())
        .await
        .expect("claiming deliveries")
}

/// The attempt a worker would record for `claimed`, answered with `code` (0 = no answer).
pub fn attempt_for(claimed: &ClaimedDelivery, code: i16) -> Attempt {
    let ok = (200..300).contains(&code);
    Attempt {
        id: AttemptId::generate(),
        msg_id: claimed.msg_id.clone(),
        endpoint_id: claimed.endpoint_id.clone(),
        app_id: claimed.app_id.clone(),
        url: claimed.url.clone(),
        status: if ok {
            DeliveryStatus::Success
        } else {
            DeliveryStatus::Fail
        },
        response_status_code: code,
        response: format!("answered {code}"),
        response_duration_ms: 12,
        trigger_type: claimed.trigger_type,
        error_class: match code {
            0 => Some(ErrorClass::Timeout),
            200..=299 => None,
            _ => Some(ErrorClass::HttpStatus),
        },
        created_at: Utc::now(),
    }
}

/// An outcome of `claimed` by `worker` with the answer `code` and the next step.
pub fn outcome(claimed: &ClaimedDelivery, worker: &str, code: i16, next: NextStep) -> Outcome {
    Outcome {
        delivery_id: claimed.delivery_id,
        row_version: claimed.row_version.clone(),
        worker_id: worker.to_owned(),
        attempt: attempt_for(claimed, code),
        next,
        disable_endpoint: false,
    }
}

/// Records outcomes, failing the test on error.
pub async fn record(store: &DynStore, outcomes: Vec<Outcome>) {
    store
        .record_outcomes(&outcomes, &open_policy().breaker)
        .await
        .expect("recording outcomes");
}

/// Records every delivery of `claimed` as delivered with a 200, by [`WORKER_A`].
pub async fn record_delivered(store: &DynStore, claimed: &[ClaimedDelivery]) {
    let outcomes = claimed
        .iter()
        .map(|c| outcome(c, WORKER_A, 200, NextStep::Delivered))
        .collect();
    record(store, outcomes).await;
}

/// The delivery state of `msg` to `endpoint`, from the attempted-destinations view.
pub async fn state_of(
    store: &DynStore,
    app: &AppId,
    msg: &MessageId,
    endpoint: &EndpointId,
) -> hookline::store::DeliveryState {
    let page = store
        .list_attempted_destinations(app, msg, &first_page(50, Order::Ascending))
        .await
        .expect("listing attempted destinations");
    page.items
        .into_iter()
        .find(|(e, _)| &e.id == endpoint)
        .map(|(_, s)| s)
        .expect("the message has a delivery to the endpoint")
}

/// The first page of a listing.
pub fn first_page(limit: usize, order: Order) -> PageRequest {
    PageRequest {
        limit,
        cursor: None,
        order,
    }
}

/// The page after (or, `backwards`, before) the item with sort key `key`.
pub fn page_from(limit: usize, order: Order, key: &str, backwards: bool) -> PageRequest {
    PageRequest {
        limit,
        cursor: Some(Cursor {
            key: key.to_owned(),
            backwards,
        }),
        order,
    }
}

/// Trigger type helper for readability in assertions.
pub const MANUAL: TriggerType = TriggerType::Manual;
/// Scheduled trigger.
pub const SCHEDULED: TriggerType = TriggerType::Scheduled;

/// An attempt filter that lets everything through.
pub fn no_filter() -> AttemptFilter {
    AttemptFilter {
        msg_id: None,
        endpoint_id: None,
        status: None,
        status_code_class: None,
        channel: None,
        event_types: None,
        before: None,
        after: None,
    }
}

/// Every attempt to `endpoint`, oldest first.
pub async fn attempt_log(store: &DynStore, app: &AppId, endpoint: &Endpoint) -> Vec<Attempt> {
    let filter = AttemptFilter {
        endpoint_id: Some(endpoint.id.clone()),
        ..no_filter()
    };
    store
        .list_attempts(app, &filter, &first_page(100, Order::Ascending))
        .await
        .expect("listing attempts")
        .items
}
