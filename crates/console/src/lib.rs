//! The web console (issue 6, ADR 0013): server-rendered HTML pages at `/` on the
//! API's own listener. Every page reads and every form writes through the same
//! HTTP APIs the CLI uses, called in process with the user's own token, so the
//! console can never do more than the user's roles allow and shows the APIs'
//! own error messages.
//!
//! - [`api_client`]: in-process calls into the assembled application;
//! - [`session`]: the session cookie (the user's Keystone token) and the
//!   [`session::Session`] extractor;
//! - [`form`]: form bodies, checked for their CSRF token before any handler runs;
//! - [`pages`]: one module per page group, [`pages::layout`] the page shell.

pub mod api_client;
pub mod form;
pub mod pages;
pub mod session;

use axum::Router;
use rand::RngCore;
use std::sync::{Arc, OnceLock};

/// The console's state.
pub struct Console {
    /// The application the console calls into (set once it is assembled, since
    /// it contains the console itself).
    api: OnceLock<Router>,
    /// Signs CSRF tokens (new per process: forms from before a restart are refused).
    csrf_key: [u8; 32],
    /// Cookies get `Secure` when the listener speaks TLS.
    secure_cookies: bool,
}

impl Console {
    pub fn new(secure_cookies: bool) -> Arc<Console> {
        let mut csrf_key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut csrf_key);
        Arc::new(Console {
            api: OnceLock::new(),
            csrf_key,
            secure_cookies,
        })
    }

    /// Hands the console the assembled application (call once, after building it).
    pub fn set_api(&self, app: Router) {
        let _ = self.api.set(app);
    }

    pub(crate) fn api(&self) -> &Router {
        self.api.get().expect("the console's API is set at start")
    }
}

/// The console's routes.
pub fn router(console: Arc<Console>) -> Router {
    pages::routes().with_state(console)
}
