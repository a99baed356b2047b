//! Every route, the middleware stack, and the generated OpenAPI document.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router, middleware};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::v1::invoices;
use crate::api::v1::{
    abuse_reports, account, audit_log, data_rights, end_users, events, generations, images, keys,
    leaked_keys, ledger, members, models, payments, requests, usage, webhook_deliveries,
    webhook_endpoints,
};
use crate::app::AppState;
use crate::health;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::idempotency::idempotency;
use crate::http::middleware::{RequestId, request_context};
use crate::limits::middleware::limit;
use crate::openapi::ApiDoc;

/// The API routes, and the OpenAPI document describing them and the worker API's.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(account::get::get_account))
        .routes(routes!(
            data_rights::list_exports::list_account_exports,
            data_rights::create_export::create_account_export
        ))
        .routes(routes!(data_rights::get_export::get_account_export))
        .routes(routes!(
            data_rights::download_export::download_account_export
        ))
        .routes(routes!(
            data_rights::request_erasure::request_account_erasure
        ))
        .routes(routes!(keys::list::list_keys, keys::create::create_key))
        .routes(routes!(keys::get::get_key, keys::revoke::revoke_key))
        .routes(routes!(keys::rotate::rotate_key))
        .routes(routes!(audit_log::list::list_audit_log))
        .routes(routes!(models::list::list_models))
        .routes(routes!(events::list::list_events))
        .routes(routes!(
            generations::create::create_generation,
            generations::list::list_generations
        ))
        .routes(routes!(generations::quote::quote_generation))
        .routes(routes!(
            generations::get::get_generation,
            generations::delete::delete_generation
        ))
        .routes(routes!(generations::cancel::cancel_generation))
        .routes(routes!(generations::outputs::download_output))
        .routes(routes!(images::generate::create_images))
        .routes(routes!(images::edit::edit_images))
        .routes(routes!(crate::api::v1::moderations::create_moderation))
        .routes(routes!(ledger::list::list_ledger))
        .routes(routes!(ledger::balance::get_balance))
        .routes(routes!(usage::get::get_usage))
        .routes(routes!(requests::list::list_requests))
        .routes(routes!(end_users::list::list_end_users))
        .routes(routes!(end_users::get::get_end_user))
        .routes(routes!(end_users::block::block_end_user))
        .routes(routes!(end_users::unblock::unblock_end_user))
        .routes(routes!(abuse_reports::create::create_abuse_report))
        .routes(routes!(leaked_keys::report::report_leaked_key))
        .routes(routes!(leaked_keys::github::receive_github_secret_scanning))
        .routes(routes!(
            webhook_endpoints::list::list_webhook_endpoints,
            webhook_endpoints::create::create_webhook_endpoint
        ))
        .routes(routes!(
            webhook_endpoints::get::get_webhook_endpoint,
            webhook_endpoints::update::update_webhook_endpoint,
            webhook_endpoints::delete::delete_webhook_endpoint
        ))
        .routes(routes!(webhook_endpoints::rotate::rotate_webhook_secret))
        .routes(routes!(
            webhook_endpoints::deliveries::list_webhook_deliveries
        ))
        .routes(routes!(webhook_deliveries::get::get_webhook_delivery))
        .routes(routes!(webhook_deliveries::replay::replay_webhook_delivery))
        .routes(routes!(invoices::list::list_invoices))
        .routes(routes!(invoices::get::get_invoice))
        .routes(routes!(invoices::pdf::download_invoice_pdf))
        .routes(routes!(payments::stripe::receive_stripe_webhook))
        .routes(routes!(
            members::list::list_members,
            members::add::add_member
        ))
        .routes(routes!(
            members::update::update_member,
            members::remove::remove_member
        ))
        .split_for_parts();
    // One document for both APIs; the worker routes are mounted apart (see `router`).
    openapi.merge(crate::api::worker::api().1);
    crate::openapi::apply_rules(&mut openapi);
    (router, openapi)
}

/// The whole application router with its middleware.
pub fn router(state: AppState) -> Router {
    let (api, mut openapi) = api();
    crate::openapi::mark_deprecated(&mut openapi, &state.config.deprecations);
    let (workers, _) = crate::api::worker::api();
    let openapi = Arc::new(openapi);
    let config = state.config.http.clone();
    let metered = Arc::clone(&state.metrics.http);
    // Workers have their own body limit and timeout (long polls, output uploads) and
    // their own credential, so they sit outside the API's limits and authentication.
    let workers = crate::api::worker::router(workers, &state.config)
        .layer(middleware::from_fn(crate::http::text::check_uri))
        .with_state(state.clone());
    let api = Router::new()
        .merge(api)
        // Limits run first: they authenticate, refuse over-limit requests before anything
        // else is done, and leave the caller for the idempotency middleware and handlers.
        .layer(middleware::from_fn_with_state(state.clone(), idempotency))
        .layer(middleware::from_fn_with_state(state.clone(), limit))
        // Before the limits: a sunset operation answers 410 to anyone, key or not.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http::deprecation::deprecation,
        ))
        .route(
            "/openapi.json",
            get(move || async move { Json(Arc::clone(&openapi)) }),
        )
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(crate::metrics::metrics))
        .route("/readyz", get(health::readyz))
        .merge(crate::console::router(state.clone()))
        .merge(crate::status::pages::router())
        // After routing (it names path parameters from the matched route), before any
        // middleware or handler that could carry a path or query value to storage.
        .layer(middleware::from_fn(crate::http::text::check_uri))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
        // Innermost first: the last layer added runs first on the way in.
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        // Before the limit: a body declared too large is refused at once and drained.
        .layer(middleware::from_fn_with_state(
            config.max_body_bytes,
            crate::http::linger::linger,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_seconds),
        ));
    Router::new()
        .merge(workers)
        .merge(api)
        .layer(CatchPanicLayer::new())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::extract::Request| {
                    let request_id = request.extensions().get::<RequestId>().map(|r| r.0.as_str()).unwrap_or_default();
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(middleware::from_fn(request_context))
        // Outermost, so it counts what the client got; a `Router` layer runs per route,
        // after routing, so it sees the route template (`MatchedPath`).
        .layer(middleware::from_fn_with_state(metered, crate::metrics::track))
}

/// The 404 of every unknown route (and of routes switched off by the config).
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::route_not_found,
        "No such route. The API lives under /v1; see /openapi.json.",
    )
}

pub(crate) async fn method_not_allowed() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        ApiError::new(
            ErrorCode::method_not_allowed,
            "This route does not accept this method.",
        ),
    )
}
