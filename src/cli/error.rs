//! Every way a client subcommand can fail. Each renders as one line for stderr; all of
//! them exit 1 (usage errors are clap's and exit 2 before any request is made).

use std::error::Error as StdError;

/// A failed client subcommand.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No connection could be made: the server is down, the URL is wrong, TLS failed.
    #[error("cannot reach Hookline at {url}: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The innermost cause, e.g. "Connection refused (os error 111)".
        reason: String,
    },
    /// The server did not answer in time.
    #[error("no answer from {url} within {seconds}s")]
    TimedOut {
        /// The URL tried.
        url: String,
        /// How long the request was given.
        seconds: u64,
    },
    /// The API refused the request with its `{code, detail}` error body.
    #[error("{detail} (HTTP {status}, {code})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's machine-readable `code`, e.g. `not_found`.
        code: String,
        /// The API's explanation.
        detail: String,
    },
    /// Something answered, but not the way Hookline's API does (e.g. a proxy's HTML page).
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected {
        /// The URL asked.
        url: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// A search over every application found nothing, or more than one match.
    #[error("{0}")]
    Lookup(String),
    /// The request was accepted but what it started had not finished within `--timeout`.
    #[error("{0}")]
    Unfinished(String),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
}

impl CliError {
    /// The error for a `reqwest` failure to send `url` (on the server at `base`) or to
    /// read its answer within `timeout_secs`.
    pub fn transport(base: &str, url: &str, err: &reqwest::Error, timeout_secs: u64) -> Self {
        if err.is_timeout() {
            return Self::TimedOut {
                url: url.to_owned(),
                seconds: timeout_secs,
            };
        }
        Self::Unreachable {
            url: base.to_owned(),
            reason: root_cause(err),
        }
    }

    /// Whether this is the API saying 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status: 404, .. })
    }

    /// The message as a single line, for stderr.
    pub fn one_line(&self) -> String {
        self.to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The innermost error of the chain: the one that says what actually happened.
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_root_cause_is_the_innermost_source() {
        let err = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        assert_eq!(root_cause(&err), "Connection refused (os error 111)");
    }

    #[test]
    fn api_errors_read_as_one_line_with_status_and_code() {
        let err = CliError::Api {
            status: 404,
            code: "not_found".into(),
            detail: "message \"msg_x\"\nnot found".into(),
        };
        assert_eq!(
            err.one_line(),
            "message \"msg_x\" not found (HTTP 404, not_found)"
        );
        assert!(err.is_not_found());
    }
}
