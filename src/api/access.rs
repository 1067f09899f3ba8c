//! Authorisation: which principal may use which route, decided in one place.
//!
//! [`RULES`] lists every authenticated route (method and axum path pattern) with its
//! [`Access`]. [`authorize`] runs on every request after authentication and looks the
//! matched route up there, so a handler never checks scope itself. The table fails closed:
//! a route pattern missing from it answers 500 to everyone (a bug, logged), so a new route
//! cannot ship without a decision; a method missing for a listed pattern is refused to
//! application tokens (and for admins the router answers 405, as nothing serves it).

use super::auth::Principal;
use super::error::ApiError;
use crate::domain::AppId;
use crate::store::Store;
use axum::http::Method;

/// The path parameter naming the application, in every route that has one.
pub const APP_PARAM: &str = "app_id";

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Admin tokens only.
    Admin,
    /// Admin tokens, and application tokens of the application `{app_id}` names.
    OwnApp,
    /// Any valid token.
    AnyToken,
    /// Application tokens only: logging out is for tokens that can be revoked.
    AppToken,
}

use Access::{Admin, AnyToken, AppToken, OwnApp};

/// Every authenticated route: method, axum path pattern, access. An `OwnApp` token must
/// own the application the `{app_id}` segment names.
#[rustfmt::skip]
pub const RULES: &[(&str, &str, Access)] = &[
    ("GET",    "/api/v1/app",                                                     Admin),
    ("POST",   "/api/v1/app",                                                     Admin),
    ("GET",    "/api/v1/app/{app_id}",                                            OwnApp),
    ("PUT",    "/api/v1/app/{app_id}",                                            Admin),
    ("PATCH",  "/api/v1/app/{app_id}",                                            Admin),
    ("DELETE", "/api/v1/app/{app_id}",                                            Admin),
    ("GET",    "/api/v1/app/{app_id}/endpoint",                                   OwnApp),
    ("POST",   "/api/v1/app/{app_id}/endpoint",                                   OwnApp),
    ("GET",    "/api/v1/app/{app_id}/endpoint/{endpoint_id}",                     OwnApp),
    ("PUT",    "/api/v1/app/{app_id}/endpoint/{endpoint_id}",                     OwnApp),
    ("PATCH",  "/api/v1/app/{app_id}/endpoint/{endpoint_id}",                     OwnApp),
    ("DELETE", "/api/v1/app/{app_id}/endpoint/{endpoint_id}",                     OwnApp),
    ("GET",    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",             OwnApp),
    ("PUT",    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",             OwnApp),
    ("PATCH",  "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",             OwnApp),
    ("GET",    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret",              OwnApp),
    ("POST",   "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",       OwnApp),
    ("GET",    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats",               OwnApp),
    ("GET",    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/health",              OwnApp),
    ("POST",   "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",             OwnApp),
    ("POST",   "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example",        OwnApp),
    ("GET",    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",                 OwnApp),
    ("GET",    "/api/v1/app/{app_id}/msg",                                        OwnApp),
    ("POST",   "/api/v1/app/{app_id}/msg",                                        OwnApp),
    ("GET",    "/api/v1/app/{app_id}/msg/{msg_id}",                               OwnApp),
    ("DELETE", "/api/v1/app/{app_id}/msg/{msg_id}/content",                       OwnApp),
    ("GET",    "/api/v1/app/{app_id}/msg/{msg_id}/endpoint",                      OwnApp),
    ("POST",   "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", OwnApp),
    ("GET",    "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",          OwnApp),
    ("DELETE", "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",  OwnApp),
    ("GET",    "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",             OwnApp),
    ("GET",    "/api/v1/app/{app_id}/attempt/msg/{msg_id}",                       OwnApp),
    ("GET",    "/api/v1/event-type",                                              AnyToken),
    ("POST",   "/api/v1/event-type",                                              Admin),
    ("GET",    "/api/v1/event-type/{event_type_name}",                            AnyToken),
    ("PUT",    "/api/v1/event-type/{event_type_name}",                            Admin),
    ("PATCH",  "/api/v1/event-type/{event_type_name}",                            Admin),
    ("DELETE", "/api/v1/event-type/{event_type_name}",                            Admin),
    ("POST",   "/api/v1/auth/app-portal-access/{app_id}",                         Admin),
    ("POST",   "/api/v1/auth/logout",                                             AppToken),
    ("GET",    "/api/v1/status",                                                  Admin),
    ("GET",    "/metrics",                                                        Admin),
];

/// What [`RULES`] says about a method on a route pattern.
#[derive(Debug, PartialEq, Eq)]
enum Lookup {
    /// The rule for exactly this method and pattern.
    Rule(Access),
    /// The pattern is listed, with other methods only.
    UnlistedMethod,
    /// The pattern is not listed at all.
    UnknownRoute,
}

fn lookup(method: &Method, route: &str) -> Lookup {
    // axum serves HEAD with the GET handler.
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let mut listed = false;
    for (m, pattern, access) in RULES {
        if *pattern == route {
            if *m == method {
                return Lookup::Rule(*access);
            }
            listed = true;
        }
    }
    if listed {
        Lookup::UnlistedMethod
    } else {
        Lookup::UnknownRoute
    }
}

/// The refusal for an application token outside its scope.
fn forbidden(method: &Method, route: &str) -> ApiError {
    ApiError::Forbidden(format!(
        "an application-scoped token cannot use {method} {route}; an admin token is required"
    ))
}

/// Decides whether `principal` may send `method` to the matched `route`, whose `{app_id}`
/// segment (if any) is `app_key`. For an application token, `app_key` is resolved by id or
/// uid and must be the token's application; a key naming no application is refused the
/// same way as another application's, so tokens cannot probe which applications exist.
///
/// # Errors
/// 403 `forbidden` when the principal may not; 500 for a route missing from [`RULES`] or a
/// failing store.
pub async fn authorize(
    store: &dyn Store,
    principal: &Principal,
    method: &Method,
    route: Option<&str>,
    app_key: Option<&str>,
) -> Result<(), ApiError> {
    let Some(route) = route else {
        return Err(ApiError::internal(
            "the access check ran on a request that matched no route",
        ));
    };
    let access = match lookup(method, route) {
        Lookup::Rule(access) => access,
        // Nothing serves this method here: let the router answer 405.
        Lookup::UnlistedMethod if *principal == Principal::Admin => return Ok(()),
        Lookup::UnlistedMethod => return Err(forbidden(method, route)),
        Lookup::UnknownRoute => {
            return Err(ApiError::internal(format!(
                "route {route} has no access rule in api::access::RULES"
            )));
        }
    };
    match (access, principal) {
        (AnyToken, _) | (Admin | OwnApp, Principal::Admin) | (AppToken, Principal::App { .. }) => {
            Ok(())
        }
        (AppToken, Principal::Admin) => Err(ApiError::Forbidden(
            "only application-scoped tokens can log out; admin tokens are configured by \
             HOOKLINE_API_TOKEN"
                .into(),
        )),
        (Admin, Principal::App { .. }) => Err(forbidden(method, route)),
        (OwnApp, Principal::App { app_id, .. }) => own_app(store, app_id, app_key).await,
    }
}

/// Whether `key` (id or uid) names the application `own`.
async fn own_app(store: &dyn Store, own: &AppId, key: Option<&str>) -> Result<(), ApiError> {
    let Some(key) = key else {
        return Err(ApiError::internal(format!(
            "an application-scoped route has no {{{APP_PARAM}}} segment"
        )));
    };
    if key == own.as_str() {
        return Ok(());
    }
    match store.get_application(key).await? {
        Some(app) if &app.id == own => Ok(()),
        _ => Err(ApiError::Forbidden(
            "an application-scoped token can only access its own application".into(),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::{ApiState, Auth, router};
    use std::collections::BTreeSet;
    use std::sync::Arc;

    /// Routes open without a token, mounted outside the authentication layer.
    const PUBLIC: &[&str] = &["/api/v1/health", "/api/v1/health/ping"];

    /// The path patterns in axum's `Debug` of a router (`paths: {RouteId(0): "/a", …}`):
    /// axum has no public way to list routes.
    fn registered_patterns(debug: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for section in debug.split("paths: {").skip(1) {
            let (mut quoted, mut current) = (false, String::new());
            for c in section.chars() {
                match (quoted, c) {
                    (false, '}') => break,
                    (false, '"') => quoted = true,
                    (true, '"') => {
                        quoted = false;
                        out.insert(std::mem::take(&mut current));
                    }
                    (true, c) => current.push(c),
                    (false, _) => {}
                }
            }
        }
        out
    }

    async fn test_store() -> (tempfile::TempDir, crate::store::DynStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hookline.db").display());
        let store = crate::store::open(&url, crate::store::Sealer::new(None))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn every_route_of_the_router_is_public_or_has_a_rule() {
        let (_dir, store) = test_store().await;
        let state = ApiState {
            metrics: crate::metrics::Metrics::new(),
            store,
            config: Arc::new(crate::Config::default()),
            auth: Arc::new(Auth::from_tokens(&[])),
        };
        let registered = registered_patterns(&format!("{:?}", router(state)));
        let api: BTreeSet<_> = registered
            .iter()
            .filter(|p| p.starts_with("/api/"))
            .collect();
        assert!(
            api.len() > 20,
            "found only {api:?} in the router's Debug output; has axum's format changed?"
        );
        for pattern in api {
            assert!(
                PUBLIC.contains(&pattern.as_str()) || RULES.iter().any(|(_, p, _)| p == pattern),
                "route {pattern} has no access rule in RULES"
            );
        }
        for (method, pattern, _) in RULES {
            assert!(
                registered.contains(*pattern),
                "{method} {pattern} has a rule but no route"
            );
        }
    }

    #[tokio::test]
    async fn unlisted_routes_fail_closed() {
        let (_dir, store) = test_store().await;
        let app = Principal::App {
            app_id: AppId::generate(),
            token_hash: "00".repeat(32),
        };
        for who in [&Principal::Admin, &app] {
            let err = authorize(store.as_ref(), who, &Method::GET, Some("/api/v1/new"), None)
                .await
                .unwrap_err();
            assert_eq!(err.code(), "internal", "{who:?}");
        }
        let route = Some("/api/v1/app/{app_id}");
        let key = Some("some-app");
        assert!(
            authorize(store.as_ref(), &Principal::Admin, &Method::POST, route, key)
                .await
                .is_ok(),
            "admins reach the router's 405"
        );
        let err = authorize(store.as_ref(), &app, &Method::POST, route, key)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
    }

    #[test]
    fn each_method_and_pattern_has_one_rule() {
        let mut seen = BTreeSet::new();
        for (method, pattern, _) in RULES {
            assert!(
                seen.insert((*method, *pattern)),
                "{method} {pattern} is listed twice"
            );
            assert!(
                Method::from_bytes(method.as_bytes()).is_ok(),
                "bad method {method}"
            );
            assert!(
                pattern.starts_with("/api/v1/") || *pattern == "/metrics",
                "{pattern}"
            );
        }
    }

    #[test]
    fn application_scoped_rules_are_on_routes_naming_an_application() {
        let app_segment = format!("{{{APP_PARAM}}}");
        for (method, pattern, access) in RULES {
            if *access == OwnApp {
                assert!(
                    pattern.starts_with("/api/v1/app/") && pattern.contains(&app_segment),
                    "{method} {pattern} is OwnApp but names no application"
                );
            }
        }
    }

    #[test]
    fn every_route_under_an_application_is_open_to_its_token() {
        for (method, pattern, access) in RULES {
            if pattern.starts_with("/api/v1/app/{app_id}/") {
                assert_eq!(*access, OwnApp, "{method} {pattern}");
            }
        }
    }

    #[test]
    fn lookups_distinguish_unlisted_methods_from_unknown_routes() {
        assert_eq!(lookup(&Method::GET, "/api/v1/app"), Lookup::Rule(Admin));
        assert_eq!(
            lookup(&Method::HEAD, "/api/v1/app/{app_id}"),
            Lookup::Rule(OwnApp)
        );
        assert_eq!(
            lookup(&Method::DELETE, "/api/v1/app/{app_id}"),
            Lookup::Rule(Admin)
        );
        assert_eq!(
            lookup(&Method::POST, "/api/v1/app/{app_id}"),
            Lookup::UnlistedMethod
        );
        assert_eq!(
            lookup(&Method::GET, "/api/v1/secret-admin"),
            Lookup::UnknownRoute
        );
        assert_eq!(
            lookup(&Method::GET, "/api/v1/event-type"),
            Lookup::Rule(AnyToken)
        );
        assert_eq!(
            lookup(&Method::POST, "/api/v1/event-type"),
            Lookup::Rule(Admin)
        );
    }
}
