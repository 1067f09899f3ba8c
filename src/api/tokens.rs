//! `/api/v1/auth`: minting application-scoped tokens (Svix's app-portal access) and
//! logging them out. Who may call these is decided in [`super::access`].

use super::ApiState;
use super::auth::{MintedToken, Principal};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, OptionalJson, Path};
use super::resolve::{self, gone};
use super::wire::{self, AppPortalAccessIn, AppPortalAccessOut};
use crate::store::AppToken;
use axum::extract::{Extension, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use std::net::SocketAddr;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The authentication routes.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(app_portal_access))
        .routes(routes!(logout))
}

/// Mints a token for the application `app_id` names, creating it from the body's
/// `application` if there is none. The token is returned once and only its hash is kept.
#[utoipa::path(
    post,
    path = "/api/v1/auth/app-portal-access/{app_id}",
    operation_id = "v1.authentication.app-portal-access",
    tag = "Authentication",
    request_body(content = AppPortalAccessIn, description = "May be empty."),
    responses(
        (status = 200, description = "A token scoped to the application, and a dashboard link carrying it.", body = AppPortalAccessOut),
    ),
)]
async fn app_portal_access(
    State(st): State<ApiState>,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<AppPortalAccessIn>,
) -> ApiResult<Json<AppPortalAccessOut>> {
    let grant = body.into_grant()?;
    let app = resolve::app_or_create(st.store.as_ref(), &key, grant.application).await?;
    let minted = MintedToken::generate();
    let created_at = wire::now();
    let token = AppToken {
        hash: minted.hash,
        app_id: app.id.clone(),
        created_at,
        expires_at: created_at + grant.lifetime,
    };
    st.store
        .insert_app_token(&token)
        .await
        .map_err(gone("application", &key))?;
    let url = format!(
        "{}/ui/#token={}&app={}",
        origin(&headers, &uri, st.config.listen),
        minted.text,
        app.id
    );
    Ok(Json(AppPortalAccessOut {
        token: minted.text,
        url,
    }))
}

/// Revokes the application token the request was made with.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    operation_id = "v1.authentication.logout",
    tag = "Authentication",
    responses(
        (status = 204, description = "The token is revoked."),
    ),
)]
async fn logout(
    State(st): State<ApiState>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<StatusCode> {
    match principal {
        Principal::App { token_hash, .. } => {
            st.store.delete_app_token(&token_hash).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        // The access rules keep admins out; answer the same way if they did not.
        Principal::Admin => Err(ApiError::Forbidden(
            "only application-scoped tokens can log out".into(),
        )),
    }
}

/// `scheme://host` the client reached us at: the `Host` header (or the HTTP/2 authority),
/// `https` when a proxy says so in `X-Forwarded-Proto`, else the listen address over http.
fn origin(headers: &HeaderMap, uri: &Uri, listen: SocketAddr) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.parse::<Authority>().ok())
        .or_else(|| uri.authority().cloned())
        .filter(|a| !a.as_str().contains('@'))
        .map_or_else(|| listen.to_string(), |a| a.to_string());
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{host}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, axum::http::HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_origin_comes_from_the_host_header() {
        let listen: SocketAddr = "127.0.0.1:8071".parse().unwrap();
        let uri = Uri::from_static("/api/v1/auth/app-portal-access/x");
        assert_eq!(
            origin(&headers(&[("host", "hooks.example:8080")]), &uri, listen),
            "http://hooks.example:8080"
        );
        assert_eq!(
            origin(
                &headers(&[("host", "hooks.example"), ("x-forwarded-proto", "https")]),
                &uri,
                listen
            ),
            "https://hooks.example"
        );
        for bad in ["evil@hooks.example", "a b", ""] {
            assert_eq!(
                origin(&headers(&[("host", bad)]), &uri, listen),
                "http://127.0.0.1:8071",
                "{bad:?}"
            );
        }
        let h2 = Uri::from_static("https://h2.example/api/v1/auth/app-portal-access/x");
        assert_eq!(origin(&HeaderMap::new(), &h2, listen), "http://h2.example");
    }
}
