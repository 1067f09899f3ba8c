//! `/api/v1/event-type`: list, create (or unarchive), get, update (upsert), patch, archive.

use super::ApiState;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query};
use super::pagination::{KeyKind, ListResponse, Listing};
use super::params::{FromQuery, QueryParams};
use super::resolve::{self, gone};
use super::wire::{EventTypeIn, EventTypeOut, EventTypePatch, EventTypeUpdate};
use crate::store::{EventType, EventTypeFields, Order, PageRequest};
use axum::extract::State;
use axum::http::StatusCode;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Event types list alphabetically by default, as in Svix.
const LISTING: Listing = Listing {
    key: KeyKind::EventType,
    default_order: Order::Ascending,
    orderable: true,
};

/// The event-type routes.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, patch, archive))
}

/// Pagination plus `include_archived` and `with_content` (both default false).
struct ListQuery {
    page: PageRequest,
    include_archived: bool,
    with_content: bool,
}

impl FromQuery for ListQuery {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        Ok(Self {
            page: LISTING.request(params)?,
            include_archived: params.bool("include_archived", false)?,
            with_content: params.bool("with_content", false)?,
        })
    }
}

impl IntoParams for ListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        use super::openapi::flag;
        let mut params = LISTING.params();
        params.push(flag(
            "include_archived",
            false,
            "Include archived event types.",
        ));
        params.push(flag(
            "with_content",
            false,
            "Include each event type's schemas.",
        ));
        params
    }
}

/// `expunge` of `DELETE`: accepted, but Hookline always archives (messages keep naming the
/// type, so it is never removed outright).
struct DeleteQuery;

impl IntoParams for DeleteQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![super::openapi::flag(
            "expunge",
            false,
            "Accepted for compatibility; event types are always archived, since messages keep \
             naming them.",
        )]
    }
}

impl FromQuery for DeleteQuery {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        params.bool("expunge", false)?;
        Ok(Self)
    }
}

/// Lists event types by name.
#[utoipa::path(
    get,
    path = "/api/v1/event-type",
    operation_id = "v1.event-type.list",
    tag = "Event Type",
    params(ListQuery),
    responses((status = 200, description = "A page of event types.", body = ListResponse<EventTypeOut>)),
)]
async fn list(
    State(st): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<ListResponse<EventTypeOut>>> {
    let types = st
        .store
        .list_event_types(&q.page, q.include_archived)
        .await?;
    Ok(Json(ListResponse::from_page(
        types,
        |t| t.name.to_string(),
        |t| EventTypeOut::new(t, q.with_content),
    )))
}

/// Whether creating over `existing` is allowed: only an archived type may be re-created
/// (which unarchives it with the new fields), as Svix does.
fn may_recreate(existing: &EventType) -> Result<(), ApiError> {
    if existing.archived {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "an event type named {:?} already exists",
            existing.name.as_str()
        )))
    }
}

/// Creates an event type; creating one that is archived unarchives it with the new fields.
#[utoipa::path(
    post,
    path = "/api/v1/event-type",
    operation_id = "v1.event-type.create",
    tag = "Event Type",
    request_body = EventTypeIn,
    responses(
        (status = 201, description = "The event type was created.", body = EventTypeOut),
        (status = 409, description = "An event type of this name exists and is not archived."),
    ),
)]
async fn create(
    State(st): State<ApiState>,
    Json(body): Json<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    let (name, fields) = body.into_parts()?;
    let created = match st.store.get_event_type(&name).await? {
        Some(existing) => {
            may_recreate(&existing)?;
            let fields = EventTypeFields {
                archived: false,
                ..fields
            };
            st.store.update_event_type(&name, &fields).await?
        }
        None => st.store.create_event_type(&name, &fields).await?,
    };
    Ok((StatusCode::CREATED, Json(EventTypeOut::new(created, true))))
}

/// Gets an event type, archived or not.
#[utoipa::path(
    get,
    path = "/api/v1/event-type/{event_type_name}",
    operation_id = "v1.event-type.get",
    tag = "Event Type",
    responses((status = 200, description = "The event type.", body = EventTypeOut)),
)]
async fn read(
    State(st): State<ApiState>,
    Path(raw): Path<String>,
) -> ApiResult<Json<EventTypeOut>> {
    let name = resolve::event_type_name(&raw)?;
    let event_type = resolve::event_type(st.store.as_ref(), &name).await?;
    Ok(Json(EventTypeOut::new(event_type, true)))
}

/// Replaces an event type, or creates it.
#[utoipa::path(
    put,
    path = "/api/v1/event-type/{event_type_name}",
    operation_id = "v1.event-type.update",
    tag = "Event Type",
    request_body = EventTypeUpdate,
    responses(
        (status = 200, description = "The event type was updated.", body = EventTypeOut),
        (status = 201, description = "The event type was created.", body = EventTypeOut),
    ),
)]
async fn update(
    State(st): State<ApiState>,
    Path(raw): Path<String>,
    Json(body): Json<EventTypeUpdate>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    let name = resolve::event_type_name(&raw)?;
    let fields = body.into_fields()?;
    let (status, event_type) = match st.store.get_event_type(&name).await? {
        Some(_) => (
            StatusCode::OK,
            st.store
                .update_event_type(&name, &fields)
                .await
                .map_err(gone("event type", &raw))?,
        ),
        None => (
            StatusCode::CREATED,
            st.store.create_event_type(&name, &fields).await?,
        ),
    };
    Ok((status, Json(EventTypeOut::new(event_type, true))))
}

/// Changes the fields the body names; `null` clears a nullable one.
#[utoipa::path(
    patch,
    path = "/api/v1/event-type/{event_type_name}",
    operation_id = "v1.event-type.patch",
    tag = "Event Type",
    request_body = EventTypePatch,
    responses((status = 200, description = "The event type was updated.", body = EventTypeOut)),
)]
async fn patch(
    State(st): State<ApiState>,
    Path(raw): Path<String>,
    Json(body): Json<EventTypePatch>,
) -> ApiResult<Json<EventTypeOut>> {
    let name = resolve::event_type_name(&raw)?;
    let current = resolve::event_type(st.store.as_ref(), &name).await?;
    let fields = body.apply(&current)?;
    let event_type = st
        .store
        .update_event_type(&name, &fields)
        .await
        .map_err(gone("event type", &raw))?;
    Ok(Json(EventTypeOut::new(event_type, true)))
}

/// Archives an event type: it stays readable, and creating it again unarchives it.
#[utoipa::path(
    delete,
    path = "/api/v1/event-type/{event_type_name}",
    operation_id = "v1.event-type.delete",
    tag = "Event Type",
    params(DeleteQuery),
    responses((status = 204, description = "The event type was archived.")),
)]
async fn archive(
    State(st): State<ApiState>,
    Path(raw): Path<String>,
    Query(DeleteQuery): Query<DeleteQuery>,
) -> ApiResult<StatusCode> {
    let name = resolve::event_type_name(&raw)?;
    resolve::event_type(st.store.as_ref(), &name).await?;
    st.store
        .archive_event_type(&name)
        .await
        .map_err(gone("event type", &raw))?;
    Ok(StatusCode::NO_CONTENT)
}
