//! The worker API (`/worker/v1`): remote GPU workers claim jobs under leases, heartbeat,
//! upload outputs and complete or fail, with a worker token (never an API key).
//!
//! It has its own router and limits: a claim is a long poll and an upload may be as large
//! as an output, so the API's request timeout and body limit do not apply here.

pub mod auth;
pub mod claim;
pub mod dto;
pub mod files;
pub mod leases;
pub mod me;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::config::Config;

/// The OpenAPI tag of every worker operation.
pub const TAG: &str = "Workers";

/// Refuses a text field of a worker call longer than `max` characters (400
/// `parameter_invalid` on `param`); no value passes.
pub fn at_most(
    param: &'static str,
    value: Option<&str>,
    max: usize,
) -> crate::http::error::ApiResult<()> {
    if value.is_some_and(|v| v.chars().count() > max) {
        return Err(crate::http::error::ApiError::invalid(
            param,
            format!("{param} is at most {max} characters."),
        ));
    }
    Ok(())
}

/// The worker routes and their OpenAPI paths.
pub fn api() -> (Router<AppState>, OpenApi) {
    OpenApiRouter::new()
        .routes(routes!(me::get_worker))
        .routes(routes!(claim::claim_jobs))
        .routes(routes!(leases::heartbeat_lease))
        .routes(routes!(leases::complete_lease))
        .routes(routes!(leases::fail_lease))
        .routes(routes!(files::upload_output))
        .routes(routes!(files::download_input))
        .split_for_parts()
}

/// The worker routes with their own body limit (an output, plus room for the envelope)
/// and timeout (a whole long poll, or a large upload on a slow link).
pub fn router(routes: Router<AppState>, config: &Config) -> Router<AppState> {
    let body_limit = config
        .generations
        .max_output_bytes
        .saturating_add(64 * 1024);
    let timeout = Duration::from_millis(config.workers.max_claim_wait_ms)
        .max(Duration::from_secs(config.http.request_timeout_seconds))
        + Duration::from_secs(300);
    routes
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            body_limit,
            crate::http::linger::linger,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
}
