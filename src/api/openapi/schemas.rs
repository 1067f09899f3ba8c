//! Schemas of the domain values that appear on the wire, stating exactly what their parsers
//! accept, and of the small enumerations the wire structs carry as integers or text.
//!
//! The domain types stay free of documentation concerns; their schemas live here, next to
//! the rest of the document.

use crate::domain::{
    AppId, AttemptId, Channel, EndpointId, EndpointUrl, EventTypeName, MessageId, TaskId, Uid,
};
use crate::store::{DeliveryStatus, TriggerType};
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

/// The alphabet uids, event-type names and channels share (see `domain::names`).
pub const NAME_PATTERN: &str = r"^[a-zA-Z0-9\-_.]+$";

/// A ULID as Hookline writes it: 26 Crockford base32 characters, the first at most 7.
const ULID_PATTERN: &str = "[0-7][0-9A-HJKMNP-TV-Z]{25}";

/// A string of the name alphabet, 1 to `max` characters.
pub fn name_schema(max: usize, description: &str, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(NAME_PATTERN))
        .description(Some(description))
        .examples([example])
}

/// The pattern of an id with `prefix`, optionally preceded by `-` where `backwards` (an
/// iterator paging towards older items).
pub fn id_pattern(prefix: &str, backwards: bool) -> String {
    let dash = if backwards { "-?" } else { "" };
    format!("^{dash}{prefix}{ULID_PATTERN}$")
}

fn id_schema(prefix: &str, what: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(id_pattern(prefix, false)))
        .description(Some(format!(
            "The {what}'s id, assigned by Hookline: `{prefix}` and a time-ordered ULID."
        )))
        .examples([format!("{prefix}2x5GBr7sQxV4V3dHRVd8yYmKzTq")])
        .into()
}

/// Implements `ToSchema` for a domain type, named `$name`, with the schema `$schema`.
macro_rules! schema {
    ($ty:ty, $name:literal, $schema:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                RefOr::T($schema.into())
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

schema!(
    Uid,
    "Uid",
    name_schema(
        Uid::MAX_LEN,
        "A caller-chosen alias, usable in paths wherever the id is.",
        "unique-identifier",
    )
);
schema!(
    EventTypeName,
    "EventTypeName",
    name_schema(
        EventTypeName::MAX_LEN,
        "An event type's name.",
        "invoice.paid"
    )
);
schema!(
    Channel,
    "Channel",
    name_schema(Channel::MAX_LEN, "A channel name.", "project_1337")
);
schema!(AppId, "AppId", id_schema(AppId::PREFIX, "application"));
schema!(
    EndpointId,
    "EndpointId",
    id_schema(EndpointId::PREFIX, "endpoint")
);
schema!(
    MessageId,
    "MessageId",
    id_schema(MessageId::PREFIX, "message")
);
schema!(
    AttemptId,
    "AttemptId",
    id_schema(AttemptId::PREFIX, "attempt")
);
schema!(TaskId, "TaskId", id_schema(TaskId::PREFIX, "task"));
schema!(
    EndpointUrl,
    "EndpointUrl",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uri".into())))
        .min_length(Some(1))
        .max_length(Some(EndpointUrl::MAX_LEN))
        .description(Some(
            "An absolute http or https URL with a host and no credentials."
        ))
        .examples(["https://example.com/webhooks"])
);

/// The delivery statuses, in the reference's integers.
const STATUSES: [DeliveryStatus; 4] = [
    DeliveryStatus::Success,
    DeliveryStatus::Pending,
    DeliveryStatus::Fail,
    DeliveryStatus::Sending,
];

schema!(
    DeliveryStatus,
    "MessageStatus",
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some(STATUSES.map(|s| s as u8)))
        .description(Some(
            "Delivery status: 0 success, 1 pending, 2 fail, 3 sending."
        ))
);

/// The delivery statuses as text (`statusText`).
pub fn status_text() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(STATUSES.map(DeliveryStatus::text)))
        .description(Some("The delivery status as text."))
        .into()
}

schema!(
    TriggerType,
    "MessageAttemptTriggerType",
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some(
            [TriggerType::Scheduled, TriggerType::Manual].map(|t| t as u8)
        ))
        .description(Some(
            "What made the attempt: 0 the schedule, 1 a manual resend or recovery."
        ))
);

/// The characters of an HTTP header name (RFC 9110 `token`).
const HEADER_NAME_PATTERN: &str = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$";
/// What an HTTP header value may hold: no control characters but tab.
const HEADER_VALUE_PATTERN: &str = r"^[^\x00-\x08\x0A-\x1F\x7F]*$";
/// Most custom headers one endpoint may carry (see `wire::headers`).
const MAX_HEADERS: usize = 100;

fn header_map_schema(nullable: bool, nullable_values: bool) -> Schema {
    let value = ObjectBuilder::new()
        .schema_type(kind(Type::String, nullable_values))
        .pattern(Some(HEADER_VALUE_PATTERN));
    ObjectBuilder::new()
        .schema_type(kind(Type::Object, nullable))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(HEADER_NAME_PATTERN)),
        ))
        .additional_properties(Some(value))
        .max_properties(Some(MAX_HEADERS))
        .description(Some(
            "Header names and values. Names are case-insensitive; those Hookline sets itself \
             (`content-type`, `user-agent`, `webhook-*`, `svix-*`) and those that frame HTTP \
             (`host`, `content-length`, `transfer-encoding`, …) are refused.",
        ))
        .into()
}

/// `type`, or `[type, "null"]` when `nullable`.
fn kind(of: Type, nullable: bool) -> utoipa::openapi::schema::SchemaType {
    if nullable {
        utoipa::openapi::schema::SchemaType::from_iter([of, Type::Null])
    } else {
        of.into()
    }
}

/// A complete set of custom headers.
pub fn header_map() -> Schema {
    header_map_schema(false, false)
}

/// A complete set of custom headers, or `null` for none.
pub fn header_map_or_null() -> Schema {
    header_map_schema(true, false)
}

/// Header changes: a value sets a header, `null` removes it.
pub fn header_changes() -> Schema {
    header_map_schema(false, true)
}

/// A signing secret given by the caller, or `null` to have one generated: `whsec_` (optional)
/// and the base64 of 24 to 64 bytes. The pattern covers the unpadded lengths (multiples of
/// three bytes); padded ones are accepted too.
pub fn secret_in() -> Schema {
    ObjectBuilder::new()
        .schema_type(kind(Type::String, true))
        .pattern(Some(r"^(whsec_)?([A-Za-z0-9+/]{4}){8,21}$"))
        .description(Some(
            "A signing secret: `whsec_` (optional) and the base64 of 24 to 64 random bytes.",
        ))
        .examples(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        .into()
}

/// A signing secret as Hookline shows it.
pub fn secret_out() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^whsec_[A-Za-z0-9+/]+={0,2}$"))
        .description(Some(
            "The signing secret: `whsec_` and the base64 of the key.",
        ))
        .into()
}
