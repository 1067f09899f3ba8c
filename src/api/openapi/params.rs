//! Parameters: builders for the query parameters that the handlers' query types document
//! (each `FromQuery` type implements `utoipa::IntoParams` beside its parser), and the path
//! parameters, which are the same wherever they appear and are added to every operation by
//! [`super::complete`].

use super::schemas::{NAME_PATTERN, id_pattern, name_schema};
use crate::api::pagination::{DEFAULT_LIMIT, KeyKind, MAX_LIMIT};
use crate::domain::{AppId, AttemptId, Channel, EndpointId, EventTypeName, MessageId, Uid};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn, ParameterStyle};
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat};
use utoipa::openapi::{Required, Type};

/// An optional query parameter.
pub fn query(name: &str, description: &str, schema: impl Into<Schema>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema.into()))
        .build()
}

/// `limit`: 1 to 250, 50 when absent.
pub fn limit() -> Parameter {
    query(
        "limit",
        "How many items a page holds.",
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_LIMIT as u64))
            .default(Some(DEFAULT_LIMIT.into())),
    )
}

/// `iterator`: a key of `kind` from a previous page, `-` first to page backwards.
pub fn iterator(kind: KeyKind) -> Parameter {
    let schema = match kind {
        KeyKind::App => pattern(id_pattern(AppId::PREFIX, true)),
        KeyKind::Endpoint => pattern(id_pattern(EndpointId::PREFIX, true)),
        KeyKind::Message => pattern(id_pattern(MessageId::PREFIX, true)),
        KeyKind::Attempt => pattern(id_pattern(AttemptId::PREFIX, true)),
        // One `-` at most is taken off, and what is left must be a name.
        KeyKind::EventType => {
            pattern(r"^(-[a-zA-Z0-9\-_.]{1,256}|[a-zA-Z0-9_.][a-zA-Z0-9\-_.]{0,255})$".to_owned())
        }
    };
    query(
        "iterator",
        "Where the page starts: the `iterator` (or `prevIterator`, to page back) of a \
         previous page.",
        schema,
    )
}

fn pattern(pattern: String) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
}

/// `order`: `ascending` or `descending`.
pub fn order() -> Parameter {
    query(
        "order",
        "The order of the listing; each listing has its own default.",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["ascending", "descending"])),
    )
}

/// A boolean flag with its default.
pub fn flag(name: &str, default: bool, description: &str) -> Parameter {
    query(
        name,
        description,
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .default(Some(default.into())),
    )
}

/// An RFC 3339 timestamp.
pub fn timestamp(name: &str, description: &str) -> Parameter {
    query(
        name,
        description,
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
    )
}

/// `event_types`: event-type names, repeated (`event_types=a&event_types=b`).
pub fn event_types() -> Parameter {
    let mut param = query(
        "event_types",
        "Only items of these event types.",
        ArrayBuilder::new().items(name_schema(
            EventTypeName::MAX_LEN,
            "An event type's name.",
            "invoice.paid",
        )),
    );
    param.style = Some(ParameterStyle::Form);
    param.explode = Some(true);
    param
}

/// `channel`: one channel name.
pub fn channel() -> Parameter {
    query(
        "channel",
        "Only messages published on this channel.",
        name_schema(Channel::MAX_LEN, "A channel name.", "project_1337"),
    )
}

/// `status`: a delivery status integer.
pub fn status(description: &str) -> Parameter {
    query(
        "status",
        description,
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some([0, 1, 2, 3])),
    )
}

/// `status_code_class`: the hundreds of the response status, 0 for none.
pub fn status_code_class() -> Parameter {
    query(
        "status_code_class",
        "Only attempts whose response status is in this class; 0 for attempts that got no \
         response.",
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some([0, 100, 200, 300, 400, 500])),
    )
}

/// An id or a uid: both are written in the uid alphabet.
fn key_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(Uid::MAX_LEN))
        .pattern(Some(NAME_PATTERN))
}

/// The path parameter `name`. Every path parameter names a resource by a key of the uid
/// alphabet; the known ones say which.
pub fn path(name: &str) -> Parameter {
    let description = match name {
        "app_id" => "The application's id or uid.",
        "endpoint_id" => "The endpoint's id or uid.",
        "msg_id" => "The message's id or its `eventId`.",
        "attempt_id" => "The attempt's id.",
        "event_type_name" => "The event type's name.",
        _ => "The resource's id or uid.",
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(key_schema()))
        .build()
}

/// The `idempotency-key` header every POST honours.
pub fn idempotency_key() -> Parameter {
    ParameterBuilder::new()
        .name(crate::api::idempotency::HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retried POST safe: the same key with the same request returns the first \
             response again and changes nothing; with a different request it is refused.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(crate::api::idempotency::MAX_KEY_LEN))
                .pattern(Some("^[!-~]+$")),
        ))
        .build()
}
