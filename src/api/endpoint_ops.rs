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
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How long a `send-example` payload is kept.
const EXAMPLE_RETENTION_DAYS: i64 = 90;

/// The per-endpoint operation routes.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(get_headers, put_headers, patch_headers))
        .routes(routes!(get_secret))
        .routes(routes!(rotate_secret))
        .routes(routes!(stats))
        .routes(routes!(health))
        .routes(routes!(recover))
        .routes(routes!(send_example))
}

/// The application and endpoint a path names.
async fn target(st: &ApiState, app_key: &str, ep_key: &str) -> ApiResult<(Application, Endpoint)> {
    let app = resolve::app(st.store.as_ref(), app_key).await?;
    let endpoint = resolve::endpoint(st.store.as_ref(), &app, ep_key).await?;
    Ok((app, endpoint))
}

type EndpointPath = Path<(String, String)>;

/// The endpoint's custom headers; credentials are named in `sensitive`, not shown.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    operation_id = "v1.endpoint.get-headers",
    tag = "Endpoint",
    responses((status = 200, description = "The custom headers.", body = EndpointHeadersOut)),
)]
async fn get_headers(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): EndpointPath,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let (_, endpoint) = target(&st, &app_key, &ep_key).await?;
    Ok(Json(EndpointHeadersOut::from(&endpoint.headers)))
}

/// Replaces the endpoint's custom headers.
#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    operation_id = "v1.endpoint.update-headers",
    tag = "Endpoint",
    request_body = EndpointHeadersIn,
    responses((status = 204, description = "The headers were replaced.")),
)]
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

/// Sets, replaces and removes some of the endpoint's custom headers.
#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    operation_id = "v1.endpoint.patch-headers",
    tag = "Endpoint",
    request_body = EndpointHeadersPatchIn,
    responses((status = 204, description = "The headers were changed.")),
)]
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

/// The endpoint's current signing secret.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret",
    operation_id = "v1.endpoint.get-secret",
    tag = "Endpoint",
    responses((status = 200, description = "The signing secret.", body = EndpointSecretOut)),
)]
async fn get_secret(
    State(st): State<ApiState>,
    Path((app_key, ep_key)): EndpointPath,
) -> ApiResult<Json<EndpointSecretOut>> {
    let (_, endpoint) = target(&st, &app_key, &ep_key).await?;
    Ok(Json(EndpointSecretOut {
        key: endpoint.secret.expose(),
    }))
}

/// Replaces the signing secret; the old one keeps signing, beside the new one, for the
/// grace period. The body may be empty.
///
/// Answers 200 with the new key rather than Svix's bare 204: the current Svix SDKs parse
/// the key from it, and older ones ignore the body.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
    operation_id = "v1.endpoint.rotate-secret",
    tag = "Endpoint",
    request_body(content = EndpointSecretRotateIn, description = "May be empty: a key is generated and the grace period is 24 hours."),
    responses((status = 200, description = "The new secret.", body = EndpointSecretOut)),
)]
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

impl IntoParams for StatsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        use super::openapi::timestamp;
        vec![
            timestamp(
                "since",
                "Count deliveries of messages created at or after this time.",
            ),
            timestamp("until", "…and before this time; not earlier than `since`."),
        ]
    }
}

impl FromQuery for StatsQuery {
    fn from_query(params: &QueryParams) -> Result<Self, ApiError> {
        let since = params.datetime("since")?;
        let until = params.datetime("until")?;
        super::wire::check_window(since, until)?;
        Ok(Self { since, until })
    }
}

/// Counts the endpoint's deliveries by status.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats",
    operation_id = "v1.endpoint.get-stats",
    tag = "Endpoint",
    params(StatsQuery),
    responses((status = 200, description = "Deliveries by status.", body = EndpointStatsOut)),
)]
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

/// Hookline's view of the endpoint's isolation: circuit breaker, in-flight deliveries and
/// the limits in force, backlog, and how its recent attempts went. Not in Svix.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/health",
    operation_id = "v1.endpoint.get-health",
    tag = "Endpoint",
    responses((status = 200, description = "The endpoint's health.", body = EndpointHealthOut)),
)]
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
    let default_concurrency = u32::try_from(st.config.endpoint_concurrency).unwrap_or(u32::MAX);
    Ok(Json(EndpointHealthOut::new(health, default_concurrency)))
}

/// Re-sends every failed delivery to the endpoint of messages created in the window.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",
    operation_id = "v1.endpoint.recover",
    tag = "Endpoint",
    request_body = RecoverIn,
    responses((status = 202, description = "The re-sends are queued.", body = RecoverOut)),
)]
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

/// Sends the endpoint an example message of an event type: the first example of its
/// schemas, or a placeholder.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example",
    operation_id = "v1.endpoint.send-example",
    tag = "Endpoint",
    request_body = EventExampleIn,
    responses((status = 200, description = "The example message, queued for this endpoint only.", body = MessageOut)),
)]
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
