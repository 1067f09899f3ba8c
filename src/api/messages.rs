//! `/api/v1/app/{app_id}/msg`: create (fan-out), list, get, expunge content.

use super::ApiState;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query};
use super::pagination::{KeyKind, ListResponse, Listing};
use super::params::{FromQuery, QueryParams};
use super::resolve::{self, gone};
use super::wire::{MessageIn, MessageOut};
use crate::domain::{Channel, EventTypeName};
use crate::store::{MessageFilter, Order, PageRequest};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};

/// Messages list newest first; the reference gives no `order` parameter.
pub(crate) const LISTING: Listing = Listing {
    key: KeyKind::Message,
    default_order: Order::Descending,
    orderable: false,
};

/// The message routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/app/{app_id}/msg", get(list).post(create))
        .route("/api/v1/app/{app_id}/msg/{msg_id}", get(read))
        .route("/api/v1/app/{app_id}/msg/{msg_id}/content", delete(expunge))
}

/// `with_content`, which defaults to true for messages.
pub(crate) struct WithContent(pub bool);

impl FromQuery for WithContent {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        params.bool("with_content", true).map(Self)
    }
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

async fn create(
    State(st): State<ApiState>,
    Path(app_key): Path<String>,
    Query(WithContent(with_content)): Query<WithContent>,
    Json(body): Json<MessageIn>,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    let (draft, application) = body.into_parts()?;
    let app = resolve::app_or_create(st.store.as_ref(), &app_key, application).await?;
    let new = draft.for_app(&app.id);
    let deliveries = st.store.create_message(&new).await?;
    st.metrics.message_accepted();
    tracing::debug!(msg_id = %new.message.id, deliveries, "message accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageOut::new(new.message, with_content)),
    ))
}

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

async fn read(
    State(st): State<ApiState>,
    Path((app_key, msg_key)): Path<(String, String)>,
    Query(WithContent(with_content)): Query<WithContent>,
) -> ApiResult<Json<MessageOut>> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let message = resolve::message(st.store.as_ref(), &app, &msg_key).await?;
    Ok(Json(MessageOut::new(message, with_content)))
}

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
