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
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

/// Applications list oldest first by default, as in Svix.
const LISTING: Listing = Listing {
    key: KeyKind::App,
    default_order: Order::Ascending,
    orderable: true,
};

/// The application routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/app", get(list).post(create))
        .route(
            "/api/v1/app/{app_id}",
            get(read).put(update).patch(patch).delete(delete),
        )
}

/// `limit`, `iterator`, `order`.
struct ListQuery(PageRequest);

impl FromQuery for ListQuery {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        LISTING.request(params).map(Self)
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

async fn read(
    State(st): State<ApiState>,
    Path(key): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    let app = resolve::app(st.store.as_ref(), &key).await?;
    Ok(Json(app.into()))
}

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

async fn delete(State(st): State<ApiState>, Path(key): Path<String>) -> ApiResult<StatusCode> {
    let app = resolve::app(st.store.as_ref(), &key).await?;
    st.store
        .delete_application(&app.id)
        .await
        .map_err(gone("application", &key))?;
    Ok(StatusCode::NO_CONTENT)
}
