//! App-portal access on the wire: `AppPortalAccessIn`, `AppPortalAccessOut`.

use super::ApplicationIn;
use crate::api::error::ApiError;
use crate::domain::EventTypeName;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Default lifetime of an application token, as in Svix.
pub const DEFAULT_EXPIRY_SECS: u64 = 7 * 24 * 3600;
/// Longest lifetime a caller may ask for.
pub const MAX_EXPIRY_SECS: u64 = 30 * 24 * 3600;

/// Svix's capabilities that Hookline's application tokens always carry together: full
/// access to the application's endpoints (secrets included) and attempts. Hookline has no
/// transformations, so `ManageTransformations` may be listed or not.
const CAPABILITIES: [&str; 5] = [
    "ViewBase",
    "ViewEndpointSecret",
    "ManageEndpointSecret",
    "CreateAttempts",
    "ManageEndpoint",
];

/// Body of `POST /api/v1/auth/app-portal-access/{app_id}`; an empty body means defaults.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppPortalAccessIn {
    /// Creates the application (uid = the path key) if the path names none.
    pub application: Option<ApplicationIn>,
    /// Feature flags for the portal; validated, not yet used to hide event types.
    pub feature_flags: Option<Vec<String>>,
    /// Lifetime in seconds, 1 to [`MAX_EXPIRY_SECS`]; [`DEFAULT_EXPIRY_SECS`] if absent.
    #[schema(minimum = 1, maximum = 2_592_000)]
    pub expiry: Option<u64>,
    /// Svix's read-only portal; refused when true, as tokens cannot be narrowed.
    pub read_only: Option<bool>,
    /// Svix's capability list; refused unless it grants what every token grants.
    pub capabilities: Option<Vec<String>>,
}

/// A validated request for a token.
#[derive(Debug)]
pub struct PortalGrant {
    /// How long the token is accepted.
    pub lifetime: chrono::Duration,
    /// The application to create if the path names none.
    pub application: Option<ApplicationIn>,
}

impl AppPortalAccessIn {
    /// Checks every field; the `application` body is checked when it is used.
    ///
    /// # Errors
    /// 422 naming the field.
    pub fn into_grant(self) -> Result<PortalGrant, ApiError> {
        for flag in self.feature_flags.iter().flatten() {
            EventTypeName::parse(flag).map_err(|e| {
                ApiError::validation("featureFlags", e.0.replacen("event type", "a flag", 1))
            })?;
        }
        if self.read_only == Some(true) {
            return Err(ApiError::validation(
                "readOnly",
                "read-only application tokens are not supported",
            ));
        }
        if let Some(caps) = &self.capabilities {
            check_capabilities(caps)?;
        }
        let secs = self.expiry.unwrap_or(DEFAULT_EXPIRY_SECS);
        let lifetime = Some(secs)
            .filter(|s| (1..=MAX_EXPIRY_SECS).contains(s))
            .and_then(|s| i64::try_from(s).ok())
            .and_then(chrono::Duration::try_seconds)
            .ok_or_else(|| {
                ApiError::validation(
                    "expiry",
                    format!("must be 1 to {MAX_EXPIRY_SECS} seconds (30 days)"),
                )
            })?;
        Ok(PortalGrant {
            lifetime,
            application: self.application,
        })
    }
}

/// Refuses unknown capabilities and any list narrower than what a token can do, rather
/// than hand out more than was asked for.
fn check_capabilities(caps: &[String]) -> Result<(), ApiError> {
    if let Some(unknown) = caps
        .iter()
        .find(|c| !CAPABILITIES.contains(&c.as_str()) && c.as_str() != "ManageTransformations")
    {
        return Err(ApiError::validation(
            "capabilities",
            format!("unknown capability {unknown:?}"),
        ));
    }
    if CAPABILITIES.iter().any(|c| !caps.iter().any(|g| g == c)) {
        return Err(ApiError::validation(
            "capabilities",
            format!(
                "application tokens cannot be narrowed: omit the field or list all of {}",
                CAPABILITIES.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The answer: the token (shown only here) and a dashboard link carrying it.
#[derive(Serialize, ToSchema)]
pub struct AppPortalAccessOut {
    /// `appsk_…`, to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// `<origin>/ui/#token=<token>&app=<app id>`: the dashboard, signed in to the application.
    pub url: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn body(json: &str) -> AppPortalAccessIn {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn expiry_defaults_to_seven_days_and_is_bounded() {
        let grant = body("{}").into_grant().unwrap();
        assert_eq!(grant.lifetime, chrono::Duration::days(7));
        let grant = body(r#"{"expiry": 2592000}"#).into_grant().unwrap();
        assert_eq!(grant.lifetime, chrono::Duration::days(30));
        for bad in ["0", "2592001"] {
            let err = body(&format!(r#"{{"expiry": {bad}}}"#))
                .into_grant()
                .unwrap_err();
            assert!(err.to_string().starts_with("expiry: "), "{err}");
        }
    }

    #[test]
    fn narrower_tokens_are_refused_rather_than_widened() {
        let err = body(r#"{"readOnly": true}"#).into_grant().unwrap_err();
        assert!(err.to_string().starts_with("readOnly: "), "{err}");
        let err = body(r#"{"capabilities": ["ViewBase"]}"#)
            .into_grant()
            .unwrap_err();
        assert!(err.to_string().contains("cannot be narrowed"), "{err}");
        let err = body(r#"{"capabilities": ["Everything"]}"#)
            .into_grant()
            .unwrap_err();
        assert!(err.to_string().contains("unknown capability"), "{err}");
        let all = r#"{"readOnly": false, "capabilities": ["ViewBase", "ViewEndpointSecret",
            "ManageEndpointSecret", "CreateAttempts", "ManageEndpoint"]}"#;
        assert!(body(all).into_grant().is_ok());
    }

    #[test]
    fn feature_flags_use_the_name_alphabet() {
        assert!(body(r#"{"featureFlags": ["beta-2"]}"#).into_grant().is_ok());
        let err = body(r#"{"featureFlags": ["no spaces"]}"#)
            .into_grant()
            .unwrap_err();
        assert!(err.to_string().starts_with("featureFlags: "), "{err}");
    }
}
