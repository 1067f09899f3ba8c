//! Finding what a path names. Every lookup accepts an id or a uid and turns "no such row"
//! into a 404 that names what is missing.

use super::error::ApiError;
use super::extract::check_key;
use super::wire::ApplicationIn;
use crate::domain::{AppId, AttemptId, EventTypeName, Uid};
use crate::store::{
    Application, ApplicationFields, Attempt, Endpoint, EventType, Message, Store, StoreError,
};

/// The application `key` (id or uid) names.
///
/// # Errors
/// 422 for a malformed key, 404 if there is none, 500 if the store fails.
pub async fn app(store: &dyn Store, key: &str) -> Result<Application, ApiError> {
    check_key("app_id", key)?;
    store
        .get_application(key)
        .await?
        .ok_or_else(|| ApiError::not_found("application", key))
}

/// The application `key` (id or uid) names, created from `application` if there is none.
/// Used where Svix lets a body carry an `application` (messages, app-portal access): the
/// new application gets the path key as its uid (ids cannot be chosen, so an id-shaped key
/// that names nothing stays a 404). A concurrent creation of the same uid is not an error:
/// the winner's application is used.
///
/// # Errors
/// 422 for a malformed key or `application`, 404 if there is none and nothing to create it
/// from, 500 if the store fails.
pub async fn app_or_create(
    store: &dyn Store,
    key: &str,
    application: Option<ApplicationIn>,
) -> Result<Application, ApiError> {
    check_key("app_id", key)?;
    if let Some(app) = store.get_application(key).await? {
        return Ok(app);
    }
    let missing = || ApiError::not_found("application", key);
    let (Some(application), None) = (application, AppId::parse(key)) else {
        return Err(missing());
    };
    let uid = Uid::parse(key).map_err(|e| ApiError::validation("app_id", e))?;
    let fields = ApplicationFields {
        uid: Some(uid),
        ..application.into_fields().map_err(|e| match e {
            ApiError::Validation(d) => ApiError::Validation(format!("application.{d}")),
            other => other,
        })?
    };
    match store.create_application(&fields).await {
        Ok(app) => Ok(app),
        Err(StoreError::Conflict(rule)) => store
            .get_application(key)
            .await?
            .ok_or(ApiError::Conflict(rule)),
        Err(other) => Err(other.into()),
    }
}

/// The endpoint of `app` that `key` (id or uid) names.
///
/// # Errors
/// 422 for a malformed key, 404 if there is none, 500 if the store fails.
pub async fn endpoint(
    store: &dyn Store,
    app: &Application,
    key: &str,
) -> Result<Endpoint, ApiError> {
    check_key("endpoint_id", key)?;
    store
        .get_endpoint(&app.id, key)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint", key))
}

/// The message of `app` that `key` (id or `eventId`) names.
///
/// # Errors
/// 422 for a malformed key, 404 if there is none, 500 if the store fails.
pub async fn message(store: &dyn Store, app: &Application, key: &str) -> Result<Message, ApiError> {
    check_key("msg_id", key)?;
    store
        .get_message(&app.id, key)
        .await?
        .ok_or_else(|| ApiError::not_found("message", key))
}

/// The attempt `key` of `msg`; only ids name attempts.
///
/// # Errors
/// 422 for a malformed key, 404 if there is none, 500 if the store fails.
pub async fn attempt(
    store: &dyn Store,
    app: &Application,
    msg: &Message,
    key: &str,
) -> Result<Attempt, ApiError> {
    check_key("attempt_id", key)?;
    let missing = || ApiError::not_found("attempt", key);
    let id = AttemptId::parse(key).ok_or_else(missing)?;
    store
        .get_attempt(&app.id, &msg.id, &id)
        .await?
        .ok_or_else(missing)
}

/// An event-type name from a path.
///
/// # Errors
/// 422 when it is not a valid name.
pub fn event_type_name(raw: &str) -> Result<EventTypeName, ApiError> {
    EventTypeName::parse(raw).map_err(|e| ApiError::validation("event_type_name", e))
}

/// The event type `name` names, archived or not.
///
/// # Errors
/// 404 if there is none, 500 if the store fails.
pub async fn event_type(store: &dyn Store, name: &EventTypeName) -> Result<EventType, ApiError> {
    store
        .get_event_type(name)
        .await?
        .ok_or_else(|| ApiError::not_found("event type", name.as_str()))
}

/// Maps a store `NotFound` from a write that raced a delete to a 404 naming `what`.
pub fn gone(what: &'static str, key: &str) -> impl FnOnce(crate::store::StoreError) -> ApiError {
    let key = key.to_owned();
    move |e| match e {
        crate::store::StoreError::NotFound => ApiError::not_found(what, &key),
        other => other.into(),
    }
}

/// What a `PUT` to `…/{key}` does when the key names nothing yet.
#[derive(Debug, PartialEq, Eq)]
pub enum Upsert {
    /// Update the existing resource, with this uid.
    Update(Option<crate::domain::Uid>),
    /// Create it, with this uid.
    Create(Option<crate::domain::Uid>),
}

/// The uid a `PUT` leaves on a resource. A path key that is not an id is the resource's uid,
/// so it is kept unless the body names another (and it is the uid of a resource created by
/// the `PUT`). A path key shaped like an id that names nothing cannot be created: ids are
/// Hookline's to assign.
///
/// # Errors
/// 404 for a missing id-shaped key.
pub fn put_uid(
    what: &'static str,
    key: &str,
    key_is_id: bool,
    exists: bool,
    body_uid: Option<crate::domain::Uid>,
) -> Result<Upsert, ApiError> {
    let path_uid = || crate::domain::Uid::parse(key).ok();
    match (exists, key_is_id) {
        (true, true) => Ok(Upsert::Update(body_uid)),
        (true, false) => Ok(Upsert::Update(body_uid.or_else(path_uid))),
        (false, true) => Err(ApiError::not_found(what, key)),
        (false, false) => Ok(Upsert::Create(path_uid())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::Uid;

    fn uid(s: &str) -> Option<Uid> {
        Some(Uid::parse(s).unwrap())
    }

    #[test]
    fn a_put_by_uid_keeps_or_creates_that_uid() {
        assert_eq!(
            put_uid("application", "acme", false, false, uid("other")).unwrap(),
            Upsert::Create(uid("acme"))
        );
        assert_eq!(
            put_uid("application", "acme", false, true, None).unwrap(),
            Upsert::Update(uid("acme"))
        );
        assert_eq!(
            put_uid("application", "acme", false, true, uid("renamed")).unwrap(),
            Upsert::Update(uid("renamed"))
        );
    }

    #[test]
    fn a_put_by_id_replaces_the_uid_and_cannot_create() {
        assert_eq!(
            put_uid("application", "app_x", true, true, None).unwrap(),
            Upsert::Update(None)
        );
        let err = put_uid("application", "app_x", true, false, None).unwrap_err();
        assert_eq!(err.code(), "not_found");
    }
}
