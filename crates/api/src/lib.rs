//! HTTP plumbing shared by every Nimbus API, so that each service crate only writes
//! its types, routes and controllers:
//!
//! - [`error`]: one error type for handlers; [`dialect`] renders it the way each
//!   upstream API does (Keystone, later Nova, Neutron, Kubernetes, ...);
//! - [`body`] and [`query`]: request decoding that answers bad input with a 4xx;
//! - [`auth`]: who is calling (the [`auth::Principal`] behind a token);
//! - [`policy`]: the one policy table for every API;
//! - [`audit`]: audit records written in the same transaction as the change;
//! - [`log`]: one structured log line per request;
//! - [`microversion`]: OpenStack microversion negotiation (Nova, Cinder);
//! - [`links`]: the public base URL and collection links;
//! - [`app`]: the layers around every service router;
//! - [`testing`]: in-process test clients with fixed personas, for service crates.

pub mod app;
pub mod audit;
pub mod auth;
pub mod body;
pub mod dialect;
pub mod error;
pub mod links;
pub mod log;
pub mod microversion;
pub mod policy;
pub mod query;
pub mod testing;

pub use error::{ApiError, ApiResult};

/// Largest request body any API accepts (larger ones get 413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
