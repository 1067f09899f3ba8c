//! Hookline's own OpenAPI document, generated from the code and served without auth at
//! `GET /openapi.json`.
//!
//! Every handler carries a `#[utoipa::path]` annotation: method, path, a Svix-style
//! `operation_id` (`v1.<resource>.<action>`) where Svix has the operation, a tag, its request
//! body, its query type (each `FromQuery` type also implements `utoipa::IntoParams`), and the
//! responses that are its own (successes, 409s). Its file's `routes()` registers it with
//! `utoipa_axum::routes!`, which adds the route to the router and the operation to the
//! document in one step, so nothing is served undocumented.
//!
//! What an operation shares with its neighbours is added when [`super::router`] assembles
//! the groups, so it is stated once and cannot be forgotten:
//! - [`secure`], on the authenticated group: the bearer requirement and its 401, and on
//!   POSTs the `idempotency-key` header with its 409 and 422;
//! - [`complete`], on the whole document: the path parameters, a 404
//!   for every operation that looks something up by path, a 422 for every operation that
//!   reads parameters or a body, and the 400 and 413 of JSON bodies.
//!
//! To add a route, annotate its handler like its neighbours, register it with
//! `routes!(handler)` in its file's `routes()` (an `OpenApiRouter<ApiState>`), and merge that
//! into the right group of [`super::router`].

mod params;
mod schemas;

pub use params::{
    channel, event_types, flag, iterator, limit, order, status, status_code_class, timestamp,
};
pub use schemas::{
    header_changes, header_map, header_map_or_null, secret_in, secret_out, status_text,
};

use super::ApiState;
use super::error::ErrorBody;
use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::Arc;
use utoipa::openapi::path::{HttpMethod, Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr,
    ResponseBuilder, Tag,
};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The name of the bearer security scheme.
const BEARER: &str = "bearer";

/// The tags operations are grouped by, with what each covers.
const TAGS: &[(&str, &str)] = &[
    (
        "Application",
        "Applications: one per customer of the platform.",
    ),
    (
        "Endpoint",
        "The URLs an application's messages are delivered to.",
    ),
    (
        "Event Type",
        "The kinds of messages, with optional JSON schemas.",
    ),
    (
        "Message",
        "Events posted once, fanned out to every subscribed endpoint.",
    ),
    (
        "Message Attempt",
        "Delivery attempts, their outcomes, and resending.",
    ),
    (
        "Health",
        "Liveness and the API description; no token needed.",
    ),
];

/// The document before any operation is added: title, version, tags, the bearer scheme and
/// the error body.
pub fn base() -> OpenApi {
    let info = InfoBuilder::new()
        .title("Hookline")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Resilient outbound webhook delivery. The management API is wire-compatible with \
             the Svix v1 API; Hookline's own additions follow its conventions.",
        ))
        .build();
    let components = ComponentsBuilder::new()
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`HOOKLINE_API_TOKEN`) as `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        )
        .schema(ErrorBody::name(), ErrorBody::schema())
        .build();
    let tags = TAGS
        .iter()
        .map(|(name, description)| {
            let mut tag = Tag::new(*name);
            tag.description = Some((*description).to_owned());
            tag
        })
        .collect::<Vec<_>>();
    OpenApiBuilder::new()
        .info(info)
        .components(Some(components))
        .tags(Some(tags))
        .build()
}

/// Every operation of `doc` with its method.
fn operations(doc: &mut OpenApi) -> impl Iterator<Item = (&str, HttpMethod, &mut Operation)> {
    doc.paths.paths.iter_mut().flat_map(|(path, item)| {
        let PathItem {
            get,
            put,
            post,
            delete,
            options,
            head,
            patch,
            trace,
            ..
        } = item;
        [
            (HttpMethod::Get, get),
            (HttpMethod::Put, put),
            (HttpMethod::Post, post),
            (HttpMethod::Delete, delete),
            (HttpMethod::Options, options),
            (HttpMethod::Head, head),
            (HttpMethod::Patch, patch),
            (HttpMethod::Trace, trace),
        ]
        .into_iter()
        .filter_map(move |(method, op)| op.as_mut().map(|op| (path.as_str(), method, op)))
    })
}

/// The `{code, detail}` body of every error.
fn error_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
        .build()
}

/// Adds an error response with the `{code, detail}` body, unless the operation documents
/// that status itself.
fn error_response(op: &mut Operation, status: u16, description: &str) {
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", error_content())
        .build();
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert(RefOr::T(response));
}

/// Gives the error responses an operation documents itself (its 409s) the error body.
fn error_bodies(op: &mut Operation) {
    for (status, response) in &mut op.responses.responses {
        if let (true, RefOr::T(response)) = (status.starts_with('4'), response) {
            if response.content.is_empty() {
                response
                    .content
                    .insert("application/json".to_owned(), error_content());
            }
        }
    }
}

/// Documents an authenticated group: every operation needs the bearer token (401 without,
/// 403 outside its scope) and, when the group is `idempotent`, every POST honours
/// `idempotency-key`.
pub fn secure(doc: &mut OpenApi, idempotent: bool) {
    for (_, method, op) in operations(doc) {
        op.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
        error_response(op, 401, "No bearer token, or one that is not accepted.");
        error_response(
            op,
            403,
            "The token may not use this route (an application-scoped token outside its application).",
        );
        if idempotent && method == HttpMethod::Post {
            op.parameters
                .get_or_insert_with(Vec::new)
                .push(params::idempotency_key());
            error_response(
                op,
                409,
                "A conflict, e.g. a request with this idempotency-key is still in progress.",
            );
        }
    }
}

/// The path parameters of a path template such as `/api/v1/app/{app_id}`.
fn template_names(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// Completes the whole document: path parameters, lookups' 404s, and the errors of
/// parameters and bodies.
pub fn complete(doc: &mut OpenApi) {
    for (path, _, op) in operations(doc) {
        let path_params: Vec<_> = template_names(path).map(params::path).collect();
        let looks_up = !path_params.is_empty();
        let parameters = op.parameters.get_or_insert_with(Vec::new);
        parameters.splice(0..0, path_params);
        if looks_up {
            error_response(op, 404, "Nothing has the id or uid the path names.");
        }
        if op.request_body.is_some() {
            error_response(op, 400, "The body is not valid JSON.");
            error_response(op, 413, "The body is larger than `HOOKLINE_MAX_PAYLOAD`.");
        }
        let reads_input =
            op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
        if reads_input {
            error_response(
                op,
                422,
                "A parameter or a body field is not valid; `detail` names it.",
            );
        } else if op.parameters.as_ref().is_some_and(Vec::is_empty) {
            op.parameters = None;
        }
        error_bodies(op);
    }
}

/// The document as served, serialized once.
#[derive(Clone)]
pub struct Document(Arc<Bytes>);

impl Document {
    /// Serializes `doc`.
    ///
    /// # Errors
    /// If it cannot be serialized, which would be a bug in an annotation.
    pub fn new(doc: &OpenApi) -> serde_json::Result<Self> {
        serde_json::to_vec(doc).map(|json| Self(Arc::new(Bytes::from(json))))
    }
}

/// Hookline's OpenAPI document: every route this server serves, generated from the code.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi.get",
    tag = "Health",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json")),
)]
async fn document(Extension(doc): Extension<Document>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::clone(&doc.0),
    )
}

/// `GET /openapi.json`; the router adds the [`Document`] it serves as an extension.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(document))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use utoipa::openapi::path::OperationBuilder;
    use utoipa::openapi::request_body::RequestBody;
    use utoipa::openapi::{Response, ResponsesBuilder};

    #[test]
    fn template_parameters_are_read_in_order() {
        let names: Vec<_> = template_names("/api/v1/app/{app_id}/msg/{msg_id}/content").collect();
        assert_eq!(names, ["app_id", "msg_id"]);
        assert_eq!(template_names("/api/v1/health").count(), 0);
    }

    #[test]
    fn completion_adds_path_parameters_and_the_errors_of_lookups_and_bodies() {
        let op = OperationBuilder::new()
            .request_body(Some(RequestBody::new()))
            .responses(
                ResponsesBuilder::new()
                    .response("201", Response::new("created"))
                    .response("409", Response::new("taken")),
            )
            .build();
        let mut doc = base();
        let path = "/api/v1/app/{app_id}/endpoint";
        doc.paths
            .paths
            .insert(path.into(), PathItem::new(HttpMethod::Post, op));
        secure(&mut doc, true);
        complete(&mut doc);

        let op = doc.paths.paths[path].post.as_ref().unwrap();
        let params: Vec<_> = op
            .parameters
            .iter()
            .flatten()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(params, ["app_id", "idempotency-key"]);
        let statuses: Vec<_> = op.responses.responses.keys().map(String::as_str).collect();
        assert_eq!(
            statuses,
            ["201", "400", "401", "403", "404", "409", "413", "422"]
        );
        let RefOr::T(taken) = &op.responses.responses["409"] else {
            panic!("an inline 409");
        };
        assert_eq!(
            taken.description, "taken",
            "the operation's own text is kept"
        );
        assert!(taken.content.contains_key("application/json"));
        assert!(op.security.is_some());
    }
}
