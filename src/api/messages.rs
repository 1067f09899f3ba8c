//! `/api/v1/app/{app_id}/msg`: create (fan-out), list, get, expunge content.

use super::ApiState;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query};
use super::pagination::{KeyKind, ListResponse, Listing};
use super::params::{FromQuery, QueryParams};
use super::resolve::{self, gone};
use super::wire::{MessageIn, MessageOut};
use crate::domain::{AppId, Channel, EventTypeName};
use crate::store::{MessageFilter, Order, PageRequest};
use axum::extract::State;
use axum::http::StatusCode;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Messages list newest first; the reference gives no `order` parameter.
pub(crate) const LISTING: Listing = Listing {
    key: KeyKind::Message,
    default_order: Order::Descending,
    orderable: false,
};

/// The message routes.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read))
        .routes(routes!(expunge))
}

/// `with_content`, which defaults to true for messages.
pub(crate) struct WithContent(pub bool);

impl FromQuery for WithContent {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        params.bool("with_content", true).map(Self)
    }
}

impl IntoParams for WithContent {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![with_content_param(
            "Include the payload; `{}` stands in for it otherwise.",
        )]
    }
}

/// `with_content`, default true, described for the items of one listing.
pub(crate) fn with_content_param(description: &str) -> Parameter {
    super::openapi::flag("with_content", true, description)
}

/// The documentation of what [`message_filter`] reads, but `status`.
pub(crate) fn message_filter_params() -> Vec<Parameter> {
    use super::openapi::{channel, event_types, timestamp};
    vec![
        channel(),
        event_types(),
        timestamp("before", "Only items created before this time."),
        timestamp("after", "Only items created after this time."),
    ]
}

/// Reads `channel`, `event_types`, `before` and `after` (and `status` where `with_status`).
pub(crate) fn message_filter(
    params: &QueryParams,
    with_status: bool,
) -> Result<MessageFilter, ApiError> {
    let event_types = params
        .list("event_types")
        .into_iter()
        .map(|t| EventTypeName::parse(t).map_err(|e| ApiError::validation("event_types", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let status = if with_status {
        params.parsed("status", super::attempts::parse_status)?
    } else {
        None
    };
    Ok(MessageFilter {
        channel: params.parsed("channel", Channel::parse)?,
        event_types: Some(event_types).filter(|t| !t.is_empty()),
        before: params.datetime("before")?,
        after: params.datetime("after")?,
        status,
    })
}

/// Pagination, filters and `with_content`.
struct ListQuery {
    page: PageRequest,
    filter: MessageFilter,
    with_content: bool,
}

impl FromQuery for ListQuery {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        Ok(Self {
            page: LISTING.request(params)?,
            filter: message_filter(params, false)?,
            with_content: WithContent::from_query(params)?.0,
        })
    }
}

impl IntoParams for ListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = LISTING.params();
        params.extend(message_filter_params());
        params.push(with_content_param(
            "Include payloads; `{}` stands in for them otherwise.",
        ));
        params
    }
}

/// Posts a message: it is stored with one delivery per subscribed endpoint before the
/// answer. If the path names no application and the body carries `application`, one is
/// created with the path's key as its uid.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg",
    operation_id = "v1.message.create",
    tag = "Message",
    params(WithContent),
    request_body = MessageIn,
    responses(
        (status = 202, description = "The message was accepted and will be delivered.", body = MessageOut),
        (status = 409, description = "The application already has a message with this `eventId`."),
    ),
)]
async fn create(
    State(st): State<ApiState>,
    Path(app_key): Path<String>,
    Query(WithContent(with_content)): Query<WithContent>,
    Json(body): Json<MessageIn>,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    let (draft, application) = body.into_parts()?;
    // An id names the application without a lookup (uids are never id-shaped): the store
    // answers `NotFound` if there is no such application.
    let app_id = match (AppId::parse(&app_key), application) {
        (Some(id), None) => id,
        (_, application) => {
            resolve::app_or_create(st.store.as_ref(), &app_key, application)
                .await?
                .id
        }
    };
    let new = draft.for_app(&app_id);
    let deliveries = st
        .store
        .create_message(&new)
        .await
        .map_err(gone("application", &app_key))?;
    st.metrics.message_accepted();
    tracing::debug!(msg_id = %new.message.id, deliveries, "message accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageOut::new(new.message, with_content)),
    ))
}

/// Lists an application's messages, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg",
    operation_id = "v1.message.list",
    tag = "Message",
    params(ListQuery),
    responses((status = 200, description = "A page of messages.", body = ListResponse<MessageOut>)),
)]
async fn list(
    State(st): State<ApiState>,
    Path(app_key): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<ListResponse<MessageOut>>> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let messages = st.store.list_messages(&app.id, &q.filter, &q.page).await?;
    Ok(Json(ListResponse::from_page(
        messages,
        |m| m.id.to_string(),
        |m| MessageOut::new(m, q.with_content),
    )))
}

/// Gets a message by id or `eventId`.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}",
    operation_id = "v1.message.get",
    tag = "Message",
    params(WithContent),
    responses((status = 200, description = "The message.", body = MessageOut)),
)]
async fn read(
    State(st): State<ApiState>,
    Path((app_key, msg_key)): Path<(String, String)>,
    Query(WithContent(with_content)): Query<WithContent>,
) -> ApiResult<Json<MessageOut>> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let message = resolve::message(st.store.as_ref(), &app, &msg_key).await?;
    Ok(Json(MessageOut::new(message, with_content)))
}

/// Deletes a message's payload for good; the message and its attempts stay.
#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/content",
    operation_id = "v1.message.expunge-content",
    tag = "Message",
    responses((status = 204, description = "The payload was deleted.")),
)]
async fn expunge(
    State(st): State<ApiState>,
    Path((app_key, msg_key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let message = resolve::message(st.store.as_ref(), &app, &msg_key).await?;
    st.store
        .expunge_message_content(&app.id, &message.id)
        .await
        .map_err(gone("message", &msg_key))?;
    Ok(StatusCode::NO_CONTENT)
}
