//! The consoles: server-rendered pages behind server-side sessions, outside the OpenAPI
//! document, every form CSRF-protected (`csrf.rs`) and sign-in throttled (`throttle.rs`).
//! One sign-in page for both: members (e-mail address) get the developer console
//! (`developer/`), operators (username) the operator console. Also the public pages
//! `/developers` and `/abuse`.

mod abuse;
mod assets;
mod csrf;
mod developer;
mod developers;
mod docs;
mod form;
mod links;
pub(crate) mod pages;
pub(crate) mod session;
mod signin;
mod throttle;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::app::AppState;

pub use session::SessionKey;

/// `/console/…`, `/developers`, `/abuse`, `/`, `/docs` and `/docs/api`.
pub fn router(state: AppState) -> Router<AppState> {
    // Every route added here is behind the CSRF check: a new form without its token fails.
    let console = Router::new()
        .route("/console", get(pages::home))
        .route(
            "/console/login",
            get(signin::login_form).post(signin::login),
        )
        .route("/console/logout", post(signin::logout))
        .route(
            "/console/logout/everywhere",
            post(signin::logout_everywhere),
        )
        .merge(developer::routes())
        .route_layer(middleware::from_fn_with_state(state, csrf::protect));
    Router::new()
        .route("/console/assets/{hash}/{name}", get(assets::serve))
        .route("/developers", get(developers::developers))
        .route("/abuse", get(abuse::form).post(abuse::submit))
        .route("/", get(docs::home))
        .route("/docs", get(docs::guide))
        .route("/docs/api", get(docs::reference))
        .merge(console)
}
