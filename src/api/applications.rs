//! `/api/v1/app`: list, create (`get_if_exists`), get, update (upsert), patch, delete.

use super::ApiState;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query};
use super::pagination::{KeyKind, ListResponse, Listing};
use super::params::{FromQuery, QueryParams};
use super::resolve::{self, Upsert, gone};
use super::wire::{ApplicationIn, ApplicationOut, ApplicationPatch};
use crate::domain::{AppId, Uid};
use crate::store::{Application, ApplicationFields, Order, PageRequest, Store};
use axum::extract::State;
use axum::http::StatusCode;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Applications list oldest first by default, as in Svix.
const LISTING: Listing = Listing {
    key: KeyKind::App,
    default_order: Order::Ascending,
    orderable: true,
};

/// The application routes.
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

/// `get_if_exists`: return the application with the body's uid instead of a 409.
struct CreateQuery {
    get_if_exists: bool,
}

impl FromQuery for CreateQuery {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        Ok(Self {
            get_if_exists: params.bool("get_if_exists", false)?,
        })
    }
}

impl IntoParams for CreateQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![super::openapi::flag(
            "get_if_exists",
            false,
            "When an application already has the body's uid, return it (200) instead of a 409.",
        )]
    }
}

/// Lists applications, oldest first unless `order` says otherwise.
#[utoipa::path(
    get,
    path = "/api/v1/app",
    operation_id = "v1.application.list",
    tag = "Application",
    params(ListQuery),
    responses((status = 200, description = "A page of applications.", body = ListResponse<ApplicationOut>)),
)]
async fn list(
    State(st): State<ApiState>,
    Query(ListQuery(page)): Query<ListQuery>,
) -> ApiResult<Json<ListResponse<ApplicationOut>>> {
    let apps = st.store.list_applications(&page).await?;
    Ok(Json(ListResponse::from_page(
        apps,
        |a| a.id.to_string(),
        ApplicationOut::from,
    )))
}

/// The application already holding `uid`, if any (by uid only, never by id).
async fn holder_of(store: &dyn Store, uid: Option<&Uid>) -> ApiResult<Option<Application>> {
    let Some(uid) = uid else { return Ok(None) };
    let found = store.get_application(uid.as_str()).await?;
    Ok(found.filter(|a| a.uid.as_ref() == Some(uid)))
}

/// Creates an application.
#[utoipa::path(
    post,
    path = "/api/v1/app",
    operation_id = "v1.application.create",
    tag = "Application",
    params(CreateQuery),
    request_body = ApplicationIn,
    responses(
        (status = 201, description = "The application was created.", body = ApplicationOut),
        (status = 200, description = "With `get_if_exists`: the application that already has this uid.", body = ApplicationOut),
        (status = 409, description = "An application already has this uid."),
    ),
)]
async fn create(
    State(st): State<ApiState>,
    Query(q): Query<CreateQuery>,
    Json(body): Json<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let fields = body.into_fields()?;
    if let Some(existing) = holder_of(st.store.as_ref(), fields.uid.as_ref()).await? {
        return if q.get_if_exists {
            Ok((StatusCode::OK, Json(existing.into())))
        } else {
            Err(ApiError::Conflict(
                "an application with this uid already exists".into(),
            ))
        };
    }
    let app = st.store.create_application(&fields).await?;
    Ok((StatusCode::CREATED, Json(app.into())))
}

/// Gets an application.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}",
    operation_id = "v1.application.get",
    tag = "Application",
    responses((status = 200, description = "The application.", body = ApplicationOut)),
)]
async fn read(
    State(st): State<ApiState>,
    Path(key): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    let app = resolve::app(st.store.as_ref(), &key).await?;
    Ok(Json(app.into()))
}

/// Replaces an application, or creates it with the path's uid if none has it.
#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}",
    operation_id = "v1.application.update",
    tag = "Application",
    request_body = ApplicationIn,
    responses(
        (status = 200, description = "The application was updated.", body = ApplicationOut),
        (status = 201, description = "The application was created.", body = ApplicationOut),
        (status = 409, description = "Another application has the body's uid."),
    ),
)]
async fn update(
    State(st): State<ApiState>,
    Path(key): Path<String>,
    Json(body): Json<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    super::extract::check_key("app_id", &key)?;
    let mut fields = body.into_fields()?;
    let existing = st.store.get_application(&key).await?;
    let key_is_id = AppId::parse(&key).is_some();
    match resolve::put_uid(
        "application",
        &key,
        key_is_id,
        existing.is_some(),
        fields.uid.take(),
    )? {
        Upsert::Update(uid) => {
            let id = existing
                .map(|a| a.id)
                .ok_or_else(|| ApiError::not_found("application", &key))?;
            let fields = ApplicationFields { uid, ..fields };
            let app = st
                .store
                .update_application(&id, &fields)
                .await
                .map_err(gone("application", &key))?;
            Ok((StatusCode::OK, Json(app.into())))
        }
        Upsert::Create(uid) => {
            let app = st
                .store
                .create_application(&ApplicationFields { uid, ..fields })
                .await?;
            Ok((StatusCode::CREATED, Json(app.into())))
        }
    }
}

/// Changes the fields the body names; `null` clears a nullable one.
#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}",
    operation_id = "v1.application.patch",
    tag = "Application",
    request_body = ApplicationPatch,
    responses(
        (status = 200, description = "The application was updated.", body = ApplicationOut),
        (status = 409, description = "Another application has the body's uid."),
    ),
)]
async fn patch(
    State(st): State<ApiState>,
    Path(key): Path<String>,
    Json(body): Json<ApplicationPatch>,
) -> ApiResult<Json<ApplicationOut>> {
    let app = resolve::app(st.store.as_ref(), &key).await?;
    let fields = body.apply(&app)?;
    let app = st
        .store
        .update_application(&app.id, &fields)
        .await
        .map_err(gone("application", &key))?;
    Ok(Json(app.into()))
}

/// Deletes an application and everything it holds.
#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}",
    operation_id = "v1.application.delete",
    tag = "Application",
    responses((status = 204, description = "The application was deleted.")),
)]
async fn delete(State(st): State<ApiState>, Path(key): Path<String>) -> ApiResult<StatusCode> {
    let app = resolve::app(st.store.as_ref(), &key).await?;
    st.store
        .delete_application(&app.id)
        .await
        .map_err(gone("application", &key))?;
    Ok(StatusCode::NO_CONTENT)
}
