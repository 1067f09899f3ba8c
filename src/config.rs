//! One typed, validated configuration, read from `HOOKLINE_*` environment variables and
//! optionally a TOML file with the same keys in lower case without the prefix
//! (`HOOKLINE_LISTEN` → `listen = "…"`). The environment wins over the file.

use crate::delivery::gate::{BreakerPolicy, ClaimPolicy};
use ipnet::IpNet;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Which header names carry the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderStyle {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks).
    Webhook,
    /// `svix-id`, `svix-timestamp`, `svix-signature`, for receivers written against Svix.
    Svix,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Everything Hookline can be configured with. Each field documents its variable. `Debug`
/// leaves out the API tokens, the main secret and any password in the database URL.
#[derive(Clone)]
pub struct Config {
    /// `HOOKLINE_DATABASE_URL`: `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// `HOOKLINE_LISTEN`: API address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `HOOKLINE_METRICS_LISTEN`: an extra address serving only `/metrics` and
    /// `/api/v1/health`, so a `worker` (which has no API) can be scraped; unset: none.
    pub metrics_listen: Option<SocketAddr>,
    /// `HOOKLINE_API_TOKEN`: accepted bearer tokens, comma-separated. Empty means tokens are
    /// generated on first start and kept (hashed) in the database.
    pub api_tokens: Vec<String>,
    /// `HOOKLINE_RETRY_SCHEDULE`: delays before each retry; its length is the number of retries.
    pub retry_schedule: Vec<Duration>,
    /// `HOOKLINE_REQUEST_TIMEOUT`: per attempt, connect to last byte.
    pub request_timeout: Duration,
    /// `HOOKLINE_ALLOWED_SUBNETS`: CIDRs exempt from the private-address block.
    pub allowed_subnets: Vec<IpNet>,
    /// `HOOKLINE_WORKER_CONCURRENCY`: in-flight deliveries per worker process.
    pub worker_concurrency: usize,
    /// `HOOKLINE_ENDPOINT_CONCURRENCY`: in-flight deliveries per endpoint.
    pub endpoint_concurrency: usize,
    /// `HOOKLINE_MAIN_SECRET`: key for encrypting endpoint secrets at rest.
    pub main_secret: Option<String>,
    /// `HOOKLINE_LOG_FORMAT`: `pretty` or `json`.
    pub log_format: LogFormat,
    /// `HOOKLINE_LEASE`: how long a claimed delivery belongs to its worker; must exceed the
    /// request timeout so a live worker never loses a lease mid-attempt.
    pub lease: Duration,
    /// `HOOKLINE_CLAIM_BATCH`: most deliveries taken per claim query.
    pub claim_batch: usize,
    /// `HOOKLINE_POLL_INTERVAL`: how often an idle worker looks for due work without a wake-up.
    pub poll_interval: Duration,
    /// `HOOKLINE_MAX_PAYLOAD`: largest accepted request body, in bytes (`1MiB`, `512KiB`, `1000`).
    pub max_payload: usize,
    /// `HOOKLINE_BODY_TIMEOUT`: longest a client may take to send a request body; slower
    /// uploads get a 408.
    pub body_timeout: Duration,
    /// `HOOKLINE_RUN_MIGRATIONS`: apply migrations on start (`true`/`false`).
    pub run_migrations: bool,
    /// `HOOKLINE_SIGNATURE_HEADERS`: `webhook` or `svix` header names.
    pub signature_headers: HeaderStyle,
    /// `HOOKLINE_BREAKER_FAILURES`: consecutive failures that open an endpoint's breaker.
    pub breaker_failures: u32,
    /// `HOOKLINE_BREAKER_FAILURE_RATE`: percentage of failures over the window that opens it.
    pub breaker_failure_rate: u32,
    /// `HOOKLINE_BREAKER_MIN_REQUESTS`: attempts the window needs before the rate counts.
    pub breaker_min_requests: u32,
    /// `HOOKLINE_BREAKER_WINDOW`: length of the failure-rate window.
    pub breaker_window: Duration,
    /// `HOOKLINE_BREAKER_COOLDOWN`: how long a breaker stays open after its first trip;
    /// doubles with each trip in a row.
    pub breaker_cooldown: Duration,
    /// `HOOKLINE_BREAKER_MAX_COOLDOWN`: the longest a breaker stays open.
    pub breaker_max_cooldown: Duration,
    /// `HOOKLINE_DISABLE_AFTER`: an endpoint with no successful delivery for this long is
    /// disabled.
    pub disable_after: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field cannot be added without deciding how it is shown.
        let Self {
            database_url,
            listen,
            metrics_listen,
            api_tokens,
            retry_schedule,
            request_timeout,
            allowed_subnets,
            worker_concurrency,
            endpoint_concurrency,
            main_secret,
            log_format,
            lease,
            claim_batch,
            poll_interval,
            max_payload,
            body_timeout,
            run_migrations,
            signature_headers,
            breaker_failures,
            breaker_failure_rate,
            breaker_min_requests,
            breaker_window,
            breaker_cooldown,
            breaker_max_cooldown,
            disable_after,
        } = self;
        let database = url::Url::parse(database_url).map_or_else(
            |_| "<unparsable>".into(),
            |mut u| {
                if u.password().is_some() {
                    let _ = u.set_password(Some("redacted"));
                }
                u.to_string()
            },
        );
        f.debug_struct("Config")
            .field("database_url", &database)
            .field(
                "api_tokens",
                &format_args!("[{} redacted]", api_tokens.len()),
            )
            .field("main_secret", &main_secret.as_ref().map(|_| "redacted"))
            .field("metrics_listen", metrics_listen)
            .field("listen", listen)
            .field("retry_schedule", retry_schedule)
            .field("request_timeout", request_timeout)
            .field("allowed_subnets", allowed_subnets)
            .field("worker_concurrency", worker_concurrency)
            .field("endpoint_concurrency", endpoint_concurrency)
            .field("log_format", log_format)
            .field("lease", lease)
            .field("claim_batch", claim_batch)
            .field("poll_interval", poll_interval)
            .field("max_payload", max_payload)
            .field("body_timeout", body_timeout)
            .field("run_migrations", run_migrations)
            .field("signature_headers", signature_headers)
            .field("breaker_failures", breaker_failures)
            .field("breaker_failure_rate", breaker_failure_rate)
            .field("breaker_min_requests", breaker_min_requests)
            .field("breaker_window", breaker_window)
            .field("breaker_cooldown", breaker_cooldown)
            .field("breaker_max_cooldown", breaker_max_cooldown)
            .field("disable_after", disable_after)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://hookline.db".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8071)),
            metrics_listen: None,
            api_tokens: Vec::new(),
            retry_schedule: [5, 300, 1800, 7200, 18000, 36000, 36000]
                .map(Duration::from_secs)
                .to_vec(),
            request_timeout: Duration::from_secs(15),
            allowed_subnets: Vec::new(),
            worker_concurrency: 1024,
            endpoint_concurrency: 64,
            main_secret: None,
            log_format: LogFormat::Pretty,
            lease: Duration::from_secs(30),
            claim_batch: 500,
            poll_interval: Duration::from_secs(1),
            max_payload: 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            run_migrations: true,
            signature_headers: HeaderStyle::Webhook,
            breaker_failures: 5,
            breaker_failure_rate: 50,
            breaker_min_requests: 20,
            breaker_window: Duration::from_secs(60),
            breaker_cooldown: Duration::from_secs(10),
            breaker_max_cooldown: Duration::from_secs(600),
            disable_after: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable's value is not accepted.
    #[error("{var}={value:?} is not valid: expected {expected}")]
    Invalid {
        /// The variable, e.g. `HOOKLINE_LISTEN`.
        var: String,
        /// What was given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// The configuration file could not be read or parsed.
    #[error("cannot read configuration file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

const PREFIX: &str = "HOOKLINE_";

/// How far ahead rate-limited send slots are claimed. Short, so a worker never holds a
/// delivery long waiting for its slot, and long enough that a 1/s endpoint gets one.
const RATE_LOOKAHEAD: Duration = Duration::from_secs(1);

/// Every key Hookline reads, so unknown keys in a file are reported instead of ignored.
const KEYS: &[&str] = &[
    "DATABASE_URL",
    "LISTEN",
    "METRICS_LISTEN",
    "API_TOKEN",
    "RETRY_SCHEDULE",
    "REQUEST_TIMEOUT",
    "ALLOWED_SUBNETS",
    "WORKER_CONCURRENCY",
    "ENDPOINT_CONCURRENCY",
    "MAIN_SECRET",
    "LOG_FORMAT",
    "LEASE",
    "CLAIM_BATCH",
    "POLL_INTERVAL",
    "MAX_PAYLOAD",
    "BODY_TIMEOUT",
    "RUN_MIGRATIONS",
    "SIGNATURE_HEADERS",
    "BREAKER_FAILURES",
    "BREAKER_FAILURE_RATE",
    "BREAKER_MIN_REQUESTS",
    "BREAKER_WINDOW",
    "BREAKER_COOLDOWN",
    "BREAKER_MAX_COOLDOWN",
    "DISABLE_AFTER",
];

impl Config {
    /// Reads the environment, over `file` if given (or `./hookline.toml` if it exists).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad variable and what it accepts.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut values = match file {
            Some(path) => read_file(path)?,
            None if Path::new("hookline.toml").exists() => read_file(Path::new("hookline.toml"))?,
            None => HashMap::new(),
        };
        for key in KEYS {
            if let Ok(v) = std::env::var(format!("{PREFIX}{key}")) {
                values.insert((*key).to_owned(), v);
            }
        }
        Self::from_values(&values)
    }

    /// Builds a configuration from `KEY → value` pairs (keys without the prefix, upper case).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad variable and what it accepts.
    pub fn from_values(values: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        let get = |key: &str| {
            values
                .get(key)
                .map(|v| (format!("{PREFIX}{key}"), v.trim()))
        };

        if let Some((_, v)) = get("DATABASE_URL") {
            c.database_url = v.to_owned();
        }
        if !(c.database_url.starts_with("sqlite:")
            || c.database_url.starts_with("postgres://")
            || c.database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "HOOKLINE_DATABASE_URL",
                &c.database_url,
                "sqlite://PATH or postgres://USER@HOST/DB",
            ));
        }
        if let Some((var, v)) = get("LISTEN") {
            c.listen = v
                .parse()
                .map_err(|_| invalid(&var, v, "an address like 127.0.0.1:8071"))?;
        }
        if let Some((var, v)) = get("METRICS_LISTEN") {
            c.metrics_listen = if v.is_empty() {
                None
            } else {
                Some(v.parse().map_err(|_| {
                    invalid(&var, v, "an address like 0.0.0.0:9071, or empty for none")
                })?)
            };
        }
        if let Some((var, v)) = get("API_TOKEN") {
            c.api_tokens = split_list(v).map(str::to_owned).collect();
            if c.api_tokens.iter().any(|t| t.len() < 16) {
                return Err(invalid(&var, "…", "tokens of at least 16 characters"));
            }
        }
        if let Some((var, v)) = get("RETRY_SCHEDULE") {
            c.retry_schedule = split_list(v)
                .map(|d| humantime::parse_duration(d).map_err(|_| ()))
                .collect::<Result<_, _>>()
                .map_err(|()| invalid(&var, v, "comma-separated durations like 5s,5m,2h"))?;
        }
        if let Some((var, v)) = get("REQUEST_TIMEOUT") {
            c.request_timeout = positive_duration(&var, v)?;
        }
        if let Some((var, v)) = get("ALLOWED_SUBNETS") {
            c.allowed_subnets = split_list(v)
                .map(|s| s.parse::<IpNet>().map_err(|_| ()))
                .collect::<Result<_, _>>()
                .map_err(|()| invalid(&var, v, "comma-separated CIDRs like 10.0.0.0/8,::1/128"))?;
        }
        if let Some((var, v)) = get("WORKER_CONCURRENCY") {
            c.worker_concurrency = bounded_int(&var, v, 1, 100_000)?;
        }
        if let Some((var, v)) = get("ENDPOINT_CONCURRENCY") {
            c.endpoint_concurrency = bounded_int(&var, v, 1, 10_000)?;
        }
        if let Some((var, v)) = get("MAIN_SECRET") {
            if v.len() < 16 {
                return Err(invalid(&var, "…", "a secret of at least 16 characters"));
            }
            c.main_secret = Some(v.to_owned());
        }
        if let Some((var, v)) = get("LOG_FORMAT") {
            c.log_format = match v {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                _ => return Err(invalid(&var, v, "pretty or json")),
            };
        }
        c.lease = c.request_timeout.max(Duration::from_secs(15)) * 2;
        if let Some((var, v)) = get("LEASE") {
            c.lease = positive_duration(&var, v)?;
            if c.lease <= c.request_timeout {
                return Err(invalid(
                    &var,
                    v,
                    "a duration longer than HOOKLINE_REQUEST_TIMEOUT",
                ));
            }
        }
        if let Some((var, v)) = get("CLAIM_BATCH") {
            c.claim_batch = bounded_int(&var, v, 1, 10_000)?;
        }
        if let Some((var, v)) = get("POLL_INTERVAL") {
            c.poll_interval = positive_duration(&var, v)?;
        }
        if let Some((var, v)) = get("MAX_PAYLOAD") {
            c.max_payload = parse_size(v)
                .filter(|n| (1024..=64 * 1024 * 1024).contains(n))
                .ok_or_else(|| {
                    invalid(&var, v, "a size from 1KiB to 64MiB, like 1MiB or 524288")
                })?;
        }
        if let Some((var, v)) = get("BODY_TIMEOUT") {
            c.body_timeout = positive_duration(&var, v)?;
        }
        if let Some((var, v)) = get("RUN_MIGRATIONS") {
            c.run_migrations = match v {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(invalid(&var, v, "true or false")),
            };
        }
        if let Some((var, v)) = get("SIGNATURE_HEADERS") {
            c.signature_headers = match v {
                "webhook" => HeaderStyle::Webhook,
                "svix" => HeaderStyle::Svix,
                _ => return Err(invalid(&var, v, "webhook or svix")),
            };
        }
        if let Some((var, v)) = get("BREAKER_FAILURES") {
            c.breaker_failures = bounded_int(&var, v, 1, 10_000)? as u32;
        }
        if let Some((var, v)) = get("BREAKER_FAILURE_RATE") {
            c.breaker_failure_rate = bounded_int(&var, v, 1, 100)? as u32;
        }
        if let Some((var, v)) = get("BREAKER_MIN_REQUESTS") {
            c.breaker_min_requests = bounded_int(&var, v, 1, 1_000_000)? as u32;
        }
        if let Some((var, v)) = get("BREAKER_WINDOW") {
            c.breaker_window = positive_duration(&var, v)?;
        }
        if let Some((var, v)) = get("BREAKER_COOLDOWN") {
            c.breaker_cooldown = positive_duration(&var, v)?;
        }
        if let Some((var, v)) = get("BREAKER_MAX_COOLDOWN") {
            c.breaker_max_cooldown = positive_duration(&var, v)?;
        }
        if c.breaker_max_cooldown < c.breaker_cooldown {
            return Err(invalid(
                "HOOKLINE_BREAKER_MAX_COOLDOWN",
                &humantime::format_duration(c.breaker_max_cooldown).to_string(),
                "a duration at least HOOKLINE_BREAKER_COOLDOWN",
            ));
        }
        if let Some((var, v)) = get("DISABLE_AFTER") {
            c.disable_after = positive_duration(&var, v)?;
        }
        Ok(c)
    }

    /// The circuit-breaker thresholds.
    pub fn breaker_policy(&self) -> BreakerPolicy {
        BreakerPolicy {
            consecutive_failures: self.breaker_failures,
            failure_rate: f64::from(self.breaker_failure_rate) / 100.0,
            min_volume: self.breaker_min_requests,
            window: self.breaker_window,
            cooldown: self.breaker_cooldown,
            max_cooldown: self.breaker_max_cooldown,
            disable_after: self.disable_after,
        }
    }

    /// How claims are gated: bulkhead, rate-limit lookahead and breaker; counting every
    /// lease (a worker adds its own request counts to each claim).
    pub fn claim_policy(&self) -> ClaimPolicy {
        ClaimPolicy {
            endpoint_concurrency: u32::try_from(self.endpoint_concurrency).unwrap_or(u32::MAX),
            rate_lookahead: RATE_LOOKAHEAD,
            breaker: self.breaker_policy(),
            sending: None,
        }
    }

    /// Whether the database is the embedded SQLite file.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn read_file(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let file_err = |reason: String| ConfigError::File {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_err(e.to_string()))?;
    let mut out = HashMap::new();
    for (key, value) in table {
        let upper = key.to_ascii_uppercase();
        if !KEYS.contains(&upper.as_str()) {
            return Err(file_err(format!(
                "unknown key {key:?}; known keys are {}",
                KEYS.iter()
                    .map(|k| k.to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        out.insert(upper, text);
    }
    Ok(out)
}

fn invalid(var: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        var: var.to_owned(),
        value: value.to_owned(),
        expected: expected.to_owned(),
    }
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn positive_duration(var: &str, v: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| invalid(var, v, "a positive duration like 15s or 2m"))
}

fn bounded_int(var: &str, v: &str, min: usize, max: usize) -> Result<usize, ConfigError> {
    v.parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| invalid(var, v, &format!("an integer from {min} to {max}")))
}

fn parse_size(v: &str) -> Option<usize> {
    let (digits, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, ""),
    };
    let n: usize = digits.parse().ok()?;
    let mult = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1024,
        "MiB" | "M" | "MB" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_values(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn nothing_set_gives_the_documented_defaults() {
        let c = with(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://hookline.db");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8071");
        assert_eq!(c.retry_schedule.len(), 7);
        assert_eq!(c.request_timeout, Duration::from_secs(15));
        assert!(c.lease > c.request_timeout);
    }

    #[test]
    fn a_bad_value_names_the_variable_and_what_it_accepts() {
        let err = with(&[("RETRY_SCHEDULE", "5s,soon")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("HOOKLINE_RETRY_SCHEDULE"), "{err}");
        assert!(err.contains("durations"), "{err}");
        let err = with(&[("WORKER_CONCURRENCY", "0")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HOOKLINE_WORKER_CONCURRENCY") && err.contains("1 to"),
            "{err}"
        );
        assert!(with(&[("LISTEN", "localhost")]).is_err());
        let err = with(&[("METRICS_LISTEN", "9071")]).unwrap_err().to_string();
        assert!(err.contains("HOOKLINE_METRICS_LISTEN"), "{err}");
        assert!(with(&[("DATABASE_URL", "mysql://x")]).is_err());
        assert!(with(&[("LEASE", "5s")]).is_err());
    }

    #[test]
    fn lists_sizes_and_enums_parse() {
        let c = with(&[
            ("RETRY_SCHEDULE", "1s, 2s"),
            ("ALLOWED_SUBNETS", "127.0.0.0/8,::1/128"),
            ("MAX_PAYLOAD", "512KiB"),
            ("SIGNATURE_HEADERS", "svix"),
            ("METRICS_LISTEN", "0.0.0.0:9071"),
            ("API_TOKEN", "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb"),
        ])
        .unwrap();
        assert_eq!(
            c.retry_schedule,
            vec![Duration::from_secs(1), Duration::from_secs(2)]
        );
        assert_eq!(c.allowed_subnets.len(), 2);
        assert_eq!(c.max_payload, 512 * 1024);
        assert_eq!(c.signature_headers, HeaderStyle::Svix);
        assert_eq!(c.metrics_listen.map(|a| a.port()), Some(9071));
        assert_eq!(
            with(&[("METRICS_LISTEN", "")]).unwrap().metrics_listen,
            None
        );
        assert_eq!(c.api_tokens.len(), 2);
    }

    #[test]
    fn a_file_uses_lower_case_keys_and_rejects_unknown_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookline.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nretry_schedule = [\"1s\", \"1m\"]\n",
        )
        .unwrap();
        let values = read_file(&path).unwrap();
        let c = Config::from_values(&values).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.retry_schedule.len(), 2);
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        assert!(
            read_file(&path)
                .unwrap_err()
                .to_string()
                .contains("unknown key")
        );
    }

    #[test]
    fn debug_output_leaves_out_credentials() {
        let c = Config {
            database_url: "postgres://hookline:hunter2-password@db/hookline".into(),
            api_tokens: vec!["admin-token-0123456789".into()],
            main_secret: Some("main-secret-0123456789".into()),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        for secret in [
            "hunter2-password",
            "admin-token-0123456789",
            "main-secret-0123456789",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("postgres://hookline:redacted@db/hookline"),
            "{shown}"
        );
        assert!(shown.contains("request_timeout"), "{shown}");
    }
}
