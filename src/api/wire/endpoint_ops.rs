//! Endpoint secrets, stats and recovery on the wire.

use crate::api::error::ApiError;
use crate::api::openapi::{secret_in, secret_out};
use crate::domain::{EndpointSecret, TaskId};
use crate::store::EndpointStats;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// Grace period of a rotated secret when none is given: 24 hours.
const DEFAULT_GRACE_SECONDS: u64 = 86_400;
/// Longest grace period: 7 days.
const MAX_GRACE_SECONDS: u64 = 604_800;

/// `GET …/secret`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointSecretOut {
    /// The current signing key, `whsec_…`.
    #[schema(schema_with = secret_out)]
    pub key: String,
}

/// Body of `POST …/secret/rotate`; may be empty.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSecretRotateIn {
    /// The new key; generated when absent.
    #[schema(schema_with = secret_in)]
    pub key: Option<String>,
    /// How long the old key keeps signing, 0 to 604800 seconds, 86400 when absent.
    #[schema(minimum = 0, maximum = 604800, default = 86400)]
    pub grace_period_seconds: Option<u64>,
}

/// `GET …/stats`: deliveries by status.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointStatsOut {
    /// Delivered.
    pub success: i64,
    /// Waiting.
    pub pending: i64,
    /// In flight.
    pub sending: i64,
    /// Given up.
    pub fail: i64,
    /// Always 0: Hookline does not cancel deliveries.
    pub canceled: i64,
}

/// Body of `POST …/recover`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RecoverIn {
    /// Re-send failed deliveries of messages created at or after this time.
    pub since: DateTime<Utc>,
    /// …and before this time, if given.
    pub until: Option<DateTime<Utc>>,
}

/// Response of `POST …/recover`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverOut {
    /// Task id, `qtask_…`.
    pub id: TaskId,
    /// Always "running": the manual attempts are queued when this is returned.
    #[schema(value_type = String, examples("running"))]
    pub status: &'static str,
    /// Always "endpoint.recover".
    #[schema(value_type = String, examples("endpoint.recover"))]
    pub task: &'static str,
    /// When the task was queued.
    pub updated_at: DateTime<Utc>,
    /// Hookline: how many failed deliveries were re-queued.
    pub queued: u64,
}

impl EndpointSecretRotateIn {
    /// The new key (given or generated) and the grace period of the old one.
    ///
    /// # Errors
    /// A 422 for a malformed key or a grace period over 7 days.
    pub fn into_parts(self) -> Result<(EndpointSecret, Duration), ApiError> {
        let key = match self.key.as_deref() {
            Some(k) => EndpointSecret::parse(k).map_err(|e| ApiError::validation("key", e))?,
            None => EndpointSecret::generate(),
        };
        let grace = self.grace_period_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
        if grace > MAX_GRACE_SECONDS {
            return Err(ApiError::validation(
                "gracePeriodSeconds",
                format!("must be from 0 to {MAX_GRACE_SECONDS} (7 days)"),
            ));
        }
        Ok((key, Duration::from_secs(grace)))
    }
}

/// Refuses a window whose end is before its start.
///
/// # Errors
/// A 422 naming `until`.
pub fn check_window(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<(), ApiError> {
    match (since, until) {
        (Some(s), Some(u)) if u < s => Err(ApiError::validation(
            "until",
            "must not be earlier than since",
        )),
        _ => Ok(()),
    }
}

impl RecoverOut {
    /// A freshly queued recovery that re-queued `queued` deliveries.
    pub fn queued(queued: u64) -> Self {
        Self {
            id: TaskId::generate(),
            status: "running",
            task: "endpoint.recover",
            updated_at: super::now(),
            queued,
        }
    }
}

impl From<EndpointStats> for EndpointStatsOut {
    fn from(s: EndpointStats) -> Self {
        Self {
            success: s.success,
            pending: s.pending,
            sending: s.sending,
            fail: s.fail,
            canceled: 0,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rotation_defaults_to_a_day_of_grace_and_caps_at_a_week() {
        let (_, grace) = EndpointSecretRotateIn::default().into_parts().unwrap();
        assert_eq!(grace, Duration::from_secs(86_400));
        let long = EndpointSecretRotateIn {
            key: None,
            grace_period_seconds: Some(604_801),
        };
        assert!(long.into_parts().is_err());
    }

    #[test]
    fn windows_must_not_run_backwards() {
        let now = Utc::now();
        assert!(check_window(Some(now), Some(now - chrono::Duration::seconds(1))).is_err());
        assert!(check_window(Some(now), None).is_ok());
    }
}
