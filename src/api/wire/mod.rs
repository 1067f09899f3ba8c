//! The JSON the API speaks: serde structs named and shaped like the reference's schemas, and
//! the conversions between them and the store's records.
//!
//! Incoming types are parsed into domain values here, so each error names its field.

mod application;
mod attempt;
mod endpoint;
mod endpoint_health;
mod endpoint_ops;
mod event_type;
mod headers;
mod message;
mod portal;
mod status;

pub use application::{ApplicationIn, ApplicationOut, ApplicationPatch};
pub use attempt::{EndpointMessageOut, MessageAttemptOut, MessageEndpointOut};
pub use endpoint::{EndpointIn, EndpointOut, EndpointPatch, EndpointUpdate};
pub use endpoint_health::{BreakerOut, EndpointHealthOut, RecentOut};
pub use endpoint_ops::{
    EndpointSecretOut, EndpointSecretRotateIn, EndpointStatsOut, RecoverIn, RecoverOut,
    check_window,
};
pub use event_type::{EventExampleIn, EventTypeIn, EventTypeOut, EventTypePatch, EventTypeUpdate};
pub use headers::{
    EndpointHeadersIn, EndpointHeadersOut, EndpointHeadersPatchIn, validate_headers,
};
pub use message::{MessageDraft, MessageIn, MessageOut, example_payload};
pub use portal::{AppPortalAccessIn, AppPortalAccessOut, PortalGrant};
pub use status::{BUCKET_WIDTH, OPEN_BREAKERS_SHOWN, StatusOut, throughput_start};

use super::error::ApiError;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// For `Option<Option<T>>` patch fields: absent stays `None` (via `#[serde(default)]`),
/// `null` becomes `Some(None)`, a value `Some(Some(v))`.
pub(crate) fn nullable<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Drops duplicates (keeping first occurrences) and checks the count is `1..=max`.
/// The reference declares these lists as sets, so duplicates are folded rather than refused.
pub(crate) fn unique_list<T: PartialEq>(
    field: &str,
    items: Vec<T>,
    max: usize,
) -> Result<Vec<T>, ApiError> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    if out.is_empty() || out.len() > max {
        return Err(ApiError::validation(
            field,
            format!("must list 1 to {max} distinct values, or be omitted"),
        ));
    }
    Ok(out)
}

/// Refuses a rate of 0 messages per second (the reference's minimum is 1).
pub(crate) fn throttle_rate(rate: Option<u16>) -> Result<Option<u16>, ApiError> {
    match rate {
        Some(0) => Err(ApiError::validation(
            "throttleRate",
            "must be at least 1, or null for no limit",
        )),
        other => Ok(other),
    }
}

/// The current time at the millisecond precision the store keeps, so a timestamp returned
/// on creation equals the one read back later.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(3)
}

/// An empty JSON object, the payload shown for expunged or omitted content.
pub(crate) fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| unreachable!("{{}} is JSON"))
}

/// A stored payload for output: its exact bytes, or `{}` when expunged or not wanted.
pub(crate) fn payload_out(payload: Option<&str>, with_content: bool) -> Box<RawValue> {
    match payload {
        Some(p) if with_content => {
            RawValue::from_string(p.to_owned()).unwrap_or_else(|_| empty_object())
        }
        _ => empty_object(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unique_lists_fold_duplicates_and_bound_their_length() {
        assert_eq!(unique_list("x", vec![1, 2, 1], 2).unwrap(), [1, 2]);
        assert!(unique_list::<u8>("x", vec![], 2).is_err());
        let err = unique_list("channels", vec![1, 2, 3], 2).unwrap_err();
        assert!(err.to_string().starts_with("channels: must list 1 to 2"));
    }

    #[test]
    fn payloads_are_shown_verbatim_unless_expunged_or_not_wanted() {
        assert_eq!(
            payload_out(Some(r#"{"a" : 1}"#), true).get(),
            r#"{"a" : 1}"#
        );
        assert_eq!(payload_out(Some(r#"{"a":1}"#), false).get(), "{}");
        assert_eq!(payload_out(None, true).get(), "{}");
    }

    #[test]
    fn a_zero_rate_is_refused() {
        assert!(throttle_rate(Some(0)).is_err());
        assert_eq!(throttle_rate(Some(3)).unwrap(), Some(3));
        assert_eq!(throttle_rate(None).unwrap(), None);
    }
}
