//! Attempts and delivery states on the wire.

use super::payload_out;
use crate::api::openapi::status_text;
use crate::domain::{AttemptId, Channel, EndpointId, EndpointUrl, EventTypeName, MessageId, Uid};
use crate::store::TriggerType;
use crate::store::{Attempt, DeliveryState, DeliveryStatus, Endpoint, Message};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// One recorded attempt (`MessageAttemptOut`), plus Hookline's `errorClass`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptOut {
    /// Attempt id.
    pub id: AttemptId,
    /// The message sent.
    pub msg_id: MessageId,
    /// The endpoint it went to.
    pub endpoint_id: EndpointId,
    /// The URL used.
    pub url: EndpointUrl,
    /// Response body (capped); empty when expunged or `with_content=false`.
    pub response: String,
    /// HTTP status, 0 when there was no response.
    pub response_status_code: i16,
    /// Time to the last byte of the response.
    pub response_duration_ms: i64,
    /// 0 success, 2 fail.
    #[schema(value_type = DeliveryStatus)]
    pub status: u8,
    /// `success`, `pending`, `fail` or `sending`.
    #[schema(schema_with = status_text)]
    pub status_text: &'static str,
    /// 0 scheduled, 1 manual.
    #[schema(value_type = TriggerType)]
    pub trigger_type: u8,
    /// When it was made.
    pub timestamp: DateTime<Utc>,
    /// Why it got no HTTP response (`timeout`, `connect`, `tls`, `dns`, `blocked address`…).
    #[schema(value_type = Option<String>)]
    pub error_class: Option<&'static str>,
}

/// An endpoint a message was routed to, with its delivery state (`MessageEndpointOut`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageEndpointOut {
    /// Endpoint id.
    pub id: EndpointId,
    /// Endpoint uid.
    pub uid: Option<Uid>,
    /// Endpoint URL.
    pub url: EndpointUrl,
    /// Endpoint description.
    pub description: String,
    /// Whether the endpoint is disabled.
    pub disabled: bool,
    /// Event-type filter.
    pub event_types: Option<Vec<EventTypeName>>,
    /// Channel filter.
    pub channels: Option<Vec<Channel>>,
    /// Messages per second.
    pub throttle_rate: Option<u16>,
    /// Delivery status of the message to this endpoint.
    #[schema(value_type = DeliveryStatus)]
    pub status: u8,
    /// The status as text.
    #[schema(schema_with = status_text)]
    pub status_text: &'static str,
    /// When the next attempt is due, if pending.
    pub next_attempt: Option<DateTime<Utc>>,
    /// Endpoint creation time.
    pub created_at: DateTime<Utc>,
    /// Endpoint last change.
    pub updated_at: DateTime<Utc>,
}

/// A message routed to an endpoint, with its delivery state (`EndpointMessageOut`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointMessageOut {
    /// Message id.
    pub id: MessageId,
    /// Event type.
    pub event_type: EventTypeName,
    /// Dedup key.
    pub event_id: Option<Uid>,
    /// Channels.
    pub channels: Option<Vec<Channel>>,
    /// Payload; `{}` when expunged or `with_content=false`.
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// When the message was accepted.
    pub timestamp: DateTime<Utc>,
    /// Delivery status to this endpoint.
    #[schema(value_type = DeliveryStatus)]
    pub status: u8,
    /// The status as text.
    #[schema(schema_with = status_text)]
    pub status_text: &'static str,
    /// When the next attempt is due, if pending.
    pub next_attempt: Option<DateTime<Utc>>,
}

fn status_code(status: DeliveryStatus) -> u8 {
    status as u8
}

impl MessageAttemptOut {
    /// The wire form; `with_content = false` leaves out the response body.
    pub fn new(a: Attempt, with_content: bool) -> Self {
        Self {
            id: a.id,
            msg_id: a.msg_id,
            endpoint_id: a.endpoint_id,
            url: a.url,
            response: if with_content {
                a.response
            } else {
                String::new()
            },
            response_status_code: a.response_status_code,
            response_duration_ms: a.response_duration_ms,
            status: status_code(a.status),
            status_text: a.status.text(),
            trigger_type: a.trigger_type as u8,
            timestamp: a.created_at,
            error_class: a.error_class.map(|c| c.as_str()),
        }
    }
}

impl From<(Endpoint, DeliveryState)> for MessageEndpointOut {
    fn from((ep, state): (Endpoint, DeliveryState)) -> Self {
        Self {
            id: ep.id,
            uid: ep.uid,
            url: ep.url,
            description: ep.description,
            disabled: ep.disabled,
            event_types: ep.event_types,
            channels: ep.channels,
            throttle_rate: ep.throttle_rate,
            status: status_code(state.status),
            status_text: state.status.text(),
            next_attempt: state.next_attempt,
            created_at: ep.created_at,
            updated_at: ep.updated_at,
        }
    }
}

impl EndpointMessageOut {
    /// The wire form; `with_content = false` shows the payload as `{}`.
    pub fn new((msg, state): (Message, DeliveryState), with_content: bool) -> Self {
        Self {
            payload: payload_out(msg.payload.as_deref(), with_content),
            id: msg.id,
            event_type: msg.event_type,
            event_id: msg.event_id,
            channels: msg.channels,
            timestamp: msg.created_at,
            status: status_code(state.status),
            status_text: state.status.text(),
            next_attempt: state.next_attempt,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::AppId;
    use crate::store::{ErrorClass, TriggerType};

    #[test]
    fn attempts_carry_integer_statuses_text_and_error_class() {
        let a = Attempt {
            id: AttemptId::generate(),
            msg_id: MessageId::generate(),
            endpoint_id: EndpointId::generate(),
            app_id: AppId::generate(),
            url: EndpointUrl::parse("https://example.com").unwrap(),
            status: DeliveryStatus::Fail,
            response_status_code: 0,
            response: "boom".into(),
            response_duration_ms: 15_000,
            trigger_type: TriggerType::Manual,
            error_class: Some(ErrorClass::Timeout),
            created_at: Utc::now(),
        };
        let v = serde_json::to_value(MessageAttemptOut::new(a, false)).unwrap();
        assert_eq!(v["status"], 2);
        assert_eq!(v["statusText"], "fail");
        assert_eq!(v["triggerType"], 1);
        assert_eq!(v["errorClass"], "timeout");
        assert_eq!(v["response"], "");
        assert!(v.get("msgId").is_some() && v.get("responseDurationMs").is_some());
    }
}
