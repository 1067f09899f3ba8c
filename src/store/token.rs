//! Application-scoped API tokens as the store keeps them: by the hash of their text, never
//! the text itself.

use crate::domain::AppId;
use chrono::{DateTime, Utc};

/// An application-scoped token: it grants access to one application's routes until it
/// expires, is revoked (logout) or its application is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppToken {
    /// Hex SHA-256 of the token text, the key it is looked up by.
    pub hash: String,
    /// The application it grants access to.
    pub app_id: AppId,
    /// When it was minted.
    pub created_at: DateTime<Utc>,
    /// The first instant at which it is no longer accepted.
    pub expires_at: DateTime<Utc>,
}

impl AppToken {
    /// Whether the token is no longer accepted at `now`.
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}
