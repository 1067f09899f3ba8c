//! Finding which application holds a message or an endpoint when `--app` is not given:
//! the API only knows them below an application, so each one is asked in turn.

use super::client::Client;
use super::error::CliError;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

/// How many applications are asked at once.
const CONCURRENCY: usize = 8;

/// What is being looked for below an application.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `GET /app/{app}/msg/{key}` (content left out).
    Message,
    /// `GET /app/{app}/endpoint/{key}`.
    Endpoint,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Endpoint => "endpoint",
        }
    }

    /// Ids carry this prefix; any other key is a uid, which may repeat across applications.
    fn id_prefix(self) -> &'static str {
        match self {
            Self::Message => "msg_",
            Self::Endpoint => "ep_",
        }
    }
}

/// An object found below an application.
#[derive(Debug)]
pub struct Found {
    /// The application that holds it: its id, or the key given as `--app`.
    pub app: String,
    /// The object as the API returned it.
    pub object: Value,
}

/// Fetches `key` of `kind` from `app`, or, without one, from whichever application holds
/// it.
///
/// # Errors
/// The API's 404 when `app` is given and holds no such thing; [`CliError::Lookup`] when no
/// application does, or when a uid names objects in several; any other request failure.
pub async fn find(
    client: &Client,
    kind: Kind,
    key: &str,
    app: Option<&str>,
) -> Result<Found, CliError> {
    if let Some(app) = app {
        let object = fetch(client, kind, app, key).await?;
        return Ok(Found {
            app: app.to_owned(),
            object,
        });
    }
    let apps = client.list_all(&["app"], &[]).await?;
    let app_ids: Vec<String> = apps
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect();
    let probes = futures::stream::iter(app_ids)
        .map(|app_id| async move {
            match fetch(client, kind, &app_id, key).await {
                Ok(object) => Ok(Some(Found {
                    app: app_id,
                    object,
                })),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })
        .buffered(CONCURRENCY)
        .try_filter_map(|found| async move { Ok(found) });
    let mut probes = std::pin::pin!(probes);
    let Some(first) = probes.try_next().await? else {
        return Err(CliError::Lookup(format!(
            "{} {key:?} not found in any application",
            kind.noun()
        )));
    };
    // An id names one object; a uid may name one in each application.
    if !key.starts_with(kind.id_prefix()) {
        if let Some(second) = probes.try_next().await? {
            return Err(CliError::Lookup(format!(
                "{} {key:?} is in more than one application ({} and {}); pass --app",
                kind.noun(),
                first.app,
                second.app
            )));
        }
    }
    Ok(first)
}

async fn fetch(client: &Client, kind: Kind, app: &str, key: &str) -> Result<Value, CliError> {
    match kind {
        Kind::Message => {
            client
                .get(&["app", app, "msg", key], &[("with_content", "false")])
                .await
        }
        Kind::Endpoint => client.get(&["app", app, "endpoint", key], &[]).await,
    }
}
