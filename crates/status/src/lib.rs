//! Status: the SCS Status Page API (SovereignCloudStack/status-page-openapi) for
//! Nimbus, served at `/status-api`. Everyone may read it without a token (a status
//! page must stay readable when identity is the thing that is down); cloud admins
//! manage components, incidents and their vocabulary through it.
//!
//! - [`types`]: what is stored (components, incidents with impacts and updates,
//!   impact types, severities, phase list generations);
//! - [`bootstrap`]: the defaults a new cloud starts with;
//! - [`api`]: the HTTP routes, with errors in [`nimbus_api::dialect`]'s status
//!   format (`{"message": "..."}`).

pub mod api;
pub mod bootstrap;
pub mod types;

use nimbus_store::{Store, StoreError};
use std::sync::Arc;

/// The status page service: the state of its routes.
pub struct StatusPage {
    pub store: Store,
}

impl StatusPage {
    /// Opens the service, seeding the defaults a fresh cloud lacks.
    pub async fn open(store: Store) -> Result<Arc<StatusPage>, StoreError> {
        bootstrap::seed(&store).await?;
        Ok(Arc::new(StatusPage { store }))
    }
}
