//! A small typed client for the Hookline API calls the bench makes. Every call checks the
//! status it expects and fails with the status and body otherwise.

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

/// The token every Hookline process of the bench accepts.
pub const TOKEN: &str = "bench-token-0123456789abcdef";

/// Attempts fetched per page when verifying (the API's maximum).
const PAGE: usize = 250;

/// One Hookline API server.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    auth: String,
}

/// `GET …/endpoint/{id}/stats`.
#[derive(Debug, Deserialize)]
pub struct Stats {
    /// Deliveries that succeeded.
    pub success: i64,
    /// Deliveries waiting for an attempt.
    pub pending: i64,
    /// Deliveries in flight.
    pub sending: i64,
    /// Deliveries given up.
    pub fail: i64,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptPage {
    data: Vec<AttemptRow>,
    iterator: Option<String>,
    done: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptRow {
    msg_id: String,
    status: u8,
}

/// What the attempt listing of one endpoint holds.
pub struct RecordedAttempts {
    /// Successful attempts listed.
    pub successes: usize,
    /// Distinct messages among them.
    pub messages: HashSet<String>,
}

impl Api {
    /// A client for the API on `127.0.0.1:port` keeping up to `pool` idle connections.
    ///
    /// # Errors
    /// If the HTTP client cannot be built.
    pub fn new(port: u16, pool: usize) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(pool)
                .timeout(Duration::from_secs(30))
                .build()?,
            base: format!("http://127.0.0.1:{port}/api/v1"),
            auth: format!("Bearer {TOKEN}"),
        })
    }

    /// Whether `GET /api/v1/health` answers 204.
    pub async fn healthy(&self) -> bool {
        let url = format!("{}/health", self.base);
        self.client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::NO_CONTENT)
    }

    /// Creates an application and returns its id.
    ///
    /// # Errors
    /// Anything but 201.
    pub async fn create_app(&self) -> anyhow::Result<String> {
        let url = format!("{}/app", self.base);
        let body = json!({"name": "bench"});
        self.create(&url, &body).await
    }

    /// Creates an endpoint for `url`, subscribed to `event_types` (all when `None`), and
    /// returns its id.
    ///
    /// # Errors
    /// Anything but 201.
    pub async fn create_endpoint(
        &self,
        app: &str,
        url: &str,
        event_types: Option<&[&str]>,
    ) -> anyhow::Result<String> {
        let at = format!("{}/app/{app}/endpoint", self.base);
        let body = match event_types {
            Some(types) => json!({"url": url, "eventTypes": types}),
            None => json!({"url": url}),
        };
        self.create(&at, &body).await
    }

    async fn create(&self, url: &str, body: &serde_json::Value) -> anyhow::Result<String> {
        let r = self
            .client
            .post(url)
            .header("authorization", &self.auth)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = r.status();
        if status != StatusCode::CREATED {
            bail!(
                "POST {url}: {status}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        Ok(r.json::<Created>().await?.id)
    }

    /// Posts a message (`body` is the JSON of `MessageIn`) and returns its id.
    ///
    /// # Errors
    /// Anything but 202, with the status and body.
    pub async fn post_message(&self, app: &str, body: String) -> anyhow::Result<String> {
        let url = format!("{}/app/{app}/msg?with_content=false", self.base);
        let r = self
            .client
            .post(&url)
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = r.status();
        if status != StatusCode::ACCEPTED {
            bail!(
                "a message was not accepted: POST {url} answered {status}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        Ok(r.json::<Created>().await?.id)
    }

    /// The endpoint's delivery counts by status.
    ///
    /// # Errors
    /// Anything but 200.
    pub async fn endpoint_stats(&self, app: &str, ep: &str) -> anyhow::Result<Stats> {
        let url = format!("{}/app/{app}/endpoint/{ep}/stats", self.base);
        let r = self.get(&url).await?;
        Ok(r.json().await?)
    }

    /// The endpoint's isolation state (`GET …/endpoint/{id}/health`), as JSON.
    ///
    /// # Errors
    /// Anything but 200.
    pub async fn endpoint_health(&self, app: &str, ep: &str) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}/app/{app}/endpoint/{ep}/health", self.base);
        Ok(self.get(&url).await?.json().await?)
    }

    /// Pages through every successful attempt recorded for the endpoint.
    ///
    /// # Errors
    /// Anything but 200, or a listing that never reports `done`.
    pub async fn successful_attempts(
        &self,
        app: &str,
        ep: &str,
        expected: usize,
    ) -> anyhow::Result<RecordedAttempts> {
        let mut recorded = RecordedAttempts {
            successes: 0,
            messages: HashSet::with_capacity(expected),
        };
        let mut iterator: Option<String> = None;
        // Generous: duplicates add rows, but a listing that keeps going is a bug.
        let max_pages = expected * 2 / PAGE + 10;
        for _ in 0..max_pages {
            let mut url = format!(
                "{}/app/{app}/attempt/endpoint/{ep}?limit={PAGE}&status=0&with_content=false",
                self.base
            );
            if let Some(it) = &iterator {
                url.push_str(&format!("&iterator={it}"));
            }
            let page: AttemptPage = self.get(&url).await?.json().await?;
            for row in page.data {
                if row.status == 0 {
                    recorded.successes += 1;
                    recorded.messages.insert(row.msg_id);
                }
            }
            if page.done || page.iterator.is_none() {
                return Ok(recorded);
            }
            iterator = page.iterator;
        }
        bail!("the attempt listing of {ep} did not finish within {max_pages} pages")
    }

    async fn get(&self, url: &str) -> anyhow::Result<reqwest::Response> {
        let r = self
            .client
            .get(url)
            .header("authorization", &self.auth)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = r.status();
        if status != StatusCode::OK {
            bail!(
                "GET {url}: {status}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        Ok(r)
    }
}
