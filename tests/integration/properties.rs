//! Property tests for every parser of user input: arbitrary text never panics, and what is
//! accepted round-trips.

use hookline::api::extract::parse_json;
use hookline::api::pagination::{KeyKind, parse_iterator, parse_limit, parse_order};
use hookline::api::params::QueryParams;
use hookline::api::wire::{ApplicationIn, EndpointIn, EventTypeIn, MessageIn, validate_headers};
use hookline::delivery::retry::parse_retry_after;
use hookline::domain::{
    AppId, Channel, EndpointId, EndpointSecret, EndpointUrl, EventTypeName, MessageId, Uid,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

/// Text biased towards the characters parsers care about.
fn tricky() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._~:/?#@!$&'()*+,;=%\\[\\] -]{0,80}",
        "(https?|ftp|file)://[a-z0-9.\\[\\]:@%-]{0,40}(/[a-z0-9%?#=&]{0,20})?",
        "(whsec_)?[A-Za-z0-9+/=_-]{0,100}",
        "-?(app|ep|msg|atmpt)_[0-9A-Za-z]{0,30}",
        "[0-9]{0,12}(ms|s|m|h|d|KiB|MiB|B)?",
    ]
}

/// A JSON value of any shape, up to a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(Into::into),
        any::<i64>().prop_map(Into::into),
        any::<f64>().prop_map(
            |f| serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
        ),
        tricky().prop_map(Into::into),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Into::into),
            prop::collection::btree_map(tricky(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with the fields a body type reads, each of arbitrary shape.
fn body_with(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::option::of(json_value()), fields.len()).prop_map(move |values| {
        let object: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .zip(values)
            .filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), v)))
            .collect();
        serde_json::to_vec(&object).unwrap_or_default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn endpoint_urls_never_panic_and_accepted_ones_are_stable(s in tricky()) {
        if let Ok(url) = EndpointUrl::parse(&s) {
            let again = EndpointUrl::parse(url.as_str());
            prop_assert_eq!(again.as_ref().map(EndpointUrl::as_str), Ok(url.as_str()));
            prop_assert_eq!(again.ok().and_then(|u| u.host_ip()), url.host_ip());
        }
    }

    #[test]
    fn the_address_policy_never_panics_and_blocks_loopback(octets in any::<[u8; 4]>(), v6 in any::<u128>()) {
        let v4 = std::net::Ipv4Addr::from(octets);
        let verdict = hookline::net::address::check(v4.into(), &[]);
        if v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified() {
            prop_assert!(verdict.is_err(), "{v4} passed");
        }
        let mapped = v4.to_ipv6_mapped();
        prop_assert_eq!(hookline::net::address::check(mapped.into(), &[]).is_ok(), verdict.is_ok());
        let _ = hookline::net::address::check(std::net::Ipv6Addr::from(v6).into(), &[]);
    }

    #[test]
    fn names_accept_exactly_their_alphabet(s in tricky()) {
        let alphabet = !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        prop_assert_eq!(Uid::parse(&s).is_ok(), alphabet && s.len() <= 256);
        prop_assert_eq!(EventTypeName::parse(&s).is_ok(), alphabet && s.len() <= 256);
        prop_assert_eq!(Channel::parse(&s).is_ok(), alphabet && s.len() <= 128);
    }

    #[test]
    fn secrets_never_panic_and_accepted_ones_round_trip(s in tricky()) {
        if let Ok(secret) = EndpointSecret::parse(&s) {
            prop_assert_eq!(EndpointSecret::parse(&secret.expose()), Ok(secret));
        }
    }

    #[test]
    fn ids_never_panic_and_accepted_ones_round_trip(
        s in prop_oneof![tricky(), "app_[0-9A-Za-z]{24,28}"],
    ) {
        if let Some(id) = AppId::parse(&s) {
            prop_assert_eq!(AppId::parse(&id.to_string()), Some(id));
        }
        let _ = EndpointId::parse(&s);
        let _ = MessageId::parse(&s);
    }

    #[test]
    fn pagination_parameters_never_panic(s in tricky()) {
        for kind in [KeyKind::App, KeyKind::Endpoint, KeyKind::Message, KeyKind::Attempt, KeyKind::EventType] {
            if let Ok(Some(cursor)) = parse_iterator(Some(&s), kind) {
                prop_assert_eq!(cursor.backwards, s.starts_with('-'));
            }
        }
        if let Ok(n) = parse_limit(Some(&s)) {
            prop_assert!((1..=250).contains(&n));
        }
        let _ = parse_order(Some(&s));
    }

    #[test]
    fn query_strings_never_panic(s in tricky()) {
        let params = QueryParams::parse(&s);
        let _ = params.str("limit");
        let _ = params.bool("with_content", true);
        let _ = params.datetime("before");
        let _ = params.list("event_types");
    }

    #[test]
    fn retry_after_reads_delta_seconds_and_never_panics(s in tricky()) {
        let now = chrono::Utc::now();
        let wait = parse_retry_after(&s, now);
        if let Ok(secs) = s.trim().parse::<u64>() {
            prop_assert_eq!(wait, Some(std::time::Duration::from_secs(secs)));
        }
    }

    #[test]
    fn retry_after_dates_in_the_future_are_waits(secs in 1i64..10_000_000) {
        let now = chrono::Utc::now();
        let at = (now + chrono::TimeDelta::seconds(secs)).to_rfc2822();
        let wait = parse_retry_after(&at, now).map(|w| w.as_secs());
        prop_assert!(wait.is_some_and(|w| w.abs_diff(secs.unsigned_abs()) <= 1), "{at}: {wait:?}");
    }

    #[test]
    fn configuration_values_never_panic(s in tricky()) {
        for var in [
            "REQUEST_TIMEOUT", "RETRY_SCHEDULE", "MAX_PAYLOAD", "BODY_TIMEOUT", "LISTEN",
            "ALLOWED_SUBNETS", "LEASE", "POLL_INTERVAL", "WORKER_CONCURRENCY", "BREAKER_WINDOW",
            "DISABLE_AFTER", "MAIN_SECRET", "API_TOKEN", "DATABASE_URL",
        ] {
            let values = HashMap::from([(format!("HOOKLINE_{var}"), s.clone())]);
            let _ = hookline::Config::from_values(&values);
        }
    }

    #[test]
    fn endpoint_headers_never_panic(pairs in prop::collection::btree_map(tricky(), tricky(), 0..8)) {
        if let Ok(valid) = validate_headers(pairs) {
            prop_assert!(valid.keys().all(|k| k.chars().all(|c| !c.is_ascii_uppercase())));
        }
    }

    #[test]
    fn request_bodies_never_panic(
        endpoint in body_with(&["url", "uid", "secret", "eventTypes", "channels", "headers", "throttleRate", "metadata", "disabled"]),
        message in body_with(&["eventType", "payload", "eventId", "channels", "application", "payloadRetentionPeriod"]),
        app in body_with(&["name", "uid", "rateLimit", "metadata"]),
        event_type in body_with(&["name", "description", "schemas", "featureFlag", "deprecated"]),
        raw in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        if let Ok(body) = parse_json::<EndpointIn>(&endpoint) {
            let _ = body.into_parts(&[]);
        }
        if let Ok(body) = parse_json::<MessageIn>(&message) {
            let _ = body.into_parts();
        }
        let _ = parse_json::<ApplicationIn>(&app);
        if let Ok(body) = parse_json::<EventTypeIn>(&event_type) {
            let _ = body.into_parts();
        }
        let _ = parse_json::<BTreeMap<String, serde_json::Value>>(&raw);
    }
}
