//! The limits middleware: authenticates every request to a keyed route once (the handlers
//! and the idempotency middleware reuse the caller), refuses it with 429 when a limit or a
//! cool-down says so, adds the RateLimit header fields to every authenticated response, and
//! hands every authenticated request to the request log (status, latency, error code and
//! what the handler added: the end user, the prompt if kept).

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use easel_core::time::now_ms;
use serde_json::json;

use super::{Limits, headers};
use crate::app::AppState;
use crate::auth::Caller;
use crate::auth::rules::{self, Access};
use crate::http::error::{ApiError, ErrorCode, PendingError};
use crate::http::middleware::RequestId;
use crate::request_log::LogDetails;

pub async fn limit(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return next.run(request).await;
    };
    // Deny by default: a method without a rule is not served, whatever the router holds.
    let Some(access) = rules::access(request.method(), &route) else {
        return crate::router::method_not_allowed().await.into_response();
    };
    match access {
        // The worker API authenticates its own tokens (it is mounted outside this layer;
        // a worker route reaching it is answered by the handler's extractor all the same).
        Access::Keyless | Access::Worker => return next.run(request).await,
        Access::KeyOptional if !request.headers().contains_key(AUTHORIZATION) => {
            return next.run(request).await;
        }
        Access::KeyOptional | Access::Scope(_) => {}
    }
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let caller = match app.auth.authenticate(request.headers(), request_id).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    request.extensions_mut().insert(caller.clone());
    let request_method = request.method().clone();
    let method = request_method.as_str().to_owned();
    let path = request.uri().path().to_owned();
    let response = limited(&app, &caller, &route, access, request, next).await;
    if crate::http::deprecation::of(&app, &request_method, &route).is_some() {
        app.request_log.record_deprecated(
            &caller.account_id,
            caller.mode,
            &method,
            &route,
            now_ms(),
        );
    }
    log_request(&app, &caller, method, path, started, &response);
    response
}

/// Appends the request to its account's request log.
fn log_request(
    app: &AppState,
    caller: &Caller,
    method: String,
    path: String,
    started: std::time::Instant,
    response: &Response,
) {
    let details = response.extensions().get::<LogDetails>();
    let error_code = response
        .extensions()
        .get::<PendingError>()
        .map(|e| e.code.as_str().to_string());
    app.request_log.record(easel_db::RequestLogEntry {
        id: easel_core::ids::IdKind::RequestLog.generate(),
        request_id: caller.request_id.clone(),
        account_id: caller.account_id.clone(),
        mode: caller.mode,
        api_key_id: caller.key_id.clone(),
        method,
        path,
        status: response.status().as_u16(),
        end_user: details.and_then(|d| d.end_user.clone()),
        latency_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
        error_code,
        prompt: details.and_then(|d| d.prompt.clone()),
        created_at: now_ms(),
    });
}

/// Runs an admitted request if the caller's key and role allow the route's scope.
async fn authorized(caller: &Caller, access: Access, request: Request, next: Next) -> Response {
    if let Access::Scope(scope) = access
        && let Err(e) = caller.require(scope)
    {
        return e.into_response();
    }
    next.run(request).await
}

/// Applies the limits to an authenticated request and runs it if they admit it and the
/// rules allow it.
async fn limited(
    app: &AppState,
    caller: &Caller,
    route: &str,
    access: Access,
    request: Request,
    next: Next,
) -> Response {
    if !app.config.limits.enabled {
        return authorized(caller, access, request, next).await;
    }
    let limits = Limits::resolve(&app.config, &caller.plan, &caller.account_limits);
    let (policies, buckets) =
        app.limiter
            .policies(&caller.key_id, &caller.account_id, caller.mode, &limits);
    let now = now_ms();
    if let Some(until) = caller.cooldown_until.filter(|until| *until > now) {
        let decision = app
            .limiter
            .check(&caller.account_id, policies, &buckets, false)
            .await;
        app.limiter
            .metrics
            .rejected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seconds = u64::try_from(until - now).unwrap_or(0).div_ceil(1000);
        let mut response = ApiError::new(
            ErrorCode::key_cooldown,
            format!(
                "This key is cooling down for {seconds} more seconds after too many rejected requests; every request with it is refused until then."
            ),
        )
        .details(json!({"cooldown_until": until / 1000}))
        .retry_after(seconds.max(1))
        .into_response();
        headers::insert(response.headers_mut(), &decision.states);
        return response;
    }
    let counted = app.limiter.counts(request.method().as_str(), route);
    let decision = app
        .limiter
        .check(&caller.account_id, policies, &buckets, counted)
        .await;
    if counted && !decision.admitted {
        if app
            .limiter
            .record_rejection(&caller.account_id, &caller.key_id)
            .await
        {
            start_cooldown(app, caller).await;
        }
        let retry_after = decision.retry_after();
        let error = match decision.exceeded() {
            Some(hit) => {
                let p = &hit.policy;
                let per = if p.rate.window_secs == 60 {
                    "minute"
                } else {
                    "day"
                };
                ApiError::new(
                    ErrorCode::rate_limit_exceeded,
                    format!(
                        "Rate limit exceeded: this {} may make {} requests per {per}. Retry after {retry_after} seconds.",
                        p.scope.as_str(),
                        p.rate.quota
                    ),
                )
                .details(json!({
                    "limit": p.limit,
                    "scope": p.scope.as_str(),
                    "policy": p.name,
                    "quota": p.rate.quota,
                    "window_seconds": p.rate.window_secs,
                }))
            }
            None => ApiError::new(
                ErrorCode::rate_limit_exceeded,
                format!("Rate limit exceeded. Retry after {retry_after} seconds."),
            ),
        };
        let mut response = error.retry_after(retry_after).into_response();
        headers::insert(response.headers_mut(), &decision.states);
        return response;
    }
    let mut response = authorized(caller, access, request, next).await;
    headers::insert(response.headers_mut(), &decision.states);
    response
}

/// Starts the key's cool-down (once, whichever node gets there first) and makes this
/// node see it on the key's next request.
async fn start_cooldown(app: &AppState, caller: &Caller) {
    let limits = &app.config.limits;
    let until = now_ms().saturating_add(app.limiter.cooldown_ms());
    let audit = easel_db::AuditContext::new(
        easel_core::audit::Actor::system(),
        Some(caller.request_id.clone()),
    )
    .with("rejections", limits.cooldown_rejections)
    .with("window_seconds", limits.cooldown_window_seconds);
    match app
        .store
        .start_key_cooldown(&caller.account_id, &caller.key_id, until, audit)
        .await
    {
        Ok(Some(_)) => {
            tracing::warn!(key.id = %caller.key_id, account.id = %caller.account_id, until, "API key cooled down after too many rejected requests");
            app.limiter
                .cooldown_started(&caller.account_id, &caller.key_id)
                .await;
            app.auth.invalidate_account(&caller.account_id);
        }
        // Another node started it.
        Ok(None) => app.auth.invalidate_account(&caller.account_id),
        Err(e) => {
            tracing::warn!(key.id = %caller.key_id, error = %e, "could not start a key's cool-down; will try again on its next rejection");
        }
    }
}
