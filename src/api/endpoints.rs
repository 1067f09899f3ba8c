//! `/api/v1/app/{app_id}/endpoint`: list, create, get, update (upsert), patch, delete.
//! Headers, secrets, stats and recovery live in [`super::endpoint_ops`].

use super::ApiState;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query, check_key};
use super::pagination::{KeyKind, ListResponse, Listing};
use super::params::{FromQuery, QueryParams};
use super::resolve::{self, Upsert, gone};
use super::wire::{EndpointIn, EndpointOut, EndpointPatch, EndpointUpdate};
use crate::domain::{EndpointId, EndpointSecret};
use crate::store::{EndpointFields, Order, PageRequest};
use axum::extract::State;
use axum::http::StatusCode;
use std::collections::BTreeMap;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Endpoints list newest first by default, as in Svix.
const LISTING: Listing = Listing {
    key: KeyKind::Endpoint,
    default_order: Order::Descending,
    orderable: true,
};

/// The endpoint CRUD routes.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, patch, delete))
}

/// `limit`, `iterator`, `order`.
struct ListQuery(PageRequest);

impl FromQuery for ListQuery {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        LISTING.request(params).map(Self)
    }
}

impl IntoParams for ListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        LISTING.params()
    }
}

/// Lists an application's endpoints, newest first unless `order` says otherwise.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint",
    operation_id = "v1.endpoint.list",
    tag = "Endpoint",
    params(ListQuery),
    responses((status = 200, description = "A page of endpoints.", body = ListResponse<EndpointOut>)),
)]
async fn list(
    State(st): State<ApiState>,
    Path(app_key): Path<String>,
    Query(ListQuery(page)): Query<ListQuery>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let endpoints = st.store.list_endpoints(&app.id, &page).await?;
    Ok(Json(ListResponse::from_page(
        endpoints,
        |e| e.id.to_string(),
        EndpointOut::from,
    )))
}

/// Creates an endpoint; its signing secret is generated unless the body gives one.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint",
    operation_id = "v1.endpoint.create",
    tag = "Endpoint",
    request_body = EndpointIn,
    responses(
        (status = 201, description = "The endpoint was created.", body = EndpointOut),
        (status = 409, description = "Another endpoint of the application has this uid."),
    ),
)]
async fn create(
    State(st): State<ApiState>,
    Path(app_key): Path<String>,
    Json(body): Json<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let (fields, secret, headers) = body.into_parts(&st.config.allowed_subnets)?;
    let endpoint = st
        .store
        .create_endpoint(&app.id, &fields, &secret, &headers)
        .await?;
    Ok((StatusCode::CREATED, Json(endpoint.into())))
}

/// Gets an endpoint.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "v1.endpoint.get",
    tag = "Endpoint",
    responses((status = 200, description = "The endpoint.", body = EndpointOut)),
)]
async fn read(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): Path<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let endpoint = resolve::endpoint(st.store.as_ref(), &app, &ep_key).await?;
    Ok(Json(endpoint.into()))
}

/// Replaces an endpoint, or creates it with the path's uid if none has it.
#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "v1.endpoint.update",
    tag = "Endpoint",
    request_body = EndpointUpdate,
    responses(
        (status = 200, description = "The endpoint was updated.", body = EndpointOut),
        (status = 201, description = "The endpoint was created.", body = EndpointOut),
        (status = 409, description = "Another endpoint of the application has the body's uid."),
    ),
)]
async fn update(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): Path<(String, String)>,
    Json(body): Json<EndpointUpdate>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    check_key("endpoint_id", &ep_key)?;
    let mut fields = body.into_fields(&st.config.allowed_subnets)?;
    let existing = st.store.get_endpoint(&app.id, &ep_key).await?;
    let key_is_id = EndpointId::parse(&ep_key).is_some();
    match resolve::put_uid(
        "endpoint",
        &ep_key,
        key_is_id,
        existing.is_some(),
        fields.uid.take(),
    )? {
        Upsert::Update(uid) => {
            let id = existing
                .map(|e| e.id)
                .ok_or_else(|| ApiError::not_found("endpoint", &ep_key))?;
            let fields = EndpointFields { uid, ..fields };
            let endpoint = st
                .store
                .update_endpoint(&app.id, &id, &fields)
                .await
                .map_err(gone("endpoint", &ep_key))?;
            Ok((StatusCode::OK, Json(endpoint.into())))
        }
        Upsert::Create(uid) => {
            let fields = EndpointFields { uid, ..fields };
            let endpoint = st
                .store
                .create_endpoint(
                    &app.id,
                    &fields,
                    &EndpointSecret::generate(),
                    &BTreeMap::new(),
                )
                .await?;
            Ok((StatusCode::CREATED, Json(endpoint.into())))
        }
    }
}

/// Changes the fields the body names; `null` clears a nullable one. `"disabled": false`
/// re-enables an endpoint the delivery engine disabled.
#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "v1.endpoint.patch",
    tag = "Endpoint",
    request_body = EndpointPatch,
    responses(
        (status = 200, description = "The endpoint was updated.", body = EndpointOut),
        (status = 409, description = "Another endpoint of the application has the body's uid."),
    ),
)]
async fn patch(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): Path<(String, String)>,
    Json(body): Json<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let endpoint = resolve::endpoint(st.store.as_ref(), &app, &ep_key).await?;
    let fields = body.apply(&endpoint, &st.config.allowed_subnets)?;
    let endpoint = st
        .store
        .update_endpoint(&app.id, &endpoint.id, &fields)
        .await
        .map_err(gone("endpoint", &ep_key))?;
    Ok(Json(endpoint.into()))
}

/// Deletes an endpoint.
#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    operation_id = "v1.endpoint.delete",
    tag = "Endpoint",
    responses((status = 204, description = "The endpoint was deleted.")),
)]
async fn delete(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = resolve::app(st.store.as_ref(), &app_key).await?;
    let endpoint = resolve::endpoint(st.store.as_ref(), &app, &ep_key).await?;
    st.store
        .delete_endpoint(&app.id, &endpoint.id)
        .await
        .map_err(gone("endpoint", &ep_key))?;
    Ok(StatusCode::NO_CONTENT)
}
