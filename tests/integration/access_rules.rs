//! The access table against the running router: every rule names a route the router serves,
//! and every method it lists no rule for is not served (405), so no handler is reachable
//! without a decision about who may use it.

use crate::helpers::{StoreKind, spawn_app};
use axum::http::{Method, StatusCode};
use hookline::api::access::RULES;
use std::collections::BTreeSet;

/// `pattern` with every `{param}` filled in (`{app_id}` → `app_id-1`).
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment.strip_prefix('{') {
            Some(param) => format!("{}-1", param.trim_end_matches('}')),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_rule_names_a_served_route_and_unlisted_methods_are_not_served() {
    let app = spawn_app(StoreKind::Sqlite).await;
    let patterns: BTreeSet<&str> = RULES.iter().map(|(_, p, _)| *p).collect();
    for pattern in patterns {
        let path = concrete(pattern);
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let listed = RULES
                .iter()
                .any(|(m, p, _)| *p == pattern && *m == method.as_str());
            let (status, body) = app.request(method.clone(), &path, None).await;
            let unrouted = body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("no route for"));
            let served = status != StatusCode::METHOD_NOT_ALLOWED && !unrouted;
            assert_eq!(
                served, listed,
                "{method} {pattern} (as {path}) answered {status} {body}"
            );
            assert!(
                !status.is_server_error(),
                "{method} {path} answered {status} {body}"
            );
        }
    }
}
