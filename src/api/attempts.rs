//! Delivery attempts: listings by endpoint and by message, one attempt, expunging a
//! response, the attempted destinations of a message, the attempted messages of an
//! endpoint, and `resend`.

use super::ApiState;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query};
use super::messages::{WithContent, message_filter};
use super::pagination::{KeyKind, ListResponse, Listing};
use super::params::{FromQuery, QueryParams};
use super::resolve::{self, gone};
use super::wire::{EndpointMessageOut, MessageAttemptOut, MessageEndpointOut};
use crate::domain::Uid;
use crate::store::{AttemptFilter, DeliveryStatus, MessageFilter, Order, PageRequest};
use axum::extract::State;
use axum::http::StatusCode;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Attempts list newest first; the reference gives no `order` parameter.
const ATTEMPTS: Listing = Listing {
    key: KeyKind::Attempt,
    default_order: Order::Descending,
    orderable: false,
};

/// A message's destinations list by endpoint id, oldest endpoint first.
const DESTINATIONS: Listing = Listing {
    key: KeyKind::Endpoint,
    default_order: Order::Ascending,
    orderable: false,
};

/// The attempt routes.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_by_endpoint))
        .routes(routes!(list_by_msg))
        .routes(routes!(read))
        .routes(routes!(expunge))
        .routes(routes!(destinations))
        .routes(routes!(attempted_messages))
        .routes(routes!(resend))
}

/// A `status` query value: 0 success, 1 pending, 2 fail, 3 sending.
///
/// # Errors
/// Text saying what is accepted.
pub(crate) fn parse_status(raw: &str) -> Result<DeliveryStatus, &'static str> {
    raw.parse::<i64>()
        .ok()
        .and_then(DeliveryStatus::from_i64)
        .ok_or("must be 0 (success), 1 (pending), 2 (fail) or 3 (sending)")
}

/// A `status_code_class` query value: 0 (no response), 100, 200, 300, 400 or 500.
fn parse_code_class(raw: &str) -> Result<u16, &'static str> {
    raw.parse::<u16>()
        .ok()
        .filter(|c| [0, 100, 200, 300, 400, 500].contains(c))
        .ok_or("must be one of 0, 100, 200, 300, 400, 500")
}

/// Pagination, filters and `with_content` of the attempt listings. `endpoint_id` (by-message
/// listing only) is an id or uid, resolved by the handler.
struct AttemptQuery {
    page: PageRequest,
    filter: AttemptFilter,
    endpoint_key: Option<String>,
    with_content: bool,
}

impl FromQuery for AttemptQuery {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        let messages = message_filter(params, false)?;
        Ok(Self {
            page: ATTEMPTS.request(params)?,
            filter: AttemptFilter {
                msg_id: None,
                endpoint_id: None,
                status: params.parsed("status", parse_status)?,
                status_code_class: params.parsed("status_code_class", parse_code_class)?,
                channel: messages.channel,
                event_types: messages.event_types,
                before: messages.before,
                after: messages.after,
            },
            endpoint_key: params.str("endpoint_id")?.map(str::to_owned),
            with_content: WithContent::from_query(params)?.0,
        })
    }
}

impl IntoParams for AttemptQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        use super::openapi;
        let mut params = ATTEMPTS.params();
        params.push(openapi::status("Only attempts with this status."));
        params.push(openapi::status_code_class());
        params.extend(super::messages::message_filter_params());
        params.push(super::messages::with_content_param(
            "Include response bodies; an empty string stands in for them otherwise.",
        ));
        params
    }
}

/// Pagination, filters (with `status`) and `with_content` of an endpoint's messages.
struct AttemptedMessagesQuery {
    page: PageRequest,
    filter: MessageFilter,
    with_content: bool,
}

impl FromQuery for AttemptedMessagesQuery {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        Ok(Self {
            page: super::messages::LISTING.request(params)?,
            filter: message_filter(params, true)?,
            with_content: WithContent::from_query(params)?.0,
        })
    }
}

impl IntoParams for AttemptedMessagesQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = super::messages::LISTING.params();
        params.push(super::openapi::status(
            "Only messages whose delivery to the endpoint has this status.",
        ));
        params.extend(super::messages::message_filter_params());
        params.push(super::messages::with_content_param(
            "Include payloads; `{}` stands in for them otherwise.",
        ));
        params
    }
}

/// Just pagination.
struct DestinationsQuery(PageRequest);

impl FromQuery for DestinationsQuery {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        DESTINATIONS.request(params).map(Self)
    }
}

impl IntoParams for DestinationsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        DESTINATIONS.params()
    }
}

fn attempt_page(
    page: crate::store::Page<crate::store::Attempt>,
    with_content: bool,
) -> ListResponse<MessageAttemptOut> {
    ListResponse::from_page(
        page,
        |a| a.id.to_string(),
        |a| MessageAttemptOut::new(a, with_content),
    )
}

/// Lists the attempts made to an endpoint, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
    operation_id = "v1.message-attempt.list-by-endpoint",
    tag = "Message Attempt",
    params(AttemptQuery),
    responses((status = 200, description = "A page of attempts.", body = ListResponse<MessageAttemptOut>)),
)]
async fn list_by_endpoint(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): Path<(String, String)>,
    Query(mut q): Query<AttemptQuery>,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let endpoint = resolve::endpoint(st.store.as_ref(), &app, &ep_key).await?;
    q.filter.endpoint_id = Some(endpoint.id);
    let page = st.store.list_attempts(&app.id, &q.filter, &q.page).await?;
    Ok(Json(attempt_page(page, q.with_content)))
}

/// Lists the attempts made to deliver a message, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
    operation_id = "v1.message-attempt.list-by-msg",
    tag = "Message Attempt",
    params(
        AttemptQuery,
        ("endpoint_id" = Option<Uid>, Query, description = "Only attempts to this endpoint (id or uid)."),
    ),
    responses((status = 200, description = "A page of attempts.", body = ListResponse<MessageAttemptOut>)),
)]
async fn list_by_msg(
    State(st): State<ApiState>,
    Path((app_key, msg_key)): Path<(String, String)>,
    Query(mut q): Query<AttemptQuery>,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let message = resolve::message(st.store.as_ref(), &app, &msg_key).await?;
    q.filter.msg_id = Some(message.id);
    if let Some(ep_key) = &q.endpoint_key {
        let endpoint = resolve::endpoint(st.store.as_ref(), &app, ep_key).await?;
        q.filter.endpoint_id = Some(endpoint.id);
    }
    let page = st.store.list_attempts(&app.id, &q.filter, &q.page).await?;
    Ok(Json(attempt_page(page, q.with_content)))
}

/// Gets one attempt, with the response body.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
    operation_id = "v1.message-attempt.get",
    tag = "Message Attempt",
    responses((status = 200, description = "The attempt.", body = MessageAttemptOut)),
)]
async fn read(
    State(st): State<ApiState>,
    Path((app_key, msg_key, attempt_key)): Path<(String, String, String)>,
) -> ApiResult<Json<MessageAttemptOut>> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let message = resolve::message(st.store.as_ref(), &app, &msg_key).await?;
    let attempt = resolve::attempt(st.store.as_ref(), &app, &message, &attempt_key).await?;
    Ok(Json(MessageAttemptOut::new(attempt, true)))
}

/// Deletes the response body an attempt recorded.
#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
    operation_id = "v1.message-attempt.expunge-content",
    tag = "Message Attempt",
    responses((status = 204, description = "The response body was deleted.")),
)]
async fn expunge(
    State(st): State<ApiState>,
    Path((app_key, msg_key, attempt_key)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let message = resolve::message(st.store.as_ref(), &app, &msg_key).await?;
    let attempt = resolve::attempt(st.store.as_ref(), &app, &message, &attempt_key).await?;
    st.store
        .expunge_attempt_content(&app.id, &message.id, &attempt.id)
        .await
        .map_err(gone("attempt", &attempt_key))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the endpoints a message was routed to, with the state of each delivery.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint",
    operation_id = "v1.message-attempt.list-attempted-destinations",
    tag = "Message Attempt",
    params(DestinationsQuery),
    responses((status = 200, description = "A page of destinations.", body = ListResponse<MessageEndpointOut>)),
)]
async fn destinations(
    State(st): State<ApiState>,
    Path((app_key, msg_key)): Path<(String, String)>,
    Query(DestinationsQuery(page)): Query<DestinationsQuery>,
) -> ApiResult<Json<ListResponse<MessageEndpointOut>>> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let message = resolve::message(st.store.as_ref(), &app, &msg_key).await?;
    let rows = st
        .store
        .list_attempted_destinations(&app.id, &message.id, &page)
        .await?;
    Ok(Json(ListResponse::from_page(
        rows,
        |(e, _)| e.id.to_string(),
        MessageEndpointOut::from,
    )))
}

/// Lists the messages routed to an endpoint, newest first, with the state of each delivery.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
    operation_id = "v1.message-attempt.list-attempted-messages",
    tag = "Message Attempt",
    params(AttemptedMessagesQuery),
    responses((status = 200, description = "A page of messages.", body = ListResponse<EndpointMessageOut>)),
)]
async fn attempted_messages(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): Path<(String, String)>,
    Query(q): Query<AttemptedMessagesQuery>,
) -> ApiResult<Json<ListResponse<EndpointMessageOut>>> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let endpoint = resolve::endpoint(st.store.as_ref(), &app, &ep_key).await?;
    let rows = st
        .store
        .list_attempted_messages(&app.id, &endpoint.id, &q.filter, &q.page)
        .await?;
    Ok(Json(ListResponse::from_page(
        rows,
        |(m, _)| m.id.to_string(),
        |row| EndpointMessageOut::new(row, q.with_content),
    )))
}

/// A message whose payload was expunged has nothing left to send.
fn resendable(message: &crate::store::Message) -> Result<(), ApiError> {
    if message.payload.is_some() {
        Ok(())
    } else {
        Err(ApiError::Conflict(
            "the message content has been expunged, so it cannot be resent".into(),
        ))
    }
}

/// Sends a message to an endpoint again, as a manual attempt.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
    operation_id = "v1.message-attempt.resend",
    tag = "Message Attempt",
    responses(
        (status = 202, description = "The attempt is queued.", body = Object),
        (status = 409, description = "The message's payload was expunged, so there is nothing to send."),
    ),
)]
async fn resend(
    State(st): State<ApiState>,
    Path((app_key, msg_key, ep_key)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<serde_json::Map<String, serde_json::Value>>)> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let message = resolve::message(st.store.as_ref(), &app, &msg_key).await?;
    let endpoint = resolve::endpoint(st.store.as_ref(), &app, &ep_key).await?;
    resendable(&message)?;
    st.store
        .resend(&app.id, &message.id, &endpoint.id)
        .await
        .map_err(gone("message or endpoint", &msg_key))?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::Map::new())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_accept_the_reference_integers_only() {
        assert_eq!(parse_status("2"), Ok(DeliveryStatus::Fail));
        assert!(parse_status("4").is_err() && parse_status("fail").is_err());
        assert_eq!(parse_code_class("500"), Ok(500));
        assert!(parse_code_class("250").is_err());
    }

    #[test]
    fn attempt_queries_read_filters_and_defaults() {
        let q = AttemptQuery::from_query(&QueryParams::parse(
            "status=0&status_code_class=200&event_types=a,b&endpoint_id=ep-uid",
        ))
        .unwrap();
        assert_eq!(q.filter.status, Some(DeliveryStatus::Success));
        assert_eq!(q.filter.status_code_class, Some(200));
        assert_eq!(q.filter.event_types.map(|t| t.len()), Some(2));
        assert_eq!(q.endpoint_key.as_deref(), Some("ep-uid"));
        assert!(q.with_content);
        assert_eq!(q.page.order, Order::Descending);
        let bad = AttemptQuery::from_query(&QueryParams::parse("event_types=a%20b"));
        assert!(bad.is_err());
    }
}
