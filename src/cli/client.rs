//! A small client for Hookline's API: bearer auth, `{code, detail}` errors, and Svix-style
//! paging through whole listings.

use super::error::CliError;
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// How long one request may take, connect to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take; a server that is down usually refuses at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest page the API serves.
const PAGE_LIMIT: &str = "250";

/// A path below `/api/v1/`, one segment per element (each is percent-encoded).
pub type Segments<'a> = &'a [&'a str];

/// A connection to one Hookline server with one token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl Client {
    /// A client for the API at `base` (e.g. `http://127.0.0.1:8071`) using `token`.
    ///
    /// # Errors
    /// [`CliError::Unreachable`] if the HTTP client cannot be set up (no TLS backend).
    pub fn new(base: Url, token: String) -> Result<Self, CliError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hookline-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::transport(base.as_str(), base.as_str(), &e, 0))?;
        Ok(Self { http, base, token })
    }

    /// The absolute URL of `/api/v1/<segments>?<query>`.
    fn url(&self, segments: Segments<'_>, query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// `GET /api/v1/<segments>?<query>` as JSON.
    ///
    /// # Errors
    /// [`CliError`] for a transport failure, an API error or a body that is not JSON.
    pub async fn get(
        &self,
        segments: Segments<'_>,
        query: &[(&str, &str)],
    ) -> Result<Value, CliError> {
        let url = self.url(segments, query);
        self.send(self.http.get(url.clone()), &url).await
    }

    /// `POST /api/v1/<segments>` with a JSON body; an empty answer is `null`.
    ///
    /// # Errors
    /// [`CliError`] for a transport failure, an API error or a body that is not JSON.
    pub async fn post(&self, segments: Segments<'_>, body: &Value) -> Result<Value, CliError> {
        let url = self.url(segments, &[]);
        let request = self
            .http
            .post(url.clone())
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(request, &url).await
    }

    /// Every item of a listing, following `iterator` until `done`.
    ///
    /// # Errors
    /// As [`Client::get`]; also [`CliError::Unexpected`] for a page that is not a listing
    /// or an iterator that does not move.
    pub async fn list_all(
        &self,
        segments: Segments<'_>,
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, CliError> {
        let mut items = Vec::new();
        let mut iterator: Option<String> = None;
        loop {
            let mut q = query.to_vec();
            q.push(("limit", PAGE_LIMIT));
            if let Some(it) = &iterator {
                q.push(("iterator", it));
            }
            let page = self.get(segments, &q).await?;
            let unexpected = |reason: &str| CliError::Unexpected {
                url: self.url(segments, query).to_string(),
                reason: reason.to_owned(),
            };
            let Some(data) = page["data"].as_array() else {
                return Err(unexpected("a listing without a `data` array"));
            };
            items.extend(data.iter().cloned());
            if page["done"].as_bool() != Some(false) || data.is_empty() {
                return Ok(items);
            }
            let next = page["iterator"].as_str().map(str::to_owned);
            if next.is_none() || next == iterator {
                return Err(unexpected("a listing whose iterator does not advance"));
            }
            iterator = next;
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, url: &Url) -> Result<Value, CliError> {
        let secs = REQUEST_TIMEOUT.as_secs();
        let failed =
            |e: reqwest::Error| CliError::transport(self.base.as_str(), url.as_str(), &e, secs);
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(failed)?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return match body {
                Some(v) => Ok(v),
                None if bytes.is_empty() => Ok(Value::Null),
                None => Err(CliError::Unexpected {
                    url: url.to_string(),
                    reason: format!("HTTP {status} with a body that is not JSON"),
                }),
            };
        }
        match body.as_ref().and_then(api_error) {
            Some((code, detail)) => Err(CliError::Api {
                status: status.as_u16(),
                code,
                detail,
            }),
            None => Err(CliError::Unexpected {
                url: url.to_string(),
                reason: format!("HTTP {status}"),
            }),
        }
    }
}

/// The `code` and `detail` of an API error body; a non-string detail (a list of
/// validation problems) is shown as compact JSON.
fn api_error(body: &Value) -> Option<(String, String)> {
    let code = body["code"].as_str()?.to_owned();
    let detail = match &body["detail"] {
        Value::String(s) => s.clone(),
        Value::Null => code.clone(),
        other => other.to_string(),
    };
    Some((code, detail))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client(base: &str) -> Client {
        Client::new(Url::parse(base).unwrap(), "t".into()).unwrap()
    }

    #[test]
    fn paths_are_below_the_base_and_segments_are_encoded() {
        let c = client("http://127.0.0.1:8071");
        assert_eq!(
            c.url(&["app", "a/b c"], &[("status", "2")]).as_str(),
            "http://127.0.0.1:8071/api/v1/app/a%2Fb%20c?status=2"
        );
        let prefixed = client("https://example.com/hookline/");
        assert_eq!(
            prefixed.url(&["status"], &[]).as_str(),
            "https://example.com/hookline/api/v1/status"
        );
    }

    #[test]
    fn error_bodies_give_code_and_detail() {
        let body = json!({"code": "not_found", "detail": "message \"x\" not found"});
        assert_eq!(
            api_error(&body),
            Some(("not_found".into(), "message \"x\" not found".into()))
        );
        let list = json!({"code": "validation", "detail": [{"msg": "bad"}]});
        assert_eq!(api_error(&list).unwrap().1, r#"[{"msg":"bad"}]"#);
        assert_eq!(api_error(&json!("<html>")), None);
    }
}
