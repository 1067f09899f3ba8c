//! Messages on the wire. The payload is carried as raw JSON end to end, so receivers get
//! byte for byte what the platform posted.

use super::{ApplicationIn, payload_out, unique_list};
use crate::api::error::ApiError;
use crate::domain::{AppId, Channel, EventTypeName, MessageId, Uid};
use crate::store::{Message, NewMessage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// Most channels one message may be published on.
const MAX_MESSAGE_CHANNELS: usize = 5;
/// Payload retention bounds and default, in days.
const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 5..=90;
const DEFAULT_RETENTION_DAYS: i64 = 90;

/// Body of `POST /app/{app_id}/msg`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    /// Event type name.
    pub event_type: EventTypeName,
    /// Dedup key, unique within the application; it must not have the form of a message id.
    pub event_id: Option<Uid>,
    /// Channels, 1 to 5.
    #[schema(min_items = 1, max_items = 5)]
    pub channels: Option<Vec<Channel>>,
    /// A JSON object, kept exactly as sent.
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// Days the payload is kept, 5 to 90.
    #[schema(minimum = 5, maximum = 90, default = 90)]
    pub payload_retention_period: Option<i64>,
    /// Creates the application (uid = the path key) if the path names none.
    pub application: Option<ApplicationIn>,
}

/// A message as returned by message operations.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    /// Stable id, sent to receivers as `webhook-id`.
    pub id: MessageId,
    /// Event type name.
    pub event_type: EventTypeName,
    /// Dedup key.
    pub event_id: Option<Uid>,
    /// Channels.
    pub channels: Option<Vec<Channel>>,
    /// The payload as posted; `{}` when expunged or `with_content=false`.
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// When the message was accepted.
    pub timestamp: DateTime<Utc>,
}

/// A validated `MessageIn`, waiting for the application it will belong to.
#[derive(Debug)]
pub struct MessageDraft {
    event_type: EventTypeName,
    event_id: Option<Uid>,
    channels: Option<Vec<Channel>>,
    payload: String,
    retention: chrono::Duration,
}

impl MessageIn {
    /// Validates the message, returning it and the `application` to create if the path
    /// names none. Nothing is created before the whole body is known to be valid.
    ///
    /// # Errors
    /// A 422 for a non-object payload, an out-of-range retention, bad channels or an
    /// id-shaped `eventId`.
    pub fn into_parts(self) -> Result<(MessageDraft, Option<ApplicationIn>), ApiError> {
        if !self.payload.get().starts_with('{') {
            return Err(ApiError::validation("payload", "must be a JSON object"));
        }
        let days = self
            .payload_retention_period
            .unwrap_or(DEFAULT_RETENTION_DAYS);
        if !RETENTION_DAYS.contains(&days) {
            return Err(ApiError::validation(
                "payloadRetentionPeriod",
                "must be from 5 to 90 days",
            ));
        }
        if let Some(id) = &self.event_id {
            if MessageId::parse(id.as_str()).is_some() {
                return Err(ApiError::validation(
                    "eventId",
                    "must not have the form of a message id (msg_…)",
                ));
            }
        }
        let channels = self
            .channels
            .map(|c| unique_list("channels", c, MAX_MESSAGE_CHANNELS))
            .transpose()?;
        let draft = MessageDraft {
            event_type: self.event_type,
            event_id: self.event_id,
            channels,
            payload: self.payload.get().to_owned(),
            retention: chrono::Duration::days(days),
        };
        Ok((draft, self.application))
    }
}

impl MessageDraft {
    /// The message to store for `app_id`, stamped now with a fresh id.
    pub fn for_app(self, app_id: &AppId) -> NewMessage {
        NewMessage {
            message: Message {
                id: MessageId::generate(),
                app_id: app_id.clone(),
                event_type: self.event_type,
                event_id: self.event_id,
                channels: self.channels,
                payload: Some(self.payload),
                created_at: super::now(),
            },
            retention: self.retention,
        }
    }
}

impl MessageOut {
    /// The wire form; `with_content = false` shows the payload as `{}`.
    pub fn new(msg: Message, with_content: bool) -> Self {
        Self {
            payload: payload_out(msg.payload.as_deref(), with_content),
            id: msg.id,
            event_type: msg.event_type,
            event_id: msg.event_id,
            channels: msg.channels,
            timestamp: msg.created_at,
        }
    }
}

/// The payload `send-example` posts: the first example found in the event type's schemas
/// (`examples[0]`, then `example`, version keys in order) if it is an object, else a
/// placeholder naming the event type.
pub fn example_payload(event_type: &EventTypeName, schemas: Option<&Value>) -> String {
    let from_schema = schemas
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|versions| versions.values())
        .find_map(|schema| {
            let first = schema
                .get("examples")
                .and_then(Value::as_array)
                .and_then(|e| e.first());
            first
                .or_else(|| schema.get("example"))
                .filter(|e| e.is_object())
        });
    match from_schema {
        Some(example) => example.to_string(),
        None => serde_json::json!({ "type": event_type.as_str(), "example": true }).to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::extract::parse_json;

    fn parse(body: &str) -> Result<NewMessage, ApiError> {
        let (draft, _) = parse_json::<MessageIn>(body.as_bytes())?.into_parts()?;
        Ok(draft.for_app(&AppId::generate()))
    }

    #[test]
    fn the_payload_is_kept_byte_for_byte() {
        let m = parse(r#"{"eventType": "a.b", "payload": {"z": 1,"a":[ 2.50 ]}}"#).unwrap();
        assert_eq!(
            m.message.payload.as_deref(),
            Some(r#"{"z": 1,"a":[ 2.50 ]}"#)
        );
        assert_eq!(m.retention, chrono::Duration::days(90));
    }

    #[test]
    fn invalid_messages_name_the_field() {
        for (body, field) in [
            (r#"{"eventType": "a", "payload": [1]}"#, "payload:"),
            (r#"{"eventType": "a", "payload": "x"}"#, "payload:"),
            (r#"{"eventType": "a b", "payload": {}}"#, "eventType:"),
            (
                r#"{"eventType": "a", "payload": {}, "eventId": "x y"}"#,
                "eventId:",
            ),
            (
                r#"{"eventType": "a", "payload": {}, "channels": ["1","2","3","4","5","6"]}"#,
                "channels:",
            ),
            (
                r#"{"eventType": "a", "payload": {}, "payloadRetentionPeriod": 4}"#,
                "payloadRetentionPeriod:",
            ),
            (r#"{"payload": {}}"#, "missing field `eventType`"),
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.code(), "validation", "{body}");
            assert!(err.to_string().starts_with(field), "{body}: {err}");
        }
    }

    #[test]
    fn examples_come_from_the_schema_when_there_is_one() {
        let name = EventTypeName::parse("invoice.paid").unwrap();
        let schemas = serde_json::json!({"1": {"type": "object", "examples": [{"id": 7}]}});
        assert_eq!(example_payload(&name, Some(&schemas)), r#"{"id":7}"#);
        let fallback: Value = serde_json::from_str(&example_payload(&name, None)).unwrap();
        assert_eq!(fallback["type"], "invoice.paid");
        let not_object = serde_json::json!({"1": {"example": 3}});
        assert!(example_payload(&name, Some(&not_object)).contains("invoice.paid"));
    }
}
