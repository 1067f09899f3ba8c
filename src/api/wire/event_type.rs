//! Event types on the wire, and `EventExampleIn` for `send-example`.

use super::nullable;
use crate::api::error::ApiError;
use crate::domain::EventTypeName;
use crate::store::{EventType, EventTypeFields};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Body of `POST /event-type`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeIn {
    /// The name messages carry in `eventType`.
    pub name: EventTypeName,
    /// Human description (required, may be empty).
    pub description: String,
    /// Create archived.
    pub archived: Option<bool>,
    /// Marked for removal.
    pub deprecated: Option<bool>,
    /// Feature flag gating visibility.
    #[schema(min_length = 1, max_length = 256, pattern = r"^[a-zA-Z0-9\-_.]+$")]
    pub feature_flag: Option<String>,
    /// JSON schemas by version (`{"1": {…}}`).
    #[schema(value_type = Option<HashMap<String, Object>>)]
    pub schemas: Option<Value>,
}

/// Body of `PUT /event-type/{event_type_name}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeUpdate {
    /// Human description (required).
    pub description: String,
    /// Archived flag.
    pub archived: Option<bool>,
    /// Deprecated flag.
    pub deprecated: Option<bool>,
    /// Feature flag.
    #[schema(min_length = 1, max_length = 256, pattern = r"^[a-zA-Z0-9\-_.]+$")]
    pub feature_flag: Option<String>,
    /// JSON schemas by version.
    #[schema(value_type = Option<HashMap<String, Object>>)]
    pub schemas: Option<Value>,
}

/// Body of `PATCH /event-type/{event_type_name}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypePatch {
    /// New description.
    pub description: Option<String>,
    /// New archived flag.
    pub archived: Option<bool>,
    /// New deprecated flag.
    pub deprecated: Option<bool>,
    /// New feature flag, `null` to remove.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(min_length = 1, max_length = 256, pattern = r"^[a-zA-Z0-9\-_.]+$")]
    pub feature_flag: Option<Option<String>>,
    /// New schemas, `null` to remove.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<HashMap<String, Object>>)]
    pub schemas: Option<Option<Value>>,
}

/// An event type as returned by every event-type operation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    /// Name.
    pub name: EventTypeName,
    /// Description.
    pub description: String,
    /// Archived ("deleted") flag.
    pub archived: bool,
    /// Deprecated flag.
    pub deprecated: bool,
    /// Feature flag.
    #[schema(min_length = 1, max_length = 256, pattern = r"^[a-zA-Z0-9\-_.]+$")]
    pub feature_flag: Option<String>,
    /// Schemas; `null` in listings unless `with_content=true`.
    #[schema(value_type = Option<HashMap<String, Object>>)]
    pub schemas: Option<Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST …/send-example`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventExampleIn {
    /// The event type whose example is sent.
    pub event_type: EventTypeName,
}

fn feature_flag(flag: Option<String>) -> Result<Option<String>, ApiError> {
    match flag {
        Some(f) => EventTypeName::parse(&f).map(|_| Some(f)).map_err(|e| {
            ApiError::validation("featureFlag", e.0.replacen("event type", "value", 1))
        }),
        None => Ok(None),
    }
}

/// Schemas must map version keys to JSON-schema objects.
fn schemas(schemas: Option<Value>) -> Result<Option<Value>, ApiError> {
    match schemas {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) if map.values().all(Value::is_object) => {
            Ok(Some(Value::Object(map)))
        }
        Some(_) => Err(ApiError::validation(
            "schemas",
            "must be an object mapping versions to JSON schemas, like {\"1\": {…}}",
        )),
    }
}

impl EventTypeUpdate {
    /// The store fields this body describes.
    ///
    /// # Errors
    /// A 422 for a malformed feature flag or schema map.
    pub fn into_fields(self) -> Result<EventTypeFields, ApiError> {
        Ok(EventTypeFields {
            description: self.description,
            archived: self.archived.unwrap_or(false),
            deprecated: self.deprecated.unwrap_or(false),
            feature_flag: feature_flag(self.feature_flag)?,
            schemas: schemas(self.schemas)?,
        })
    }
}

impl EventTypeIn {
    /// The name and the store fields.
    ///
    /// # Errors
    /// As [`EventTypeUpdate::into_fields`].
    pub fn into_parts(self) -> Result<(EventTypeName, EventTypeFields), ApiError> {
        let fields = EventTypeUpdate {
            description: self.description,
            archived: self.archived,
            deprecated: self.deprecated,
            feature_flag: self.feature_flag,
            schemas: self.schemas,
        }
        .into_fields()?;
        Ok((self.name, fields))
    }
}

impl EventTypePatch {
    /// `current` with this patch applied.
    ///
    /// # Errors
    /// As [`EventTypeUpdate::into_fields`] for the fields present.
    pub fn apply(self, current: &EventType) -> Result<EventTypeFields, ApiError> {
        Ok(EventTypeFields {
            description: self
                .description
                .unwrap_or_else(|| current.description.clone()),
            archived: self.archived.unwrap_or(current.archived),
            deprecated: self.deprecated.unwrap_or(current.deprecated),
            feature_flag: match self.feature_flag {
                Some(flag) => feature_flag(flag)?,
                None => current.feature_flag.clone(),
            },
            schemas: match self.schemas {
                Some(s) => schemas(s)?,
                None => current.schemas.clone(),
            },
        })
    }
}

impl EventTypeOut {
    /// The wire form; `with_schemas = false` leaves the schemas out, as listings do by default.
    pub fn new(et: EventType, with_schemas: bool) -> Self {
        Self {
            name: et.name,
            description: et.description,
            archived: et.archived,
            deprecated: et.deprecated,
            feature_flag: et.feature_flag,
            schemas: et.schemas.filter(|_| with_schemas),
            created_at: et.created_at,
            updated_at: et.updated_at,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::extract::parse_json;

    #[test]
    fn description_is_required_and_schemas_must_be_versioned_objects() {
        let err = parse_json::<EventTypeIn>(br#"{"name": "a"}"#).unwrap_err();
        assert!(err.to_string().contains("description"), "{err}");
        let body: EventTypeIn =
            parse_json(br#"{"name": "a", "description": "", "schemas": {"1": 5}}"#).unwrap();
        assert!(
            body.into_parts()
                .unwrap_err()
                .to_string()
                .starts_with("schemas:")
        );
        let body: EventTypeIn =
            parse_json(br#"{"name": "a", "description": "", "featureFlag": "x y"}"#).unwrap();
        let err = body.into_parts().unwrap_err();
        assert!(
            err.to_string().starts_with("featureFlag: value may"),
            "{err}"
        );
    }

    #[test]
    fn a_patch_can_clear_schemas() {
        let current = EventType {
            name: EventTypeName::parse("a").unwrap(),
            description: "d".into(),
            archived: true,
            deprecated: false,
            feature_flag: None,
            schemas: Some(serde_json::json!({"1": {}})),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let patch: EventTypePatch = parse_json(br#"{"schemas": null, "archived": false}"#).unwrap();
        let fields = patch.apply(&current).unwrap();
        assert!(fields.schemas.is_none() && !fields.archived);
        assert_eq!(fields.description, "d");
    }
}
