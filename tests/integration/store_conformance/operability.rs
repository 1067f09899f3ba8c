//! The fleet-wide views operators watch: queue depth by state, attempts per time bucket,
//! and the breakers that are not closed.

use super::*;
use hookline::delivery::gate::BreakerState;
use hookline::store::ATTEMPT_BUCKET;

store_tests!(
    queue_depth_counts_each_delivery_in_its_state,
    attempt_counts_split_attempts_by_time_bucket_and_result,
    open_breakers_list_enabled_endpoints_longest_in_their_state_first,
);

async fn depth(store: &DynStore) -> hookline::store::QueueDepth {
    store.queue_depth().await.expect("reading queue depth")
}

fn states(d: &hookline::store::QueueDepth) -> (i64, i64, i64, i64) {
    (d.due, d.delayed, d.sending, d.failed)
}

pub async fn queue_depth_counts_each_delivery_in_its_state(store: DynStore) {
    assert_eq!(depth(&store).await, Default::default(), "an empty store");
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    let before = Utc::now() - chrono::Duration::seconds(1);
    for _ in 0..5 {
        post(&store, message(&app.id, "order.created", None)).await;
    }
    let d = depth(&store).await;
    assert_eq!(states(&d), (5, 0, 0, 0));
    let oldest = d.oldest_due.expect("due deliveries have an oldest");
    assert!(
        oldest >= before && oldest <= Utc::now(),
        "oldest due {oldest}"
    );

    let sending = claim(&store, WORKER_A, 1).await;
    assert_eq!(states(&depth(&store).await), (4, 0, 1, 0));
    let later = NextStep::RetryAt(Utc::now() + chrono::Duration::hours(1));
    let retried = claim(&store, WORKER_A, 1).await;
    record(&store, vec![outcome(&retried[0], WORKER_A, 500, later)]).await;
    let failed = claim(&store, WORKER_A, 1).await;
    record(
        &store,
        vec![outcome(&failed[0], WORKER_A, 500, NextStep::Failed)],
    )
    .await;
    let delivered = claim(&store, WORKER_A, 1).await;
    record(
        &store,
        vec![outcome(&delivered[0], WORKER_A, 200, NextStep::Delivered)],
    )
    .await;
    assert_eq!(
        states(&depth(&store).await),
        (1, 1, 1, 1),
        "delivered ones are in no queue state"
    );

    let lost = claim_for(&store, WORKER_B, 1, SHORT_LEASE).await;
    assert_eq!(lost.len(), 1);
    let d = depth(&store).await;
    assert_eq!(states(&d), (0, 1, 2, 1));
    assert_eq!(d.oldest_due, None, "nothing is due");
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(100)).await;
    let d = depth(&store).await;
    assert_eq!(
        states(&d),
        (1, 1, 1, 1),
        "an expired lease is due again, not sending"
    );
    let oldest = d.oldest_due.expect("the expired lease is due");
    assert!(
        oldest <= Utc::now() && oldest > Utc::now() - chrono::Duration::seconds(5),
        "due since its lease ended: {oldest}"
    );
    assert_eq!(sending.len(), 1);
}

pub async fn attempt_counts_split_attempts_by_time_bucket_and_result(store: DynStore) {
    let app = new_app(&store, None).await;
    plain_endpoint(&store, &app.id).await;
    for _ in 0..6 {
        post(&store, message(&app.id, "order.created", None)).await;
    }
    let claimed = claim(&store, WORKER_A, 6).await;
    assert_eq!(claimed.len(), 6);
    // A bucket boundary, as `attempt_counts` asks, 30 to 40 seconds ago.
    let width = i64::try_from(ATTEMPT_BUCKET.as_millis()).expect("a bucket width in ms");
    let boundary = (Utc::now().timestamp_millis() / width) * width;
    let since =
        DateTime::from_timestamp_millis(boundary).expect("a time") - chrono::Duration::seconds(30);
    // (offset from `since` in ms, status code): one before the window, then buckets 0, 1, 1,
    // 1 (its last millisecond) and 2.
    let plan = [
        (-5_000, 200),
        (1_000, 200),
        (12_000, 500),
        (15_000, 204),
        (19_999, 0),
        (25_000, 404),
    ];
    let outcomes = claimed
        .iter()
        .zip(plan)
        .map(|(c, (offset, code))| {
            let mut o = outcome(c, WORKER_A, code, NextStep::Failed);
            o.attempt.created_at = since + chrono::Duration::milliseconds(offset);
            o
        })
        .collect();
    record(&store, outcomes).await;

    let counts = |bucket, delivered, failed| AttemptCountOf(bucket, delivered, failed);
    let got = store
        .attempt_counts(since, Duration::from_secs(10))
        .await
        .expect("counting attempts");
    assert_eq!(
        got.iter().map(AttemptCountOf::from).collect::<Vec<_>>(),
        [counts(0, 1, 0), counts(1, 1, 2), counts(2, 0, 1)]
    );
    let minute = store
        .attempt_counts(since, Duration::from_secs(60))
        .await
        .expect("counting attempts");
    assert_eq!(
        minute.iter().map(AttemptCountOf::from).collect::<Vec<_>>(),
        [counts(0, 2, 3)]
    );
    let none = store
        .attempt_counts(
            Utc::now() + chrono::Duration::seconds(5),
            Duration::from_secs(10),
        )
        .await
        .expect("counting attempts");
    assert!(none.is_empty(), "{none:?}");
}

/// An `AttemptCount` as a comparable tuple.
#[derive(Debug, PartialEq, Eq)]
struct AttemptCountOf(i64, i64, i64);

impl From<&hookline::store::AttemptCount> for AttemptCountOf {
    fn from(c: &hookline::store::AttemptCount) -> Self {
        Self(c.bucket, c.delivered, c.failed)
    }
}

/// Opens after two failures in a row, for `COOLDOWN`.
fn tripping() -> ClaimPolicy {
    let mut policy = open_policy();
    policy.breaker.consecutive_failures = 2;
    policy.breaker.cooldown = COOLDOWN;
    policy
}

const COOLDOWN: Duration = Duration::from_millis(300);

/// An endpoint receiving only `event_type`, whose URL names it.
async fn endpoint_of(store: &DynStore, app: &AppId, event_type: &str) -> Endpoint {
    let mut fields = endpoint_fields(&format!("https://{event_type}.example/hook"));
    fields.event_types = Some(vec![ty(event_type)]);
    new_endpoint(store, app, fields).await
}

/// Posts `n` messages to `ep` and records a failed attempt (no retry) for each.
async fn fail_n(store: &DynStore, app: &AppId, ep: &Endpoint, n: usize) {
    let event_type = ep
        .event_types
        .as_ref()
        .and_then(|t| t.first())
        .expect("a filtered endpoint")
        .to_string();
    for _ in 0..n {
        post(store, message(app, &event_type, None)).await;
    }
    let claimed = store
        .claim(WORKER_A, 10, LONG_LEASE, &tripping())
        .await
        .expect("claiming");
    assert_eq!(claimed.len(), n, "only the new deliveries are due");
    let outcomes: Vec<Outcome> = claimed
        .iter()
        .map(|c| outcome(c, WORKER_A, 500, NextStep::Failed))
        .collect();
    store
        .record_outcomes(&outcomes, &tripping().breaker)
        .await
        .expect("recording outcomes");
}

pub async fn open_breakers_list_enabled_endpoints_longest_in_their_state_first(store: DynStore) {
    let app = new_app(&store, None).await;
    let first = endpoint_of(&store, &app.id, "first").await;
    let second = endpoint_of(&store, &app.id, "second").await;
    let shaky = endpoint_of(&store, &app.id, "shaky").await;
    let disabled = endpoint_of(&store, &app.id, "disabled").await;
    let none = store.open_breakers(50).await.expect("open breakers");
    assert_eq!(none, Default::default(), "every breaker starts closed");

    fail_n(&store, &app.id, &first, 2).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    fail_n(&store, &app.id, &second, 2).await;
    fail_n(&store, &app.id, &shaky, 1).await;
    fail_n(&store, &app.id, &disabled, 2).await;
    let mut fields = endpoint_fields(disabled.url.as_str());
    fields.event_types = disabled.event_types.clone();
    fields.disabled = true;
    store
        .update_endpoint(&app.id, &disabled.id, &fields)
        .await
        .expect("disabling an endpoint");

    let open = store.open_breakers(50).await.expect("open breakers");
    assert_eq!((open.open, open.half_open), (2, 0));
    let ids: Vec<&EndpointId> = open.longest.iter().map(|b| &b.endpoint_id).collect();
    assert_eq!(ids, [&first.id, &second.id], "longest open first");
    let b = &open.longest[0];
    assert_eq!(
        (&b.app_id, &b.url, b.state),
        (&app.id, &first.url, BreakerState::Open)
    );
    let open_for = b.open_until.map(|t| (t - b.since).num_milliseconds());
    assert!(
        open_for.is_some_and(|ms| (299..=301).contains(&ms)),
        "open for the cooldown: {open_for:?} ms"
    );
    assert!(b.since < open.longest[1].since);
    let top = store.open_breakers(1).await.expect("open breakers");
    assert_eq!(
        (top.open, top.longest.len()),
        (2, 1),
        "counts cover all, the list is capped"
    );

    // After its cooldown, new work sends a probe: the first breaker turns half-open, which
    // is a new state, so the second one has now been in its state the longest.
    post(&store, message(&app.id, "first", None)).await;
    let wait = b.open_until.expect("open until") - Utc::now();
    tokio::time::sleep(wait.to_std().unwrap_or_default() + Duration::from_millis(50)).await;
    let probe = store
        .claim(WORKER_B, 10, LONG_LEASE, &tripping())
        .await
        .expect("claiming the probe");
    assert_eq!(probe.len(), 1);
    let now = store.open_breakers(50).await.expect("open breakers");
    assert_eq!((now.open, now.half_open), (1, 1));
    let got: Vec<(&EndpointId, BreakerState)> = now
        .longest
        .iter()
        .map(|b| (&b.endpoint_id, b.state))
        .collect();
    assert_eq!(
        got,
        [
            (&second.id, BreakerState::Open),
            (&first.id, BreakerState::HalfOpen)
        ]
    );
}
