//! The operator console: server-rendered pages behind a signed session cookie, outside the
//! OpenAPI document. For now: sign in, the accounts and the global audit log.

mod pages;
mod session;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

pub use session::SessionKey;

/// `/console/…`
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(pages::dashboard))
        .route("/console/login", get(pages::login_form).post(pages::login))
        .route("/console/logout", post(pages::logout))
}
