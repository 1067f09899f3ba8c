//! The management API: Svix v1-compatible routes, grouped by resource.

mod auth;

pub use auth::Auth;

use crate::config::Config;
use crate::store::DynStore;
use axum::Router;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The store.
    pub store: DynStore,
    /// The process configuration.
    pub config: Arc<Config>,
    /// Accepted tokens.
    pub auth: Arc<Auth>,
}

/// The whole API as one router.
pub fn router(state: ApiState) -> Router {
    Router::new().with_state(state)
}
