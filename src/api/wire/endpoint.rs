//! Endpoints on the wire: create/update/patch bodies and `EndpointOut`.

use super::{nullable, throttle_rate, unique_list};
use crate::api::error::ApiError;
use crate::api::openapi::{header_map_or_null, secret_in};
use crate::domain::{Channel, EndpointId, EndpointSecret, EndpointUrl, EventTypeName, Uid};
use crate::store::{Endpoint, EndpointFields, Metadata};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Most channels an endpoint may subscribe to.
const MAX_ENDPOINT_CHANNELS: usize = 10;
/// Most event types an endpoint filter may name.
const MAX_EVENT_TYPES: usize = 1_000;
/// Largest per-endpoint in-flight cap, the same bound as `HOOKLINE_ENDPOINT_CONCURRENCY`.
const MAX_CONCURRENCY_LIMIT: u32 = 10_000;

/// Body of `POST /app/{app_id}/endpoint`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    /// Receiver URL.
    #[schema(value_type = EndpointUrl)]
    pub url: String,
    /// Human description, empty when absent.
    pub description: Option<String>,
    /// Created disabled.
    pub disabled: Option<bool>,
    /// Event types to receive; absent for all.
    #[schema(min_items = 1, max_items = 1000)]
    pub event_types: Option<Vec<EventTypeName>>,
    /// Channels to receive; absent for all.
    #[schema(min_items = 1, max_items = 10)]
    pub channels: Option<Vec<Channel>>,
    /// Messages per second.
    #[schema(minimum = 1, maximum = 65535)]
    pub throttle_rate: Option<u16>,
    /// Hookline: in-flight cap, 1 to 10000; absent for `HOOKLINE_ENDPOINT_CONCURRENCY`.
    #[schema(minimum = 1, maximum = 10000)]
    pub concurrency_limit: Option<u32>,
    /// Alias usable in paths; it must not have the form of an endpoint id.
    pub uid: Option<Uid>,
    /// Labels.
    #[schema(inline)]
    pub metadata: Option<Metadata>,
    /// Signing secret (`whsec_…` or bare base64); generated when absent.
    #[schema(schema_with = secret_in)]
    pub secret: Option<String>,
    /// Custom headers (as the newer Svix SDKs send), validated like `PUT …/headers`.
    #[schema(schema_with = header_map_or_null)]
    pub headers: Option<BTreeMap<String, String>>,
}

/// Body of `PUT /app/{app_id}/endpoint/{endpoint_id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointUpdate {
    /// Receiver URL.
    #[schema(value_type = EndpointUrl)]
    pub url: String,
    /// Human description.
    pub description: Option<String>,
    /// Disabled flag.
    pub disabled: Option<bool>,
    /// Event-type filter.
    #[schema(min_items = 1, max_items = 1000)]
    pub event_types: Option<Vec<EventTypeName>>,
    /// Channel filter.
    #[schema(min_items = 1, max_items = 10)]
    pub channels: Option<Vec<Channel>>,
    /// Messages per second.
    #[schema(minimum = 1, maximum = 65535)]
    pub throttle_rate: Option<u16>,
    /// Hookline: in-flight cap, 1 to 10000; absent for `HOOKLINE_ENDPOINT_CONCURRENCY`.
    #[schema(minimum = 1, maximum = 10000)]
    pub concurrency_limit: Option<u32>,
    /// Alias.
    pub uid: Option<Uid>,
    /// Labels.
    #[schema(inline)]
    pub metadata: Option<Metadata>,
}

/// Body of `PATCH /app/{app_id}/endpoint/{endpoint_id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatch {
    /// New URL.
    #[schema(value_type = Option<EndpointUrl>)]
    pub url: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// Enable (`false`) or disable (`true`).
    pub disabled: Option<bool>,
    /// New event-type filter, `null` for all.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(min_items = 1, max_items = 1000)]
    pub event_types: Option<Option<Vec<EventTypeName>>>,
    /// New channel filter, `null` for all.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(min_items = 1, max_items = 10)]
    pub channels: Option<Option<Vec<Channel>>>,
    /// New rate, `null` for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(minimum = 1, maximum = 65535)]
    pub throttle_rate: Option<Option<u16>>,
    /// Hookline: new in-flight cap, `null` for `HOOKLINE_ENDPOINT_CONCURRENCY`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(minimum = 1, maximum = 10000)]
    pub concurrency_limit: Option<Option<u32>>,
    /// New uid, `null` to remove.
    #[serde(default, deserialize_with = "nullable")]
    pub uid: Option<Option<Uid>>,
    /// New labels.
    #[schema(inline)]
    pub metadata: Option<Metadata>,
}

/// An endpoint as returned by every endpoint operation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    /// Stable id.
    pub id: EndpointId,
    /// Alias.
    pub uid: Option<Uid>,
    /// Receiver URL.
    pub url: EndpointUrl,
    /// Description.
    pub description: String,
    /// Whether deliveries are suspended.
    pub disabled: bool,
    /// Hookline: why the delivery engine disabled it; `null` when enabled or disabled by
    /// a user.
    pub disabled_reason: Option<String>,
    /// Event-type filter; `null` means all.
    pub event_types: Option<Vec<EventTypeName>>,
    /// Channel filter; `null` means all.
    pub channels: Option<Vec<Channel>>,
    /// Messages per second.
    pub throttle_rate: Option<u16>,
    /// Hookline: this endpoint's in-flight cap; `null` for `HOOKLINE_ENDPOINT_CONCURRENCY`.
    pub concurrency_limit: Option<u32>,
    /// Labels.
    #[schema(inline)]
    pub metadata: Metadata,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Parses `raw` and refuses an IP-literal host the address policy blocks (`allowed` opens
/// ranges). Names are not resolved here: they are checked when sending.
fn url(raw: &str, allowed: &[IpNet]) -> Result<EndpointUrl, ApiError> {
    let url = EndpointUrl::parse(raw).map_err(|e| ApiError::validation("url", e))?;
    if let Some(ip) = url.host_ip() {
        crate::net::check(ip, allowed).map_err(|blocked| {
            ApiError::validation("url", format!("{blocked}; {}", crate::net::POLICY_HINT))
        })?;
    }
    Ok(url)
}

fn event_types(v: Option<Vec<EventTypeName>>) -> Result<Option<Vec<EventTypeName>>, ApiError> {
    v.map(|t| unique_list("eventTypes", t, MAX_EVENT_TYPES))
        .transpose()
}

fn channels(v: Option<Vec<Channel>>) -> Result<Option<Vec<Channel>>, ApiError> {
    v.map(|c| unique_list("channels", c, MAX_ENDPOINT_CHANNELS))
        .transpose()
}

/// Refuses an in-flight cap outside `1..=10000`.
fn concurrency_limit(limit: Option<u32>) -> Result<Option<u32>, ApiError> {
    match limit {
        Some(n) if !(1..=MAX_CONCURRENCY_LIMIT).contains(&n) => Err(ApiError::validation(
            "concurrencyLimit",
            format!("must be from 1 to {MAX_CONCURRENCY_LIMIT}, or null for the default"),
        )),
        other => Ok(other),
    }
}

/// Refuses uids that look like endpoint ids, which paths could not tell apart.
pub(crate) fn check_uid(uid: Option<Uid>) -> Result<Option<Uid>, ApiError> {
    match uid {
        Some(u) if EndpointId::parse(u.as_str()).is_some() => Err(ApiError::validation(
            "uid",
            "must not have the form of an endpoint id (ep_…)",
        )),
        other => Ok(other),
    }
}

impl EndpointUpdate {
    /// The store fields this body describes; `allowed` are the subnets the address policy
    /// opens.
    ///
    /// # Errors
    /// A 422 naming the first bad field.
    pub fn into_fields(self, allowed: &[IpNet]) -> Result<EndpointFields, ApiError> {
        Ok(EndpointFields {
            uid: check_uid(self.uid)?,
            url: url(&self.url, allowed)?,
            description: self.description.unwrap_or_default(),
            disabled: self.disabled.unwrap_or(false),
            event_types: event_types(self.event_types)?,
            channels: channels(self.channels)?,
            throttle_rate: throttle_rate(self.throttle_rate)?,
            concurrency_limit: concurrency_limit(self.concurrency_limit)?,
            metadata: self.metadata.unwrap_or_default(),
        })
    }
}

impl EndpointIn {
    /// The fields, the secret (given or generated) and the validated headers; `allowed` are
    /// the subnets the address policy opens.
    ///
    /// # Errors
    /// A 422 naming the first bad field.
    pub fn into_parts(
        self,
        allowed: &[IpNet],
    ) -> Result<(EndpointFields, EndpointSecret, BTreeMap<String, String>), ApiError> {
        let secret = match self.secret.as_deref() {
            Some(s) => EndpointSecret::parse(s).map_err(|e| ApiError::validation("secret", e))?,
            None => EndpointSecret::generate(),
        };
        let headers = super::validate_headers(self.headers.unwrap_or_default())?;
        let fields = EndpointUpdate {
            url: self.url,
            description: self.description,
            disabled: self.disabled,
            event_types: self.event_types,
            channels: self.channels,
            throttle_rate: self.throttle_rate,
            concurrency_limit: self.concurrency_limit,
            uid: self.uid,
            metadata: self.metadata,
        }
        .into_fields(allowed)?;
        Ok((fields, secret, headers))
    }
}

impl EndpointPatch {
    /// `current` with this patch applied; a new URL is checked against the address policy,
    /// whose open subnets are `allowed`.
    ///
    /// # Errors
    /// A 422 naming the first bad field.
    pub fn apply(self, current: &Endpoint, allowed: &[IpNet]) -> Result<EndpointFields, ApiError> {
        Ok(EndpointFields {
            uid: match self.uid {
                Some(uid) => check_uid(uid)?,
                None => current.uid.clone(),
            },
            url: match self.url.as_deref() {
                Some(raw) => url(raw, allowed)?,
                None => current.url.clone(),
            },
            description: self
                .description
                .unwrap_or_else(|| current.description.clone()),
            disabled: self.disabled.unwrap_or(current.disabled),
            event_types: match self.event_types {
                Some(types) => event_types(types)?,
                None => current.event_types.clone(),
            },
            channels: match self.channels {
                Some(c) => channels(c)?,
                None => current.channels.clone(),
            },
            throttle_rate: match self.throttle_rate {
                Some(rate) => throttle_rate(rate)?,
                None => current.throttle_rate,
            },
            concurrency_limit: match self.concurrency_limit {
                Some(limit) => concurrency_limit(limit)?,
                None => current.concurrency_limit,
            },
            metadata: self.metadata.unwrap_or_else(|| current.metadata.clone()),
        })
    }
}

impl From<Endpoint> for EndpointOut {
    fn from(ep: Endpoint) -> Self {
        Self {
            id: ep.id,
            uid: ep.uid,
            url: ep.url,
            description: ep.description,
            disabled: ep.disabled,
            disabled_reason: ep.disabled_reason,
            event_types: ep.event_types,
            channels: ep.channels,
            throttle_rate: ep.throttle_rate,
            concurrency_limit: ep.concurrency_limit,
            metadata: ep.metadata,
            created_at: ep.created_at,
            updated_at: ep.updated_at,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::extract::parse_json;

    #[test]
    fn creation_validates_url_secret_and_lists() {
        let ok: EndpointIn = parse_json(
            br#"{"url": "https://example.com/h", "eventTypes": ["a", "a", "b"],
                 "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#,
        )
        .unwrap();
        let (fields, _, headers) = ok.into_parts(&[]).unwrap();
        assert_eq!(fields.event_types.unwrap().len(), 2);
        assert!(headers.is_empty() && !fields.disabled);

        for (body, field) in [
            (r#"{"url": "ftp://x"}"#, "url:"),
            (r#"{"url": "https://x", "secret": "short"}"#, "secret:"),
            (r#"{"url": "https://x", "channels": []}"#, "channels:"),
            (
                r#"{"url": "https://x", "throttleRate": 0}"#,
                "throttleRate:",
            ),
        ] {
            let parsed: EndpointIn = parse_json(body.as_bytes()).unwrap();
            let err = parsed.into_parts(&[]).unwrap_err();
            assert!(err.to_string().starts_with(field), "{body}: {err}");
        }
    }

    #[test]
    fn a_blocked_literal_host_is_refused_on_create_put_and_patch_unless_allowed() {
        let body = r#"{"url": "http://0x7f000001:9000/hook"}"#;
        let expected = "url: 127.0.0.1 is a loopback address; Hookline does not send to \
                        non-global addresses unless HOOKLINE_ALLOWED_SUBNETS allows them";
        let created = parse_json::<EndpointIn>(body.as_bytes()).unwrap();
        let put = parse_json::<EndpointUpdate>(body.as_bytes()).unwrap();
        let patch = parse_json::<EndpointPatch>(body.as_bytes()).unwrap();
        for err in [
            created.clone().into_parts(&[]).unwrap_err(),
            put.clone().into_fields(&[]).unwrap_err(),
            patch.clone().apply(&stored(), &[]).unwrap_err(),
        ] {
            assert_eq!(err.code(), "validation");
            assert_eq!(err.to_string(), expected);
        }

        let loopback: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        let normalised = "http://127.0.0.1:9000/hook";
        assert_eq!(
            created.into_parts(&loopback).unwrap().0.url.as_str(),
            normalised
        );
        assert_eq!(put.into_fields(&loopback).unwrap().url.as_str(), normalised);
        assert_eq!(
            patch.apply(&stored(), &loopback).unwrap().url.as_str(),
            normalised
        );
    }

    #[test]
    fn a_patch_that_keeps_the_url_does_not_recheck_it() {
        let current = Endpoint {
            url: EndpointUrl::from_trusted("http://10.0.0.1/h".into()),
            ..stored()
        };
        let patch = parse_json::<EndpointPatch>(br#"{"description": "x"}"#).unwrap();
        assert_eq!(patch.apply(&current, &[]).unwrap().url, current.url);
    }

    /// An endpoint as stored, with a cap of 7 and a reason the engine disabled it.
    fn stored() -> Endpoint {
        Endpoint {
            id: EndpointId::generate(),
            app_id: crate::domain::AppId::generate(),
            uid: None,
            url: EndpointUrl::from_trusted("https://example.com/h".into()),
            description: String::new(),
            disabled: true,
            disabled_reason: Some("the receiver answered 410 Gone".into()),
            concurrency_limit: Some(7),
            event_types: None,
            channels: None,
            throttle_rate: None,
            metadata: Metadata::new(),
            headers: BTreeMap::new(),
            secret: EndpointSecret::generate(),
            retired_secrets: Vec::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn created_limit(body: &str) -> Result<Option<u32>, ApiError> {
        let parsed: EndpointIn = parse_json(body.as_bytes())?;
        Ok(parsed.into_parts(&[])?.0.concurrency_limit)
    }

    fn put_limit(body: &str) -> Result<Option<u32>, ApiError> {
        let parsed: EndpointUpdate = parse_json(body.as_bytes())?;
        Ok(parsed.into_fields(&[])?.concurrency_limit)
    }

    fn patched_limit(body: &str) -> Result<Option<u32>, ApiError> {
        let parsed: EndpointPatch = parse_json(body.as_bytes())?;
        Ok(parsed.apply(&stored(), &[])?.concurrency_limit)
    }

    #[test]
    fn a_concurrency_limit_must_be_from_1_to_10000() {
        for check in [created_limit, put_limit, patched_limit] {
            let with = |v: &str| {
                check(&format!(
                    r#"{{"url": "https://x", "concurrencyLimit": {v}}}"#
                ))
            };
            assert_eq!(with("1").unwrap(), Some(1));
            assert_eq!(with("10000").unwrap(), Some(10_000));
            for bad in ["0", "10001", "-1", "2.5", "\"8\"", "4294967296"] {
                let err = with(bad).unwrap_err();
                assert_eq!(err.code(), "validation", "{bad}: {err}");
                assert!(err.to_string().contains("concurrencyLimit"), "{bad}: {err}");
            }
        }
    }

    #[test]
    fn an_absent_limit_is_the_default_on_create_and_put_and_unchanged_on_patch() {
        let no_limit = r#"{"url": "https://x", "somethingNew": [1]}"#;
        assert_eq!(created_limit(no_limit).unwrap(), None);
        assert_eq!(put_limit(no_limit).unwrap(), None);
        assert_eq!(patched_limit(no_limit).unwrap(), Some(7));
        assert_eq!(patched_limit("{}").unwrap(), Some(7));
        assert_eq!(
            patched_limit(r#"{"concurrencyLimit": null}"#).unwrap(),
            None
        );
        assert_eq!(
            patched_limit(r#"{"concurrencyLimit": 3}"#).unwrap(),
            Some(3)
        );
    }

    #[test]
    fn the_output_shows_the_cap_and_why_the_engine_disabled_it() {
        let out = serde_json::to_value(EndpointOut::from(stored())).unwrap();
        assert_eq!(out["concurrencyLimit"], 7);
        assert_eq!(out["disabledReason"], "the receiver answered 410 Gone");

        let plain = Endpoint {
            disabled: false,
            disabled_reason: None,
            concurrency_limit: None,
            ..stored()
        };
        let out = serde_json::to_value(EndpointOut::from(plain)).unwrap();
        for key in ["concurrencyLimit", "disabledReason"] {
            assert_eq!(out.get(key), Some(&serde_json::Value::Null), "{key}");
        }
    }
}
