//! Custom endpoint headers: which names may be set, and which values are never shown back.

use crate::api::error::ApiError;
use crate::api::openapi::{header_changes, header_map};
use axum::http::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Headers Hookline sets itself or that would break HTTP framing if overridden.
const RESERVED: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "user-agent",
];

/// Prefixes of the signature headers (both styles).
const RESERVED_PREFIXES: &[&str] = &["webhook-", "svix-"];

/// Headers whose values are credentials.
const SENSITIVE: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
];

/// Name fragments that mark a header as a credential too (`x-shop-token`, `x-client-secret`).
const SENSITIVE_FRAGMENTS: &[&str] = &["token", "secret", "password", "apikey", "api-key"];

/// Most custom headers one endpoint may carry.
const MAX_HEADERS: usize = 100;

/// Longest custom header name, in bytes.
const MAX_NAME_LEN: usize = 256;

/// Longest custom header value, in bytes.
const MAX_VALUE_LEN: usize = 4096;

/// Body of `PUT …/headers`: the complete new set.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct EndpointHeadersIn {
    /// Name → value.
    #[schema(schema_with = header_map)]
    pub headers: BTreeMap<String, String>,
}

/// Body of `PATCH …/headers`: a value sets a header, `null` removes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHeadersPatchIn {
    /// Name → value or `null`.
    #[schema(schema_with = header_changes)]
    pub headers: BTreeMap<String, Option<String>>,
    /// Names to remove, as newer Svix SDKs send them.
    pub delete_headers: Option<Vec<String>>,
}

/// `GET …/headers`: credentials are listed by name in `sensitive` and left out of `headers`.
#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct EndpointHeadersOut {
    /// Non-sensitive headers with their values.
    pub headers: BTreeMap<String, String>,
    /// Names of the headers whose values are withheld.
    pub sensitive: Vec<String>,
}

/// Whether a (lower-case) header name carries a credential.
fn is_sensitive(name: &str) -> bool {
    SENSITIVE.contains(&name) || SENSITIVE_FRAGMENTS.iter().any(|f| name.contains(f))
}

/// Checks one header and returns its name in lower case.
fn validate_header(name: &str, value: &str) -> Result<String, ApiError> {
    if name.len() > MAX_NAME_LEN {
        return Err(ApiError::validation(
            "headers",
            format!(
                "a header name is {} bytes long; the limit is {MAX_NAME_LEN}",
                name.len()
            ),
        ));
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(ApiError::validation(
            "headers",
            format!(
                "the value of {name:?} is {} bytes long; the limit is {MAX_VALUE_LEN}",
                value.len()
            ),
        ));
    }
    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        ApiError::validation(
            "headers",
            format!("{name:?} is not a valid HTTP header name"),
        )
    })?;
    let lower = parsed.as_str();
    if RESERVED.contains(&lower) || RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return Err(ApiError::validation(
            "headers",
            format!("{name:?} is reserved and cannot be set on an endpoint"),
        ));
    }
    HeaderValue::from_str(value).map_err(|_| {
        ApiError::validation(
            "headers",
            format!("the value of {name:?} is not a valid HTTP header value"),
        )
    })?;
    Ok(lower.to_owned())
}

/// Validates a complete header set, normalising names to lower case.
///
/// # Errors
/// A 422 naming the first bad header.
pub fn validate_headers(
    headers: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        out.insert(validate_header(&name, &value)?, value);
    }
    if out.len() > MAX_HEADERS {
        return Err(ApiError::validation(
            "headers",
            format!("at most {MAX_HEADERS} headers may be set"),
        ));
    }
    Ok(out)
}

impl EndpointHeadersPatchIn {
    /// `current` with this patch applied (names compared case-insensitively).
    ///
    /// # Errors
    /// A 422 naming the first bad header.
    pub fn apply(
        self,
        current: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        let mut next: BTreeMap<String, String> = current
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let deleted = self.delete_headers.into_iter().flatten();
        let updates = self
            .headers
            .into_iter()
            .chain(deleted.map(|name| (name, None)));
        for (name, value) in updates {
            match value {
                Some(value) => {
                    next.insert(validate_header(&name, &value)?, value);
                }
                None => {
                    next.remove(&name.to_ascii_lowercase());
                }
            }
        }
        validate_headers(next)
    }
}

impl From<&BTreeMap<String, String>> for EndpointHeadersOut {
    fn from(headers: &BTreeMap<String, String>) -> Self {
        let mut out = Self {
            headers: BTreeMap::new(),
            sensitive: Vec::new(),
        };
        for (name, value) in headers {
            if is_sensitive(&name.to_ascii_lowercase()) {
                out.sensitive.push(name.clone());
            } else {
                out.headers.insert(name.clone(), value.clone());
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn valid_headers_are_kept_with_lower_case_names() {
        let out = validate_headers(map(&[("X-Tenant", "42")])).unwrap();
        assert_eq!(out, map(&[("x-tenant", "42")]));
    }

    #[test]
    fn reserved_and_malformed_headers_are_refused() {
        for name in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "user-agent",
            "webhook-signature",
            "Svix-Id",
            "bad name",
            "",
            "x:y",
        ] {
            let err = validate_headers(map(&[(name, "v")])).unwrap_err();
            assert!(err.to_string().starts_with("headers: "), "{name}: {err}");
        }
        assert!(validate_headers(map(&[("x-ok", "line\nbreak")])).is_err());
    }

    #[test]
    fn sensitive_values_are_withheld_but_named() {
        let stored = map(&[
            ("authorization", "Bearer s3cret"),
            ("x-shop-token", "t"),
            ("x-tenant", "42"),
        ]);
        let out = EndpointHeadersOut::from(&stored);
        assert_eq!(out.headers, map(&[("x-tenant", "42")]));
        assert_eq!(out.sensitive, ["authorization", "x-shop-token"]);
    }

    #[test]
    fn a_patch_sets_replaces_and_removes() {
        let current = map(&[("x-a", "1"), ("x-b", "2"), ("x-d", "4")]);
        let patch: EndpointHeadersPatchIn = serde_json::from_str(
            r#"{"headers": {"X-A": "9", "x-b": null, "x-c": "3"}, "deleteHeaders": ["X-D"]}"#,
        )
        .unwrap();
        let next = patch.apply(&current).unwrap();
        assert_eq!(next, map(&[("x-a", "9"), ("x-c", "3")]));
    }
}
