//! The client subcommands (`hookline status`, `endpoints`, `attempts`, `resend`,
//! `recover`): they talk to a running Hookline over its HTTP API, like any other API
//! client, and never read the server's configuration.
//!
//! Each prints an aligned table by default and, with `--json`, the API's objects as
//! returned, wrapped in one JSON object per command. Exit codes: 0 ok, 1 a failed request
//! (or a wait that ran out), 2 a usage error (reported by clap).

mod attempts;
mod client;
mod endpoints;
mod error;
mod locate;
mod recover;
mod status;
mod table;

pub use error::CliError;

use clap::{Args, Subcommand};
use client::Client;
use serde_json::Value;
use std::io::Write as _;
use std::process::ExitCode;
use url::Url;

/// The client subcommands, flattened into the binary's own.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the server's queue depth, delivery rate and open circuit breakers.
    Status(status::StatusArgs),
    /// List an application's endpoints with their health: breaker, success rate, latency,
    /// backlog.
    Endpoints(endpoints::EndpointsArgs),
    /// List every delivery attempt of a message.
    Attempts(attempts::AttemptsArgs),
    /// Send a message to one endpoint again and show the new attempt.
    Resend(attempts::ResendArgs),
    /// Re-send an endpoint's failed deliveries of a time window and follow them out.
    Recover(recover::RecoverArgs),
}

/// Where the server is, how to authenticate and how to print: every client subcommand
/// takes these.
#[derive(Debug, Args)]
pub struct Connection {
    /// Base URL of the Hookline API.
    #[arg(
        long,
        env = "HOOKLINE_URL",
        default_value = "http://127.0.0.1:8071",
        value_parser = parse_base_url
    )]
    url: Url,
    /// API token, as for `Authorization: Bearer`.
    #[arg(long, env = "HOOKLINE_TOKEN", hide_env_values = true)]
    token: String,
    /// Print JSON (the API's objects as returned) instead of a table.
    #[arg(long)]
    json: bool,
}

impl Connection {
    fn client(&self) -> Result<Client, CliError> {
        Client::new(self.url.clone(), self.token.clone())
    }
}

/// Runs a client subcommand to completion. Failures are reported on stderr in one line.
pub async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Status(args) => status::run(args).await,
        Command::Endpoints(args) => endpoints::run(args).await,
        Command::Attempts(args) => attempts::run(args).await,
        Command::Resend(args) => attempts::resend(args).await,
        Command::Recover(args) => recover::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing more to say to anyone.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "hookline: {}", e.one_line());
            ExitCode::FAILURE
        }
    }
}

/// `http(s)://host[:port][/prefix]`.
fn parse_base_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("expected an http:// or https:// URL like http://127.0.0.1:8071".into());
    }
    Ok(url)
}

/// A duration like `30s`, `5m` or `1h 30m`.
fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(raw).map_err(|e| format!("{e}; expected a duration like 30s or 5m"))
}

/// Writes `text` to stdout.
fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::Output)
}

/// Writes `value` to stdout as pretty JSON and a newline.
fn print_json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Output(std::io::Error::other(e)))?;
    print(&format!("{text}\n"))
}

/// Decodes an API object into the fields a table shows.
///
/// # Errors
/// [`CliError::Unexpected`] naming `what` when the object lacks them.
fn view<T: serde::de::DeserializeOwned>(value: &Value, what: &str) -> Result<T, CliError> {
    T::deserialize(value).map_err(|e| CliError::Unexpected {
        url: "the API".to_owned(),
        reason: format!("{what}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_http() {
        assert!(parse_base_url("http://127.0.0.1:8071").is_ok());
        assert!(parse_base_url("https://hooks.example.com/prefix").is_ok());
        assert!(parse_base_url("127.0.0.1:8071").is_err());
        assert!(parse_base_url("ftp://example.com").is_err());
    }
}
