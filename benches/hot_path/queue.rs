//! The store steps of the hot path: fan-out on create, claiming a batch, recording its
//! outcomes. Each case times its one store call per iteration and nothing else.

use crate::fixtures::{Fixture, KIB, Kind, message, open_policy};
use chrono::Utc;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode};
use hookline::domain::AttemptId;
use hookline::store::{
    Attempt, ClaimedDelivery, DeliveryStatus, ErrorClass, NextStep, Outcome, QueueDepth,
};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Deliveries per claim, `HOOKLINE_CLAIM_BATCH`'s default.
const BATCH: usize = 100;
/// Endpoints a claimed batch is spread over.
const CLAIM_ENDPOINTS: usize = 10;
/// A lease that outlasts any case, so nothing is reclaimed behind the bench's back.
const LEASE: Duration = Duration::from_secs(3600);
const WORKER: &str = "bench-worker";

/// A group of store cases: a few samples of equal size, as each iteration costs
/// milliseconds (and its untimed set-up as much again).
fn store_group<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(20).sampling_mode(SamplingMode::Flat);
    group
}

/// Runs one case: `setup` builds its fixture the first time criterion selects the case
/// (a filtered-out case costs nothing), `timed` runs `iters` iterations and returns the
/// time spent in the measured call alone, and `check` looks at the store afterwards. The
/// fixture, and its database, is dropped when the case ends.
fn run_case<S, T, Fut>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    id: BenchmarkId,
    setup: S,
    mut timed: T,
    check: impl FnOnce(QueueDepth),
) where
    S: Future<Output = Fixture>,
    T: FnMut(Arc<Fixture>, u64) -> Fut,
    Fut: Future<Output = Duration>,
{
    let mut setup = Some(setup);
    let mut fixture: Option<Arc<Fixture>> = None;
    group.bench_function(id, |b| {
        let f = fixture
            .get_or_insert_with(|| Arc::new(rt.block_on(setup.take().expect("set up once"))))
            .clone();
        b.to_async(rt).iter_custom(|iters| timed(f.clone(), iters));
    });
    if let Some(f) = fixture {
        check(
            rt.block_on(f.store.queue_depth())
                .expect("reading the queue depth"),
        );
        // Inside the runtime: the store's pools close their connections as they go.
        let _entered = rt.enter();
        drop(f);
    }
}

/// `fanout/{sqlite,postgres}/{1,100}_endpoints`: `create_message` of one message with a
/// 1 KiB payload, committed with a delivery per endpoint.
pub fn fanout(c: &mut Criterion, rt: &Runtime, kinds: &[Kind<'_>]) {
    let mut group = store_group(c, "fanout");
    for &kind in kinds {
        for endpoints in [1, 100] {
            let id = BenchmarkId::new(kind.name(), format!("{endpoints}_endpoints"));
            let timed = move |f: Arc<Fixture>, iters| async move {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let new = message(&f.app, KIB);
                    let start = Instant::now();
                    let n = f.store.create_message(&new).await.expect("create_message");
                    spent += start.elapsed();
                    assert_eq!(n, endpoints, "one delivery per endpoint");
                }
                spent
            };
            run_case(
                &mut group,
                rt,
                id,
                Fixture::new(kind, endpoints),
                timed,
                |_| {},
            );
        }
    }
    group.finish();
}

/// `claim/{sqlite,postgres}/backlog_{100,1000,100000}`: `claim` of 100 deliveries (10 from
/// each of 10 endpoints) with that many due; `…/backlog_100_history_100000` with 100 due
/// beside 100,000 finished deliveries, as a store keeps them for the retention period. The
/// claimed batch is released, untimed, after each claim, so every claim meets the same
/// backlog of due deliveries and none in flight.
pub fn claim(c: &mut Criterion, rt: &Runtime, kinds: &[Kind<'_>]) {
    let mut group = store_group(c, "claim");
    for &kind in kinds {
        for (backlog, history) in [(BATCH, 0), (1_000, 0), (100_000, 0), (BATCH, 100_000)] {
            let case = match history {
                0 => format!("backlog_{backlog}"),
                _ => format!("backlog_{backlog}_history_{history}"),
            };
            let id = BenchmarkId::new(kind.name(), &case);
            let setup = async move {
                let started = Instant::now();
                let f = Fixture::new(kind, CLAIM_ENDPOINTS).await;
                if history > 0 {
                    f.add_history(history).await;
                }
                f.post(backlog / CLAIM_ENDPOINTS, CLAIM_ENDPOINTS).await;
                f.analyze().await;
                eprintln!(
                    "claim/{}/{case}: set up in {:.1?}",
                    kind.name(),
                    started.elapsed()
                );
                f
            };
            let timed = |f: Arc<Fixture>, iters| async move {
                let policy = open_policy();
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let claimed = f.store.claim(WORKER, BATCH, LEASE, &policy).await;
                    spent += start.elapsed();
                    let ids = delivery_ids(claimed.expect("claim"));
                    f.store.release(WORKER, &ids).await.expect("release");
                }
                spent
            };
            let check = move |depth: QueueDepth| {
                assert_eq!((depth.due, depth.sending), (backlog as i64, 0), "{depth:?}");
            };
            run_case(&mut group, rt, id, setup, timed, check);
        }
    }
    group.finish();
}

/// The ids of a full batch, spread evenly over the endpoints; anything else means the case
/// is not measuring what it says.
fn delivery_ids(claimed: Vec<ClaimedDelivery>) -> Vec<i64> {
    assert_eq!(claimed.len(), BATCH, "a claim must take a full batch");
    let mut endpoints: Vec<_> = claimed.iter().map(|c| c.endpoint_id.as_str()).collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    assert_eq!(
        endpoints.len(),
        CLAIM_ENDPOINTS,
        "a batch spread over every endpoint"
    );
    claimed.iter().map(|c| c.delivery_id).collect()
}

/// `record_outcomes/{sqlite,postgres}/100_mixed`: `record_outcomes` of a claimed batch of
/// 100, 90 delivered and 10 (one per endpoint) to retry in an hour. Untimed before each:
/// 10 messages to 10 endpoints create the batch, which is claimed.
pub fn record_outcomes(c: &mut Criterion, rt: &Runtime, kinds: &[Kind<'_>]) {
    let mut group = store_group(c, "record_outcomes");
    for &kind in kinds {
        let id = BenchmarkId::new(kind.name(), "100_mixed");
        let timed = |f: Arc<Fixture>, iters| async move {
            let policy = open_policy();
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                f.post(BATCH / CLAIM_ENDPOINTS, CLAIM_ENDPOINTS).await;
                let claimed = f.store.claim(WORKER, BATCH, LEASE, &policy).await;
                let claimed = claimed.expect("claim");
                delivery_ids(claimed.clone());
                let outcomes = mixed_outcomes(&claimed);
                let start = Instant::now();
                let recorded = f.store.record_outcomes(&outcomes, &policy.breaker).await;
                spent += start.elapsed();
                recorded.expect("record_outcomes");
            }
            spent
        };
        // Every recorded batch left nothing leased or due, only its retries.
        let check = |depth: QueueDepth| {
            assert_eq!((depth.due, depth.sending), (0, 0), "{depth:?}");
            assert!(depth.delayed > 0 && depth.delayed % 10 == 0, "{depth:?}");
        };
        run_case(
            &mut group,
            rt,
            id,
            Fixture::new(kind, CLAIM_ENDPOINTS),
            timed,
            check,
        );
    }
    group.finish();
}

/// What a worker would record for `claimed`: a 200 for most, a 500 and a retry for the
/// first delivery of each endpoint (10 of 100, as the batch spans 10 endpoints).
fn mixed_outcomes(claimed: &[ClaimedDelivery]) -> Vec<Outcome> {
    let retry_at = Utc::now() + chrono::Duration::hours(1);
    let mut seen = HashSet::new();
    claimed
        .iter()
        .map(|c| {
            let retry = seen.insert(c.endpoint_id.as_str());
            Outcome {
                delivery_id: c.delivery_id,
                row_version: c.row_version.clone(),
                worker_id: WORKER.to_owned(),
                attempt: Attempt {
                    id: AttemptId::generate(),
                    msg_id: c.msg_id.clone(),
                    endpoint_id: c.endpoint_id.clone(),
                    app_id: c.app_id.clone(),
                    url: c.url.clone(),
                    status: if retry {
                        DeliveryStatus::Fail
                    } else {
                        DeliveryStatus::Success
                    },
                    response_status_code: if retry { 500 } else { 200 },
                    response: if retry { "internal error" } else { "ok" }.to_owned(),
                    response_duration_ms: 12,
                    trigger_type: c.trigger_type,
                    error_class: retry.then_some(ErrorClass::HttpStatus),
                    created_at: Utc::now(),
                },
                next: if retry {
                    NextStep::RetryAt(retry_at)
                } else {
                    NextStep::Delivered
                },
                disable_endpoint: false,
            }
        })
        .collect()
}
