//! Applications on the wire: `ApplicationIn`, `ApplicationPatch`, `ApplicationOut`.

use super::{nullable, throttle_rate};
use crate::api::error::ApiError;
use crate::domain::{AppId, Uid};
use crate::store::{Application, ApplicationFields, Metadata};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /app` and `PUT /app/{app_id}`, and `application` in a `MessageIn`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    /// Display name; must not be blank.
    #[schema(min_length = 1, pattern = r"\S", examples("Acme Inc."))]
    pub name: String,
    /// Messages per second across the application, at least 1.
    #[schema(minimum = 1, maximum = 65535)]
    pub throttle_rate: Option<u16>,
    /// Caller-chosen alias usable in paths; it must not have the form of an application id.
    pub uid: Option<Uid>,
    /// Free-form labels.
    #[schema(inline)]
    pub metadata: Option<Metadata>,
}

/// Body of `PATCH /app/{app_id}`: absent fields stay as they are, `null` clears nullable ones.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    /// New name; must not be blank.
    #[schema(min_length = 1, pattern = r"\S")]
    pub name: Option<String>,
    /// New rate, or `null` for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(minimum = 1, maximum = 65535)]
    pub throttle_rate: Option<Option<u16>>,
    /// New uid, or `null` to remove it.
    #[serde(default, deserialize_with = "nullable")]
    pub uid: Option<Option<Uid>>,
    /// New labels, replacing the old ones.
    #[schema(inline)]
    pub metadata: Option<Metadata>,
}

/// An application as returned by every application operation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    /// Stable id.
    pub id: AppId,
    /// Alias, if any.
    pub uid: Option<Uid>,
    /// Display name.
    pub name: String,
    /// Messages per second, if limited.
    pub throttle_rate: Option<u16>,
    /// Labels.
    #[schema(inline)]
    pub metadata: Metadata,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn check_name(name: String) -> Result<String, ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::validation("name", "must not be empty"));
    }
    Ok(name)
}

/// Refuses uids that look like application ids: `GET /app/{key}` could not tell them apart.
pub(crate) fn check_uid(uid: Option<Uid>) -> Result<Option<Uid>, ApiError> {
    match uid {
        Some(u) if AppId::parse(u.as_str()).is_some() => Err(ApiError::validation(
            "uid",
            "must not have the form of an application id (app_…)",
        )),
        other => Ok(other),
    }
}

impl ApplicationIn {
    /// The store fields this body describes.
    ///
    /// # Errors
    /// A 422 for an empty name, a zero rate or an id-shaped uid.
    pub fn into_fields(self) -> Result<ApplicationFields, ApiError> {
        Ok(ApplicationFields {
            uid: check_uid(self.uid)?,
            name: check_name(self.name)?,
            throttle_rate: throttle_rate(self.throttle_rate)?,
            metadata: self.metadata.unwrap_or_default(),
        })
    }
}

impl ApplicationPatch {
    /// `current` with this patch applied.
    ///
    /// # Errors
    /// As [`ApplicationIn::into_fields`] for the fields present.
    pub fn apply(self, current: &Application) -> Result<ApplicationFields, ApiError> {
        Ok(ApplicationFields {
            uid: match self.uid {
                Some(uid) => check_uid(uid)?,
                None => current.uid.clone(),
            },
            name: match self.name {
                Some(name) => check_name(name)?,
                None => current.name.clone(),
            },
            throttle_rate: match self.throttle_rate {
                Some(rate) => throttle_rate(rate)?,
                None => current.throttle_rate,
            },
            metadata: self.metadata.unwrap_or_else(|| current.metadata.clone()),
        })
    }
}

impl From<Application> for ApplicationOut {
    fn from(app: Application) -> Self {
        Self {
            id: app.id,
            uid: app.uid,
            name: app.name,
            throttle_rate: app.throttle_rate,
            metadata: app.metadata,
            created_at: app.created_at,
            updated_at: app.updated_at,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::extract::parse_json;

    fn app() -> Application {
        Application {
            id: AppId::generate(),
            uid: Some(Uid::parse("acme").unwrap()),
            name: "Acme".into(),
            throttle_rate: Some(5),
            metadata: Metadata::from([("k".into(), "v".into())]),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_patch_changes_only_what_it_names_and_null_clears() {
        let patch: ApplicationPatch = parse_json(br#"{"throttleRate": null}"#).unwrap();
        let fields = patch.apply(&app()).unwrap();
        assert_eq!(fields.throttle_rate, None);
        assert_eq!(fields.uid.unwrap().as_str(), "acme");
        assert_eq!(fields.name, "Acme");
        assert_eq!(fields.metadata.len(), 1);
    }

    #[test]
    fn bad_values_are_refused_by_field() {
        let body: ApplicationIn = parse_json(br#"{"name": " "}"#).unwrap();
        assert!(
            body.into_fields()
                .unwrap_err()
                .to_string()
                .starts_with("name:")
        );
        let body: ApplicationIn = parse_json(br#"{"name": "a", "throttleRate": 0}"#).unwrap();
        assert!(body.into_fields().is_err());
        let id = AppId::generate();
        let body: ApplicationIn =
            parse_json(format!(r#"{{"name": "a", "uid": "{id}"}}"#).as_bytes()).unwrap();
        assert!(
            body.into_fields()
                .unwrap_err()
                .to_string()
                .starts_with("uid:")
        );
        let err = parse_json::<ApplicationIn>(br#"{"name": "a", "uid": "no spaces"}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("uid: uid may contain only"),
            "{err}"
        );
    }

    #[test]
    fn output_uses_the_reference_field_names() {
        let v = serde_json::to_value(ApplicationOut::from(app())).unwrap();
        for key in [
            "id",
            "uid",
            "name",
            "throttleRate",
            "metadata",
            "createdAt",
            "updatedAt",
        ] {
            assert!(v.get(key).is_some(), "{key} missing from {v}");
        }
    }
}
