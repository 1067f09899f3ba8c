//! Operations on one endpoint beyond CRUD: custom headers, the signing secret and its
//! rotation, delivery stats, `recover`, `send-example`, and Hookline's own `health`.

use super::ApiState;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, OptionalJson, Path, Query};
use super::params::{FromQuery, QueryParams};
use super::resolve::{self, gone};
use super::wire::{
    EndpointHeadersIn, EndpointHeadersOut, EndpointHeadersPatchIn, EndpointHealthOut,
    EndpointSecretOut, EndpointSecretRotateIn, EndpointStatsOut, EventExampleIn, MessageOut,
    RecoverIn, RecoverOut, example_payload, validate_headers,
};
use crate::domain::{EndpointId, MessageId};
use crate::store::{Application, Endpoint, Message, NewMessage};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

/// How long a `send-example` payload is kept.
const EXAMPLE_RETENTION_DAYS: i64 = 90;

/// The per-endpoint operation routes.
pub fn routes() -> Router<ApiState> {
    let ep = "/api/v1/app/{app_id}/endpoint/{endpoint_id}";
    Router::new()
        .route(
            &format!("{ep}/headers"),
            get(get_headers).put(put_headers).patch(patch_headers),
        )
        .route(&format!("{ep}/secret"), get(get_secret))
        .route(&format!("{ep}/secret/rotate"), post(rotate_secret))
        .route(&format!("{ep}/stats"), get(stats))
        .route(&format!("{ep}/health"), get(health))
        .route(&format!("{ep}/recover"), post(recover))
        .route(&format!("{ep}/send-example"), post(send_example))
}

/// The application and endpoint a path names.
async fn target(st: &ApiState, app_key: &str, ep_key: &str) -> ApiResult<(Application, Endpoint)> {
    let app = resolve::app(st.store.as_ref(), app_key).await?;
    let endpoint = resolve::endpoint(st.store.as_ref(), &app, ep_key).await?;
    Ok((app, endpoint))
}

type EndpointPath = Path<(String, String)>;

async fn get_headers(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): EndpointPath,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let (_, endpoint) = target(&st, &app_key, &ep_key).await?;
    Ok(Json(EndpointHeadersOut::from(&endpoint.headers)))
}

async fn put_headers(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): EndpointPath,
    Json(body): Json<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    let (app, endpoint) = target(&st, &app_key, &ep_key).await?;
    let headers = validate_headers(body.headers)?;
    st.store
        .set_endpoint_headers(&app.id, &endpoint.id, &headers)
        .await
        .map_err(gone("endpoint", &ep_key))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn patch_headers(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): EndpointPath,
    Json(body): Json<EndpointHeadersPatchIn>,
) -> ApiResult<StatusCode> {
    let (app, endpoint) = target(&st, &app_key, &ep_key).await?;
    let headers = body.apply(&endpoint.headers)?;
    st.store
        .set_endpoint_headers(&app.id, &endpoint.id, &headers)
        .await
        .map_err(gone("endpoint", &ep_key))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_secret(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): EndpointPath,
) -> ApiResult<Json<EndpointSecretOut>> {
    let (_, endpoint) = target(&st, &app_key, &ep_key).await?;
    Ok(Json(EndpointSecretOut {
        key: endpoint.secret.expose(),
    }))
}

/// Rotation answers 200 with the new key rather than the reference's bare 204: the current
/// Svix SDKs parse an `EndpointSecretOut` from it, and older ones ignore the body.
async fn rotate_secret(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): EndpointPath,
    OptionalJson(body): OptionalJson<EndpointSecretRotateIn>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let (app, endpoint) = target(&st, &app_key, &ep_key).await?;
    let (key, grace) = body.into_parts()?;
    st.store
        .rotate_endpoint_secret(&app.id, &endpoint.id, &key, grace)
        .await
        .map_err(gone("endpoint", &ep_key))?;
    Ok(Json(EndpointSecretOut { key: key.expose() }))
}

/// `since` and `until` of `GET …/stats`.
struct StatsQuery {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

impl FromQuery for StatsQuery {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        let since = params.datetime("since")?;
        let until = params.datetime("until")?;
        super::wire::check_window(since, until)?;
        Ok(Self { since, until })
    }
}

async fn stats(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): EndpointPath,
    Query(q): Query<StatsQuery>,
) -> ApiResult<Json<EndpointStatsOut>> {
    let (app, endpoint) = target(&st, &app_key, &ep_key).await?;
    let stats = st
        .store
        .endpoint_stats(&app.id, &endpoint.id, q.since, q.until)
        .await
        .map_err(gone("endpoint", &ep_key))?;
    Ok(Json(stats.into()))
}

/// Not in Svix: the endpoint's breaker, bulkhead, rate limit, backlog and recent attempts.
async fn health(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): EndpointPath,
) -> ApiResult<Json<EndpointHealthOut>> {
    let (app, endpoint) = target(&st, &app_key, &ep_key).await?;
    let health = st
        .store
        .endpoint_health(&app.id, &endpoint.id)
        .await
        .map_err(gone("endpoint", &ep_key))?;
    let default_concurrency = st.config.claim_policy().endpoint_concurrency;
    Ok(Json(EndpointHealthOut::new(health, default_concurrency)))
}

async fn recover(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): EndpointPath,
    Json(body): Json<RecoverIn>,
) -> ApiResult<(StatusCode, Json<RecoverOut>)> {
    let (app, endpoint) = target(&st, &app_key, &ep_key).await?;
    super::wire::check_window(Some(body.since), body.until)?;
    let queued = st
        .store
        .recover(&app.id, &endpoint.id, body.since, body.until)
        .await
        .map_err(gone("endpoint", &ep_key))?;
    tracing::info!(endpoint_id = %endpoint.id, queued, "recovery queued");
    Ok((StatusCode::ACCEPTED, Json(RecoverOut::queued(queued))))
}

/// The message `send-example` sends to `endpoint`.
fn example_message(app: &Application, event: EventExampleIn, payload: String) -> NewMessage {
    NewMessage {
        message: Message {
            id: MessageId::generate(),
            app_id: app.id.clone(),
            event_type: event.event_type,
            event_id: None,
            channels: None,
            payload: Some(payload),
            created_at: super::wire::now(),
        },
        retention: chrono::Duration::days(EXAMPLE_RETENTION_DAYS),
    }
}

async fn send_example(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): EndpointPath,
    Json(body): Json<EventExampleIn>,
) -> ApiResult<Json<MessageOut>> {
    let (app, endpoint) = target(&st, &app_key, &ep_key).await?;
    let event_type = st.store.get_event_type(&body.event_type).await?;
    let payload = example_payload(
        &body.event_type,
        event_type.as_ref().and_then(|e| e.schemas.as_ref()),
    );
    let new = example_message(&app, body, payload);
    let endpoint_id: &EndpointId = &endpoint.id;
    st.store
        .create_message_for_endpoint(&new, endpoint_id)
        .await
        .map_err(gone("endpoint", &ep_key))?;
    Ok(Json(MessageOut::new(new.message, true)))
}
