//! The dashboard at `/ui` and the API reference at `/docs`: static pages embedded in the
//! binary that talk to the API from the browser. No authentication is needed to load them;
//! every call they make carries the token the user signs in with.

use super::ApiState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every embedded file: the path it is served at, its content and its content type.
const ASSETS: &[(&str, &str, &str)] = &[
    ("/ui", include_str!("../../ui/index.html"), HTML),
    ("/ui/app.js", include_str!("../../ui/app.js"), JS),
    ("/ui/app.css", include_str!("../../ui/app.css"), CSS),
    ("/docs", include_str!("../../ui/docs.html"), HTML),
    ("/ui/docs.js", include_str!("../../ui/docs.js"), JS),
    ("/ui/docs.css", include_str!("../../ui/docs.css"), CSS),
];

/// Scripts and styles only from this origin, no framing, no inline code.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// One embedded file with its type and the headers every page gets.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// The page routes, one per entry of [`ASSETS`].
pub fn routes() -> Router<ApiState> {
    ASSETS
        .iter()
        .fold(Router::new(), |router, &(path, body, content_type)| {
            router.route(path, get(move || async move { asset(body, content_type) }))
        })
}
