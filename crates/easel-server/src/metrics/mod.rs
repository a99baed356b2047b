//! `GET /metrics`: Prometheus text exposition (format 0.0.4) of this node's figures: the
//! HTTP API's requests and latencies, generations and job run times by model, the queues,
//! holds, webhook deliveries, engines, workers and database pool. Who may scrape is
//! [`access`]'s; what each family means is docs/metrics.md.
//!
//! In-process figures are atomics updated where things happen; the few that need the
//! database come from partial indexes and are shared by the scrapes of `metrics.cache_ms`
//! ([`database`]).

pub mod access;
pub mod database;
pub mod generations;
pub mod http;
pub mod text;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use easel_engines::breaker::BreakerState;

use crate::app::AppState;
use crate::config::Config;

pub use http::track;

/// Everything this node counts for `/metrics`.
pub struct Metrics {
    pub http: Arc<http::HttpMetrics>,
    pub generations: generations::GenerationMetrics,
    pub webhooks: WebhookMetrics,
    database: database::DatabaseFigures,
}

impl Metrics {
    pub fn new(config: &Config) -> Metrics {
        Metrics {
            http: Arc::default(),
            generations: generations::GenerationMetrics::new(
                config.models.keys().map(String::as_str),
            ),
            webhooks: WebhookMetrics::default(),
            database: database::DatabaseFigures::new(Duration::from_millis(
                config.metrics.cache_ms,
            )),
        }
    }
}

/// Webhook delivery attempts made by this node, by result.
#[derive(Default)]
pub struct WebhookMetrics {
    /// A 2xx came back.
    pub success: AtomicU64,
    /// The receiver answered with another status.
    pub http_error: AtomicU64,
    /// No answer: refused, unreachable, timed out, or blocked by the address checks.
    pub network_error: AtomicU64,
}

impl WebhookMetrics {
    /// Counts an attempt that got `status` (`None`: no HTTP answer).
    pub fn attempted(&self, status: Option<u16>, succeeded: bool) {
        let counter = match (status, succeeded) {
            (_, true) => &self.success,
            (Some(_), false) => &self.http_error,
            (None, false) => &self.network_error,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn metrics(
    State(app): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    match access::decide(&app.config.metrics, peer, &headers) {
        access::Access::Granted => {}
        access::Access::Hidden => return crate::router::not_found().await.into_response(),
        access::Access::Refused(e) => return e.into_response(),
    }
    let mut response = render(&app).await.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The whole exposition.
pub async fn render(app: &AppState) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let figures = app.metrics.database.get(&app.store).await;
    let serving = app.workers.serving(app.store.as_ref(), &app.config).await;
    app.metrics.http.render(&mut out);
    app.metrics.generations.render(&mut out);
    queues(app, &figures, &mut out);
    stored(app, &figures, &mut out);
    webhooks(app, &figures, &mut out);
    pools(app, &mut out);
    limits(app, &mut out);
    engines(app, &serving, &mut out);
    workers(app, &serving, &figures, &mut out);
    out
}

/// The model a generation queue serves: `generation:<model>` or `generation:<model>:test`.
fn queue_model(queue: &str) -> Option<&str> {
    let model = queue.strip_prefix("generation:")?;
    Some(model.strip_suffix(":test").unwrap_or(model))
}

/// Seconds from `since` (ms) to `now` (ms), 0 if `since` is later.
fn seconds_since(since: i64, now: i64) -> f64 {
    (now.saturating_sub(since).max(0)) as f64 / 1000.0
}

/// Queue depth, oldest due job's wait and running jobs per model (both modes' queues
/// together), with every enabled model present.
fn queues(app: &AppState, figures: &database::Figures, out: &mut String) {
    let Some(gauges) = &figures.gauges else {
        return;
    };
    // model -> (queued, earliest due, running)
    let mut by_model: HashMap<&str, (i64, Option<i64>, i64)> = app
        .config
        .models
        .iter()
        .filter(|(_, m)| m.enabled)
        .map(|(id, _)| (id.as_str(), (0, None, 0)))
        .collect();
    for q in &gauges.queues {
        let Some(model) = queue_model(&q.queue) else {
            continue;
        };
        let entry = by_model.entry(model).or_insert((0, None, 0));
        entry.0 += q.queued;
        entry.1 = match (entry.1, q.earliest_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        entry.2 += q.running;
    }
    let mut models: Vec<_> = by_model.into_iter().collect();
    models.sort_unstable_by_key(|(m, _)| *m);
    let now = easel_core::time::now_ms();
    let series: [(&str, &str); 3] = [
        (
            "easel_queue_depth",
            "Generation jobs waiting in the model's queues (due or waiting for a retry).",
        ),
        (
            "easel_queue_oldest_seconds",
            "How long the model's longest-waiting due job has been due (0 when none is due).",
        ),
        (
            "easel_jobs_running",
            "Generation jobs of the model running now, on any node or worker.",
        ),
    ];
    for (i, (name, help)) in series.iter().enumerate() {
        text::family(out, name, "gauge", help);
        for (model, (queued, due, running)) in &models {
            let labels = [("model", *model)];
            match i {
                0 => text::sample(out, name, &labels, queued),
                1 => text::sample(
                    out,
                    name,
                    &labels,
                    due.map_or(0.0, |d| seconds_since(d, now)),
                ),
                _ => text::sample(out, name, &labels, running),
            }
        }
    }
}

/// Whether the database answered, and the holds.
fn stored(app: &AppState, figures: &database::Figures, out: &mut String) {
    let name = "easel_database_up";
    text::family(
        out,
        name,
        "gauge",
        "1 if the database answered this scrape's (possibly cached) queries, else 0; the families read from it are left out then.",
    );
    text::sample(out, name, &[], u8::from(figures.gauges.is_some()));
    let name = "easel_metrics_database_reads_total";
    text::family(
        out,
        name,
        "counter",
        "Times this node read the figures above from the database (scrapes within metrics.cache_ms share one).",
    );
    text::sample(out, name, &[], app.metrics.database.reads());
    let Some(g) = &figures.gauges else {
        return;
    };
    let name = "easel_holds_open";
    text::family(
        out,
        name,
        "gauge",
        "Credit holds placed for generations not yet settled (captured or released).",
    );
    text::sample(out, name, &[], g.holds_open);
    let name = "easel_holds_open_credits";
    text::family(out, name, "gauge", "Credits held by the open holds.");
    text::sample(out, name, &[], g.holds_open_credits);
}

/// Pending deliveries (the database's) and this node's attempts by result.
fn webhooks(app: &AppState, figures: &database::Figures, out: &mut String) {
    if let Some(g) = &figures.gauges {
        let name = "easel_webhook_deliveries_pending";
        text::family(
            out,
            name,
            "gauge",
            "Webhook deliveries not yet delivered nor given up (due now or waiting for a retry).",
        );
        text::sample(out, name, &[], g.deliveries_pending);
        let name = "easel_webhook_delivery_oldest_seconds";
        text::family(
            out,
            name,
            "gauge",
            "How long the earliest due pending delivery has been due (0 when none is due).",
        );
        let now = easel_core::time::now_ms();
        let due = g
            .deliveries_earliest_due
            .map_or(0.0, |d| seconds_since(d, now));
        text::sample(out, name, &[], due);
    }
    let name = "easel_webhook_attempts_total";
    text::family(
        out,
        name,
        "counter",
        "Webhook delivery attempts made by this node, by result (success: a 2xx; http_error: another status; network_error: no answer).",
    );
    let w = &app.metrics.webhooks;
    for (result, n) in [
        ("success", &w.success),
        ("http_error", &w.http_error),
        ("network_error", &w.network_error),
    ] {
        text::sample(out, name, &[("result", result)], n.load(Ordering::Relaxed));
    }
}

/// This process's database connection pools.
fn pools(app: &AppState, out: &mut String) {
    let pools = app.store.pools();
    let series: [(&str, &str); 3] = [
        (
            "easel_db_pool_connections_in_use",
            "Connections of the pool lent out now.",
        ),
        (
            "easel_db_pool_connections_open",
            "Connections of the pool open now (in use or idle).",
        ),
        (
            "easel_db_pool_connections_max",
            "The most connections the pool opens.",
        ),
    ];
    for (i, (name, help)) in series.iter().enumerate() {
        text::family(out, name, "gauge", help);
        for p in &pools {
            let value = match i {
                0 => p.size.saturating_sub(p.idle),
                1 => p.size,
                _ => p.max,
            };
            text::sample(out, name, &[("pool", p.pool)], value);
        }
    }
}

/// The rate limiter's and the API key cache's counters.
fn limits(app: &AppState, out: &mut String) {
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
        text::family(out, name, "counter", help);
        text::sample(out, name, &[], value);
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
        text::family(out, name, "gauge", help);
        text::sample(out, name, &[], value);
    }
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
        text::family(out, name, kind, help);
        for (model, snapshot, misconfigured) in &health {
            let remote = crate::workers::is_remote(&app.config, model);
            let value = match (i, snapshot) {
                (0, _) if remote => f64::from(u8::from(serving.get(model).is_some_and(|&n| n > 0))),
                (0, Some(s)) => f64::from(u8::from(s.up)),
                (0, None) => 1.0,
                (1, Some(s)) => f64::from(u8::from(s.state == BreakerState::Open)),
                (2, Some(s)) => s.opened_total as f64,
                (3, Some(s)) => match s.probe_latency {
                    Some(d) => d.as_secs_f64(),
                    None => continue,
                },
                (4, _) => *misconfigured as f64,
                _ => 0.0,
            };
            text::sample(out, name, &[("model", model)], value);
        }
    }
    let name = "easel_engine_breaker_state";
    text::family(
        out,
        name,
        "gauge",
        "1 for the state the backend's breaker is in (closed, open, half_open), 0 for the others; models without a breaker are left out.",
    );
    for (model, snapshot, _) in &health {
        let Some(s) = snapshot else { continue };
        for state in [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ] {
            let labels = [("model", model.as_str()), ("state", state.as_str())];
            text::sample(out, name, &labels, u8::from(s.state == state));
        }
    }
}

/// Remote workers: how many serve each model, how many are quarantined, and this node's
/// claim, lease and completion totals.
fn workers(
    app: &AppState,
    serving: &HashMap<String, u32>,
    figures: &database::Figures,
    out: &mut String,
) {
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
        text::family(out, name, "counter", help);
        text::sample(out, name, &[], value.load(Ordering::Relaxed));
    }
    let name = "easel_workers_online";
    text::family(
        out,
        name,
        "gauge",
        "Workers serving the model now (seen within workers.presence_seconds).",
    );
    for (model, _) in app
        .config
        .models
        .iter()
        .filter(|(_, m)| m.enabled && m.engine == crate::workers::ENGINE)
    {
        let n = serving.get(model).copied().unwrap_or(0);
        text::sample(out, name, &[("model", model)], n);
    }
    if let Some(g) = &figures.gauges {
        let name = "easel_workers_quarantined";
        text::family(
            out,
            name,
            "gauge",
            "Workers refused claims for losing too many leases.",
        );
        text::sample(out, name, &[], g.workers_quarantined);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_names_its_model_in_either_mode_and_others_name_none() {
        assert_eq!(
            queue_model("generation:sandbox-image"),
            Some("sandbox-image")
        );
        assert_eq!(queue_model("generation:gpu-image:test"), Some("gpu-image"));
        assert_eq!(queue_model("mail"), None);
    }

    #[test]
    fn an_age_is_never_negative() {
        assert_eq!(seconds_since(1_000, 3_500), 2.5);
        assert_eq!(seconds_since(5_000, 3_500), 0.0, "due in the future");
        assert_eq!(seconds_since(i64::MIN, 0), i64::MAX as f64 / 1000.0);
    }
}
