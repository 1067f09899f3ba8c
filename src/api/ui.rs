//! The dashboard at `/ui` and the API reference at `/docs`: static pages embedded in the
//! binary that talk to the API from the browser. No authentication is needed to load them;
//! every call they make carries the token the user signs in with.

use super::ApiState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file and its content type.
struct Asset {
    body: &'static str,
    content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static INDEX: Asset = Asset {
    body: include_str!("../../ui/index.html"),
    content_type: HTML,
};
static APP_JS: Asset = Asset {
    body: include_str!("../../ui/app.js"),
    content_type: JS,
};
static APP_CSS: Asset = Asset {
    body: include_str!("../../ui/app.css"),
    content_type: CSS,
};
static DOCS: Asset = Asset {
    body: include_str!("../../ui/docs.html"),
    content_type: HTML,
};
static DOCS_JS: Asset = Asset {
    body: include_str!("../../ui/docs.js"),
    content_type: JS,
};
static DOCS_CSS: Asset = Asset {
    body: include_str!("../../ui/docs.css"),
    content_type: CSS,
};

/// Scripts and styles only from this origin, no framing, no inline code.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

impl IntoResponse for &'static Asset {
    fn into_response(self) -> Response {
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(self.content_type),
                ),
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
            self.body,
        )
            .into_response()
    }
}

/// The page routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/ui", get(|| async { &INDEX }))
        .route("/ui/app.js", get(|| async { &APP_JS }))
        .route("/ui/app.css", get(|| async { &APP_CSS }))
        .route("/docs", get(|| async { &DOCS }))
        .route("/ui/docs.js", get(|| async { &DOCS_JS }))
        .route("/ui/docs.css", get(|| async { &DOCS_CSS }))
}
