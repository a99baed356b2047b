//! What `/metrics` costs: the per-request middleware (through a real axum router, with and
//! without the layer), rendering the in-memory figures of a busy node, and the database
//! statements of a scrape on SQLite with a deep queue, beside a million finished jobs and
//! without them (their cost must follow the queued rows, not the table).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use easel_core::jobs::JobStatus;
use easel_server::metrics::generations::GenerationMetrics;
use easel_server::metrics::http::HttpMetrics;
use tower::ServiceExt;

/// Route templates, about as many as the server has.
fn routes() -> Vec<String> {
    (0..80).map(|i| format!("/v1/resource{i}/{{id}}")).collect()
}

fn router(metered: Option<Arc<HttpMetrics>>) -> Router {
    let mut router = Router::new().route("/v1/generations/{id}", get(|| async { "ok" }));
    if let Some(metrics) = metered {
        router = router.layer(axum::middleware::from_fn_with_state(
            metrics,
            easel_server::metrics::track,
        ));
    }
    router
}

fn middleware(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("metrics_middleware");
    for (name, metered) in [
        ("without", None),
        ("with", Some(Arc::new(HttpMetrics::default()))),
    ] {
        let app = router(metered);
        group.bench_function(name, |b| {
            b.iter(|| {
                let request = Request::builder()
                    .uri("/v1/generations/gen_01")
                    .body(Body::empty())
                    .expect("a request");
                let response = rt
                    .block_on(app.clone().oneshot(request))
                    .expect("infallible");
                assert!(response.status().is_success());
            })
        });
    }
    let metrics = HttpMetrics::default();
    metrics.record(&Method::GET, "/v1/generations/{id}", 200, Duration::ZERO);
    group.bench_function("record_only", |b| {
        b.iter(|| {
            metrics.record(
                black_box(&Method::GET),
                black_box("/v1/generations/{id}"),
                200,
                Duration::from_micros(700),
            )
        })
    });
    group.finish();
}

fn render(c: &mut Criterion) {
    let http = HttpMetrics::default();
    for route in routes() {
        for (method, status) in [(Method::GET, 200), (Method::GET, 404), (Method::POST, 201)] {
            http.record(&method, &route, status, Duration::from_millis(3));
        }
    }
    let models: Vec<String> = (0..10).map(|i| format!("model-{i}")).collect();
    let generations = GenerationMetrics::new(models.iter().map(String::as_str));
    for model in &models {
        generations.entered(model, JobStatus::Succeeded);
        generations.ran(model, Duration::from_secs(4));
    }
    c.bench_function("metrics_render_in_memory_80_routes_10_models", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(16 * 1024);
            http.render(&mut out);
            generations.render(&mut out);
            black_box(out.len())
        })
    });
}

/// A migrated SQLite store with `queued` jobs over ten queues and `finished` succeeded ones.
async fn store(dir: &std::path::Path, queued: i64, finished: i64) -> Arc<dyn easel_db::Store> {
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = easel_db::connect(&url, 8).await.expect("the store opens");
    store.migrate().await.expect("migrations run");
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("a connection");
    for (status, n) in [("queued", queued), ("succeeded", finished)] {
        let finished_at = if status == "queued" { "NULL" } else { "i" };
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
             INSERT INTO jobs (id, queue, kind, payload, status, max_attempts, run_at, created_at, \
             finished_at, updated_at) SELECT '{status}_' || i, 'generation:model-' || (i % 10), \
             'generation.run', '{{}}', '{status}', 3, i, i, {finished_at}, i FROM n"
        );
        sqlx::query(&sql).execute(&mut c).await.expect("rows");
    }
    store
}

fn database(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("metrics_database_statements");
    group.sample_size(30);
    for (name, finished) in [("10k_queued", 0), ("10k_queued_1m_finished", 1_000_000)] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = rt.block_on(store(dir.path(), 10_000, finished));
        group.bench_function(name, |b| {
            b.iter(|| {
                let gauges = rt.block_on(store.gauges(0)).expect("the statements run");
                assert_eq!(gauges.queues.iter().map(|q| q.queued).sum::<i64>(), 10_000);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, middleware, render, database);
criterion_main!(benches);
