//! The rate limit across a fleet: three `hookline worker` processes on one Postgres share
//! an endpoint's `throttleRate` instead of multiplying it.

use super::behaving::Behaving;
use super::post_many;
use crate::fleet::Fleet;
use serde_json::json;
use std::time::{Duration, Instant};

/// The most of `times` (sorted) that fall within any window of length `window`.
fn busiest_window(times: &[Instant], window: Duration) -> usize {
    times
        .iter()
        .enumerate()
        .map(|(i, from)| {
            times[i..]
                .iter()
                .take_while(|t| t.duration_since(*from) <= window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn three_worker_processes_together_hold_an_endpoint_to_its_throttle_rate() {
    const MESSAGES: usize = 60;
    const RATE: u64 = 10;
    let fleet = Fleet::exclusive().await;
    let rx = Behaving::start().await;
    let mut api = fleet.start_api().await;
    let app_id = api.client.create_app("Throttled").await;
    api.client
        .create_endpoint_id(
            &app_id,
            &rx.url("/throttled"),
            json!({ "throttleRate": RATE }),
        )
        .await;
    let mut workers = Vec::new();
    for _ in 0..3 {
        workers.push(fleet.start_worker(&[]).await);
    }

    let sent = post_many(&api.client, &app_id, "order.created", MESSAGES, 4).await;
    crate::helpers::eventually("every message arrives", Duration::from_secs(20), || async {
        (rx.ids("/throttled") == sent).then_some(())
    })
    .await;
    assert!(api.process.exited().is_none(), "the API is still running");
    let mut times: Vec<Instant> = rx.hits("/throttled").iter().map(|h| h.at).collect();
    times.sort_unstable();
    let span = times[times.len() - 1].duration_since(times[0]);
    let rate = times.len() as f64 / span.as_secs_f64();
    let busiest = busiest_window(&times, Duration::from_secs(1));
    let shares: Vec<usize> = workers
        .iter_mut()
        .map(|w| {
            assert!(
                w.process.exited().is_none(),
                "worker {} is still running",
                w.id
            );
            w.process.output().matches(r#""message":"attempt""#).count()
        })
        .collect();
    eprintln!(
        "{} requests over {span:?}: {rate:.2}/s, busiest second {busiest}; attempts per \
         worker {shares:?}",
        times.len()
    );
    assert_eq!(times.len(), MESSAGES, "each message once");
    assert!(rate <= 11.0, "{rate:.2} requests/s to a {RATE}/s endpoint");
    assert!(
        busiest <= 12,
        "{busiest} requests within one second to a {RATE}/s endpoint"
    );
    assert!(
        shares.iter().filter(|&&n| n > 0).count() >= 2,
        "the work was shared, so the limit held across processes: {shares:?}"
    );
}
