//! Extractors whose every rejection is an [`ApiError`], so clients always get `{code, detail}`:
//! malformed JSON is a 400, JSON of the wrong shape or with invalid values a 422 naming the
//! field, an oversize body a 413.

use super::error::ApiError;
use super::params::{FromQuery, QueryParams};
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON request body, or a JSON response. Content-type is not checked on requests (curl's
/// default form type works); unknown fields are ignored, as Svix does.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON request body that may be absent: an empty body reads as `T::default()`.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

/// Path parameters, with rejections in the API's error shape.
#[derive(Debug)]
pub struct Path<T>(pub T);

/// Query parameters parsed by `T`'s [`FromQuery`], which names the offending parameter.
#[derive(Debug)]
pub struct Query<T>(pub T);

/// Reads a whole request body: over `limit` bytes is a 413, a body that has not fully
/// arrived within `deadline` a 408 (a slow client cannot hold a connection and its buffer).
///
/// # Errors
/// As above, or a 400 when the connection fails mid-body.
pub async fn read_body_within(
    req: Request,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(deadline, Bytes::from_request(req, &())).await {
        Err(_) => Err(ApiError::RequestTimeout(deadline)),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::PayloadTooLarge(limit))
        }
        Ok(Err(_)) => Err(ApiError::BadRequest(
            "the request body could not be read".into(),
        )),
    }
}

/// Drops serde_json's " at line 1 column 17" suffix, which says nothing useful about a value
/// that was well-formed JSON but not acceptable.
fn without_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i)
            if message[i + 9..]
                .split(" column ")
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            &message[..i]
        }
        _ => message,
    }
}

/// Parses a JSON body: syntax errors are 400 `bad_request`, type and value errors 422
/// `validation` with the path of the field (`application.name: invalid type…`).
///
/// # Errors
/// As above.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_nul(bytes)?;
    match axum::Json::<T>::from_bytes(bytes) {
        Ok(axum::Json(value)) => Ok(value),
        Err(rejection) => {
            let cause = std::error::Error::source(&rejection)
                .map_or_else(|| rejection.body_text(), ToString::to_string);
            Err(match rejection {
                JsonRejection::JsonDataError(_) => {
                    ApiError::Validation(without_position(&cause).to_owned())
                }
                _ => ApiError::BadRequest(format!("the body is not valid JSON: {cause}")),
            })
        }
    }
}

/// Refuses U+0000 in any string of the body except inside a message `payload`, which is kept
/// as the raw JSON text it arrived as. No store can hold the character in a text column
/// (Postgres refuses it), so it is a client error rather than a failed write.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    // Syntax errors are reported by the typed parse that follows.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    let offending = match &value {
        serde_json::Value::Object(fields) => fields
            .iter()
            .find(|(k, v)| k.contains('\0') || (k.as_str() != "payload" && has_nul(v)))
            .map(|(k, _)| k.replace('\0', "\\u0000")),
        other => has_nul(other).then(String::new),
    };
    match offending {
        Some(field) => Err(ApiError::validation(
            &field,
            "strings must not contain the NUL character (\\u0000)",
        )),
        None => Ok(()),
    }
}

fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(fields) => {
            fields.iter().any(|(k, v)| k.contains('\0') || has_nul(v))
        }
        _ => false,
    }
}

async fn read_body<S>(req: Request, state: &S) -> Result<Bytes, ApiError>
where
    S: Send + Sync,
    super::ApiState: axum::extract::FromRef<S>,
{
    let config = &<super::ApiState as axum::extract::FromRef<S>>::from_ref(state).config;
    read_body_within(req, config.max_payload, config.body_timeout).await
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    super::ApiState: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest(
                "a JSON request body is required".into(),
            ));
        }
        parse_json(&bytes).map(Json)
    }
}

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
    super::ApiState: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::Validation(format!(
                "path: {}",
                std::error::Error::source(&rejection)
                    .map_or_else(|| rejection.body_text(), ToString::to_string)
            ))),
        }
    }
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: FromQuery,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let params = QueryParams::parse(parts.uri.query().unwrap_or(""));
        T::from_query(&params).map(Query)
    }
}

/// Checks a path segment that names an application, endpoint or message by id or uid: the
/// reference allows `[a-zA-Z0-9-_.]`, 1 to 256 characters.
///
/// # Errors
/// A 422 naming the parameter.
pub fn check_key(param: &str, key: &str) -> Result<(), ApiError> {
    crate::domain::Uid::parse(key)
        .map(drop)
        .map_err(|e| ApiError::validation(param, e.0.replacen("uid", "value", 1)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Outer {
        event_type: crate::domain::EventTypeName,
        application: Option<Inner>,
        payload: Box<serde_json::value::RawValue>,
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        let err = parse_json::<Outer>(b"{\"eventType\": ").unwrap_err();
        assert_eq!(err.code(), "bad_request", "{err}");
    }

    #[test]
    fn wrong_types_and_bad_values_are_validation_errors_naming_the_field() {
        let err = parse_json::<Outer>(br#"{"eventType": 5, "payload": {}}"#).unwrap_err();
        assert_eq!(err.code(), "validation");
        assert!(
            err.to_string().starts_with("eventType: invalid type"),
            "{err}"
        );

        let err = parse_json::<Outer>(br#"{"eventType": "a b", "payload": {}}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("eventType: event type may contain only"),
            "{err}"
        );
        assert!(!err.to_string().contains("at line"), "{err}");

        let err = parse_json::<Outer>(br#"{"eventType": "a", "payload": {}, "application": {}}"#)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("application: missing field `name`"),
            "{err}"
        );
    }

    #[test]
    fn raw_payloads_keep_their_exact_bytes() {
        let body = br#"{"eventType": "a", "payload": {"b":1,  "a" : [1.50, "x"]}}"#;
        let parsed: Outer = parse_json(body).unwrap();
        assert_eq!(parsed.payload.get(), r#"{"b":1,  "a" : [1.50, "x"]}"#);
    }

    #[test]
    fn position_suffixes_are_dropped_only_when_they_are_positions() {
        assert_eq!(without_position("bad at line 1 column 5"), "bad");
        assert_eq!(without_position("look at line art"), "look at line art");
    }

    #[test]
    fn keys_must_use_the_uid_alphabet() {
        assert!(check_key("app_id", "app_2x.y-z").is_ok());
        let err = check_key("app_id", "a b").unwrap_err();
        assert!(
            err.to_string().starts_with("app_id: value may contain"),
            "{err}"
        );
        assert!(check_key("app_id", &"a".repeat(257)).is_err());
    }

    #[test]
    fn nul_characters_are_refused_outside_the_payload() {
        let err = parse_json::<serde_json::Value>(br#"{"name": "a\u0000b"}"#).unwrap_err();
        assert!(
            matches!(err, ApiError::Validation(ref d) if d.starts_with("name: ")),
            "{err:?}"
        );
        assert!(parse_json::<serde_json::Value>(br#"{"payload": {"a": "\u0000"}}"#).is_ok());
        assert!(parse_json::<serde_json::Value>(br#"{"name": "a\\u0000b"}"#).is_ok());
        assert!(parse_json::<serde_json::Value>(br#"{"m": {"k\u0000": "v"}}"#).is_err());
    }
}
