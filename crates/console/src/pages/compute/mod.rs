//! Workflow 9.1 in the browser: servers (with the create form that follows the
//! workflow's steps), keypairs and images, over Nova and Glance as the user.

pub mod images;
pub mod keypairs;
pub mod servers;

use crate::Console;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .merge(servers::routes())
        .merge(keypairs::routes())
        .merge(images::routes())
}
