//! The operator console: server-rendered pages behind a signed session cookie, outside the
//! OpenAPI document. For now: sign in, the accounts and the global audit log; and the public
//! pricing page `/developers`.

mod abuse;
mod developers;
mod form;
mod pages;
mod session;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

pub use session::SessionKey;

/// `/console/…` and `/developers`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/developers", get(developers::developers))
        .route("/abuse", get(abuse::form).post(abuse::submit))
        .route("/console", get(pages::dashboard))
        .route("/console/login", get(pages::login_form).post(pages::login))
        .route("/console/logout", post(pages::logout))
}
