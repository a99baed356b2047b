//! `GET /metrics`: Prometheus text exposition (format 0.0.4) of this node's counters, for a
//! scraper that presents `metrics.token` as a bearer token. Without a token configured the
//! route answers 404, so nothing about the node is public by default.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::http::error::{ApiError, ErrorCode};

pub async fn metrics(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let token = &app.config.metrics.token;
    if token.is_empty() {
        return crate::router::not_found().await.into_response();
    }
    let presented = match crate::auth::authorization(&headers) {
        Ok(header) => header,
        Err(e) => return e.into_response(),
    };
    let presented = presented
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        return ApiError::new(
            ErrorCode::invalid_api_key,
            "/metrics needs `Authorization: Bearer <metrics.token>`.",
        )
        .into_response();
    }
    let mut out = String::with_capacity(1024);
    let l = &app.limiter.metrics;
    let counters = [
        (
            "easel_ratelimit_rejected_total",
            "Requests refused with 429 by a rate limit or a key cool-down.",
            l.rejected.load(Ordering::Relaxed),
        ),
        (
            "easel_ratelimit_redis_fallbacks_total",
            "Limit checks answered from this node's memory because Redis failed or was being avoided.",
            l.redis_fallbacks.load(Ordering::Relaxed),
        ),
        (
            "easel_ratelimit_redis_errors_total",
            "Calls to Redis that failed or timed out.",
            l.redis_errors.load(Ordering::Relaxed),
        ),
        (
            "easel_ratelimit_cooldowns_total",
            "Key cool-downs started by this node.",
            l.cooldowns.load(Ordering::Relaxed),
        ),
        (
            "easel_auth_db_lookups_total",
            "API key checks that missed the cache and asked the database.",
            app.auth.db_lookups.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, value) in counters {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        );
    }
    let gauges = [
        (
            "easel_ratelimit_redis_degraded",
            "1 while Redis is configured but failing (limits are per node), else 0.",
            u64::from(app.limiter.redis_degraded()),
        ),
        (
            "easel_ratelimit_memory_buckets",
            "Rate-limit buckets held in this node's memory.",
            app.limiter.buckets_in_memory() as u64,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        );
    }
    let mut response = out.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
