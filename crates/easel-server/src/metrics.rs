//! `GET /metrics`: Prometheus text exposition (format 0.0.4) of this node's counters, for a
//! scraper that presents `metrics.token` as a bearer token. Without a token configured the
//! route answers 404, so nothing about the node is public by default.

use std::collections::HashMap;
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
    let serving = app.workers.serving(app.store.as_ref(), &app.config).await;
    engines(&app, &serving, &mut out);
    workers(&app, &serving, &mut out).await;
    let mut response = out.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Per model backend: whether it is up (last probe or job), its breaker's state, how often
/// it opened, the last probe's latency and runs that found it misconfigured. Sandbox
/// models have no backend to lose: always up, no breaker.
fn engines(app: &AppState, serving: &HashMap<String, u32>, out: &mut String) {
    let health = app.engines.health();
    let series: [(&str, &str, &str); 5] = [
        (
            "easel_engine_up",
            "gauge",
            "1 if the model's backend answered its last probe or job, else 0.",
        ),
        (
            "easel_engine_breaker_open",
            "gauge",
            "1 while the backend's breaker is open (its jobs wait in the queue), else 0.",
        ),
        (
            "easel_engine_breaker_opened_total",
            "counter",
            "Times the backend's breaker opened since start.",
        ),
        (
            "easel_engine_probe_seconds",
            "gauge",
            "How long the backend's last health probe took.",
        ),
        (
            "easel_engine_misconfigured_total",
            "counter",
            "Runs that found the backend misconfigured (401/403, unknown checkpoint or node).",
        ),
    ];
    for (i, (name, kind, help)) in series.iter().enumerate() {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for (model, snapshot, misconfigured) in &health {
            let remote = crate::workers::is_remote(&app.config, model);
            let value = match (i, snapshot) {
                (0, _) if remote => f64::from(u8::from(serving.get(model).is_some_and(|&n| n > 0))),
                (0, Some(s)) => f64::from(u8::from(s.up)),
                (0, None) => 1.0,
                (1, Some(s)) => f64::from(u8::from(
                    s.state == easel_engines::breaker::BreakerState::Open,
                )),
                (2, Some(s)) => s.opened_total as f64,
                (3, Some(s)) => match s.probe_latency {
                    Some(d) => d.as_secs_f64(),
                    None => continue,
                },
                (4, _) => *misconfigured as f64,
                _ => 0.0,
            };
            let _ = writeln!(out, "{name}{{model=\"{model}\"}} {value}");
        }
    }
}

/// Remote workers: how many serve each model, how many are quarantined, and this node's
/// claim, lease and completion totals.
async fn workers(app: &AppState, serving: &HashMap<String, u32>, out: &mut String) {
    let c = &app.workers.counters;
    let counters = [
        (
            "easel_worker_claims_total",
            "Claims (long polls) answered by this node.",
            &c.claims,
        ),
        (
            "easel_worker_leases_total",
            "Leases handed to workers by this node.",
            &c.leases_granted,
        ),
        (
            "easel_worker_completions_total",
            "Worker completions accepted by this node.",
            &c.completions,
        ),
        (
            "easel_worker_failures_total",
            "Worker failure reports recorded by this node.",
            &c.failures,
        ),
        (
            "easel_worker_leases_lost_total",
            "Worker leases this node found lapsed.",
            &c.leases_lost,
        ),
        (
            "easel_worker_quarantines_total",
            "Workers this node quarantined for losing too many leases.",
            &c.quarantines,
        ),
    ];
    for (name, help, value) in counters {
        let value = value.load(Ordering::Relaxed);
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        );
    }
    let name = "easel_workers_online";
    let _ = write!(
        out,
        "# HELP {name} Workers serving the model now (seen within workers.presence_seconds).\n# TYPE {name} gauge\n"
    );
    for (model, _) in app
        .config
        .models
        .iter()
        .filter(|(_, m)| m.enabled && m.engine == crate::workers::ENGINE)
    {
        let n = serving.get(model).copied().unwrap_or(0);
        let _ = writeln!(out, "{name}{{model=\"{model}\"}} {n}");
    }
    let now = easel_core::time::now_ms();
    if let Ok(all) = app.store.list_workers().await {
        let quarantined = all
            .iter()
            .filter(|w| w.revoked_at.is_none() && w.quarantined_until.is_some_and(|u| u > now))
            .count();
        let name = "easel_workers_quarantined";
        let _ = write!(
            out,
            "# HELP {name} Workers refused claims for losing too many leases.\n# TYPE {name} gauge\n{name} {quarantined}\n"
        );
    }
}
