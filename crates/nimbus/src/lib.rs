//! The `nimbus` binary's library half: how the services are assembled into one
//! HTTP application ([`app`]), how `nimbus serve` starts ([`serve`]), the
//! `clouds.yaml` it writes ([`clouds`]) and the admin commands ([`audit`]).

pub mod app;
pub mod audit;
pub mod clouds;
pub mod guest_image;
pub mod serve;
pub mod ssh;
