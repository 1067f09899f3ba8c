//! When to try again: the retry schedule with ±20% jitter, `Retry-After` honoured within the
//! schedule's bounds, and what a failed attempt means for the delivery.

use crate::store::{NextStep, TriggerType};
use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

/// How an attempt ended, as far as scheduling is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: delivered.
    Delivered,
    /// A failure worth retrying; `retry_after` is the receiver's `Retry-After`, if any.
    Retry {
        /// Delay the receiver asked for (429/503 only).
        retry_after: Option<Duration>,
    },
    /// A failure that ends the delivery now (e.g. `410 Gone`).
    Fatal,
}

/// The retry policy of one worker process.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    schedule: Vec<Duration>,
}

impl RetryPolicy {
    /// A policy from `HOOKLINE_RETRY_SCHEDULE`: `schedule[i]` is the delay after the
    /// `i+1`-th failed scheduled attempt; its length is the number of retries.
    pub fn new(schedule: Vec<Duration>) -> Self {
        Self { schedule }
    }

    /// Decides the delivery's next step after an attempt.
    ///
    /// `attempts_made` counts the scheduled attempts made *before* this one. A scheduled
    /// failure moves along the schedule. A manual attempt spends no retry: if the delivery
    /// was mid-schedule it resumes where it was, otherwise (never attempted, or already out
    /// of retries) a failed manual attempt leaves it failed.
    pub fn next_step(
        &self,
        verdict: Verdict,
        trigger: TriggerType,
        attempts_made: u32,
        now: DateTime<Utc>,
    ) -> NextStep {
        let retry_after = match verdict {
            Verdict::Delivered => return NextStep::Delivered,
            Verdict::Fatal => return NextStep::Failed,
            Verdict::Retry { retry_after } => retry_after,
        };
        let index = match trigger {
            TriggerType::Scheduled => attempts_made as usize,
            TriggerType::Manual if attempts_made == 0 => return NextStep::Failed,
            TriggerType::Manual => attempts_made as usize - 1,
        };
        let Some(&base) = self.schedule.get(index) else {
            return NextStep::Failed;
        };
        let delay = match retry_after {
            Some(asked) => self.clamp(asked),
            None => jitter(base),
        };
        let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        NextStep::RetryAt(
            now.checked_add_signed(delay)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }

    fn clamp(&self, asked: Duration) -> Duration {
        let min = self.schedule.iter().min().copied().unwrap_or_default();
        let max = self.schedule.iter().max().copied().unwrap_or_default();
        asked.clamp(min, max)
    }
}

/// `base` scaled by a uniform factor in [0.8, 1.2], so retries of many deliveries that
/// failed together do not arrive together.
pub fn jitter(base: Duration) -> Duration {
    base.mul_f64(rand::thread_rng().gen_range(0.8..=1.2))
}

/// Parses `Retry-After` as delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    (at - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(vec![Duration::from_secs(5), Duration::from_secs(300)])
    }

    fn delay_of(step: NextStep, now: DateTime<Utc>) -> Duration {
        match step {
            NextStep::RetryAt(at) => (at - now).to_std().unwrap(),
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn scheduled_failures_walk_the_schedule_with_jitter_then_fail() {
        let now = Utc::now();
        let retry = Verdict::Retry { retry_after: None };
        for _ in 0..100 {
            let d = delay_of(
                policy().next_step(retry, TriggerType::Scheduled, 0, now),
                now,
            );
            assert!(
                d >= Duration::from_secs(4) && d <= Duration::from_secs(6),
                "{d:?}"
            );
            let d = delay_of(
                policy().next_step(retry, TriggerType::Scheduled, 1, now),
                now,
            );
            assert!(
                d >= Duration::from_secs(240) && d <= Duration::from_secs(360),
                "{d:?}"
            );
        }
        assert_eq!(
            policy().next_step(retry, TriggerType::Scheduled, 2, now),
            NextStep::Failed
        );
    }

    #[test]
    fn success_and_fatal_failures_end_the_delivery() {
        let now = Utc::now();
        assert_eq!(
            policy().next_step(Verdict::Delivered, TriggerType::Scheduled, 0, now),
            NextStep::Delivered
        );
        assert_eq!(
            policy().next_step(Verdict::Fatal, TriggerType::Scheduled, 0, now),
            NextStep::Failed
        );
    }

    #[test]
    fn manual_attempts_spend_no_retry() {
        let now = Utc::now();
        let retry = Verdict::Retry { retry_after: None };
        // Mid-schedule: resumes with the delay it was waiting on.
        let d = delay_of(policy().next_step(retry, TriggerType::Manual, 1, now), now);
        assert!(d <= Duration::from_secs(6), "{d:?}");
        // Never attempted, or out of retries: stays failed.
        assert_eq!(
            policy().next_step(retry, TriggerType::Manual, 0, now),
            NextStep::Failed
        );
        assert_eq!(
            policy().next_step(retry, TriggerType::Manual, 3, now),
            NextStep::Failed
        );
    }

    #[test]
    fn retry_after_is_honoured_within_the_schedule_bounds() {
        let now = Utc::now();
        let asked = |s| Verdict::Retry {
            retry_after: Some(Duration::from_secs(s)),
        };
        let d = delay_of(
            policy().next_step(asked(60), TriggerType::Scheduled, 0, now),
            now,
        );
        assert_eq!(d, Duration::from_secs(60));
        let d = delay_of(
            policy().next_step(asked(1), TriggerType::Scheduled, 0, now),
            now,
        );
        assert_eq!(d, Duration::from_secs(5));
        let d = delay_of(
            policy().next_step(asked(99_999), TriggerType::Scheduled, 0, now),
            now,
        );
        assert_eq!(d, Duration::from_secs(300));
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now),
            None
        );
    }
}
