//! Keeping the bench honest: every (message, endpoint) pair must arrive, and every outcome
//! must be recorded in the store as the API reports it.

use crate::api::Api;
use crate::fleet::Fleet;
use crate::receiver::Receiver;
use anyhow::bail;
use std::time::{Duration, Instant};

/// Waits until `expected` distinct (message, endpoint) pairs have arrived, for at most
/// `timeout`, failing at once if a Hookline process dies.
///
/// # Errors
/// How many arrived, and how long since the last one, if not all did.
pub async fn wait_for_receipts(
    receiver: &Receiver,
    expected: usize,
    timeout: Duration,
    fleet: &mut Fleet,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut last_progress = (0, Instant::now());
    let mut next_report = start + Duration::from_secs(10);
    loop {
        fleet.check_alive()?;
        let seen = receiver.distinct();
        if seen >= expected {
            return Ok(());
        }
        let now = Instant::now();
        if seen > last_progress.0 {
            last_progress = (seen, now);
        }
        if now >= next_report {
            eprintln!(
                "e2e: waiting for deliveries: {seen} of {expected} after {:.0?}",
                start.elapsed()
            );
            next_report = now + Duration::from_secs(10);
        }
        if start.elapsed() > timeout {
            bail!(
                "only {seen} of {expected} deliveries arrived within {timeout:?} \
                 (the last new one {:.1?} ago); {} are missing",
                last_progress.1.elapsed(),
                expected - seen
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks that each message in `ids` arrived at each of the `endpoints` receiver paths and
/// that nothing unreadable arrived.
///
/// # Errors
/// The number of missing pairs and a few of them.
pub fn check_pairs(receiver: &Receiver, ids: &[String], endpoints: usize) -> anyhow::Result<()> {
    let tally = receiver.tally();
    if tally.malformed > 0 {
        bail!(
            "{} requests reached the receiver without a webhook-id or a readable payload",
            tally.malformed
        );
    }
    let mut missing = Vec::new();
    for id in ids {
        for n in 0..endpoints {
            let key = (Box::<str>::from(id.as_str()), n as u16);
            if !tally.pairs.contains_key(&key) {
                missing.push(format!("{id} → /hook/{n}"));
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} (message, endpoint) pairs never arrived, e.g. {}",
            missing.len(),
            missing[..missing.len().min(5)].join(", ")
        );
    }
    Ok(())
}

/// Checks through the API that each endpoint's outcomes were recorded: `stats` counts all
/// `ids` as successes with nothing pending, in flight or failed (polled for up to
/// `timeout`, as outcomes are written in batches), and the successful attempts listed cover
/// every message. Returns notes on anything odd that is not a failure.
///
/// # Errors
/// The endpoint and what its stats or attempts showed.
pub async fn check_recorded(
    api: &Api,
    app: &str,
    endpoints: &[String],
    ids: &[String],
    receipts_per_endpoint: &[u64],
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    let want = i64::try_from(ids.len())?;
    let mut notes = Vec::new();
    for (n, ep) in endpoints.iter().enumerate() {
        let start = Instant::now();
        loop {
            let s = api.endpoint_stats(app, ep).await?;
            if s.success == want && s.pending == 0 && s.sending == 0 && s.fail == 0 {
                break;
            }
            if start.elapsed() > timeout {
                bail!(
                    "endpoint {ep} (/hook/{n}): stats after {timeout:?} show success {}, \
                     pending {}, sending {}, fail {}; expected success {want} and nothing else",
                    s.success,
                    s.pending,
                    s.sending,
                    s.fail
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let recorded = api.successful_attempts(app, ep, ids.len()).await?;
        let unrecorded: Vec<&String> = ids
            .iter()
            .filter(|id| !recorded.messages.contains(*id))
            .collect();
        if !unrecorded.is_empty() {
            bail!(
                "endpoint {ep} (/hook/{n}): {} delivered messages have no successful attempt \
                 recorded, e.g. {}",
                unrecorded.len(),
                unrecorded[0]
            );
        }
        let received = receipts_per_endpoint.get(n).copied().unwrap_or(0);
        if recorded.successes as u64 != received {
            notes.push(format!(
                "endpoint /hook/{n}: {} successful attempts recorded for {received} receipts",
                recorded.successes
            ));
        }
    }
    Ok(notes)
}
