//! `/metrics` end to end: the exposition read by the official Prometheus parser
//! (`prometheus_client` in EASEL_TEST_PYTHON's venv) with every family and its type, the
//! request and generation counters moving with real requests and generations, the queue,
//! hold, delivery and pool figures following the database, a burst of scrapes costing one
//! read of the database, every statement of that read planned without a table scan, and
//! who may scrape: loopback without a token, a proxied or remote peer only with it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use easel_core::mode::Mode;
use easel_server::config::Config;
use easel_test_utils::{Backend, TestDb, both_backends};
use serde_json::{Value, json};

use crate::generations::create;
use crate::support::{TestApp, eventually};
use crate::webhooks::{Receiver, Reply, credit_event, endpoint};
use crate::workers::support::{developer_and_worker, image_body};

/// Reads an exposition with `prometheus_client.parser.text_string_to_metric_families` and
/// prints every family's name and type and every sample, as JSON.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    out[family.name] = {
        "type": family.type,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
print(json.dumps(out))
"#;

/// One sample: its name, labels and value.
type Sample = (String, HashMap<String, String>, f64);

/// A parsed exposition: family name (as the parser names it: a counter without `_total`)
/// to its type and samples.
struct Scrape {
    families: HashMap<String, (String, Vec<Sample>)>,
    text: String,
}

impl Scrape {
    /// The value of the sample `name` with exactly `labels`, if there is one.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.families.values().find_map(|(_, samples)| {
            samples.iter().find_map(|(n, l, v)| {
                (n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, want)| l.get(*k).map(String::as_str) == Some(*want)))
                .then_some(*v)
            })
        })
    }

    /// [`Scrape::value`], 0 when the sample is absent (a counter not yet moved).
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }

    #[track_caller]
    fn expect(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{}", self.text))
    }

    fn kind(&self, family: &str) -> Option<&str> {
        self.families.get(family).map(|(t, _)| t.as_str())
    }
}

/// Parses `text` with the official parser, which fails on anything malformed.
async fn parse(text: String) -> Scrape {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(easel_test_utils::python())
        .arg("-c")
        .arg(PARSE)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("python: {e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    stdin
        .write_all(text.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("write to the parser: {e}"));
    drop(stdin);
    let out = child
        .wait_with_output()
        .await
        .unwrap_or_else(|e| panic!("parser: {e}"));
    assert!(
        out.status.success(),
        "the Prometheus parser refused the exposition (is prometheus_client in EASEL_TEST_PYTHON's venv? run scripts/test):\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("parser output: {e}"));
    let mut families = HashMap::new();
    for (name, family) in parsed.as_object().into_iter().flatten() {
        let samples = family["samples"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let labels = s[1]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                (
                    s[0].as_str().unwrap_or_default().to_string(),
                    labels,
                    s[2].as_f64().unwrap_or(f64::NAN),
                )
            })
            .collect();
        let kind = family["type"].as_str().unwrap_or_default().to_string();
        families.insert(name.clone(), (kind, samples));
    }
    Scrape { families, text }
}

/// `GET /metrics` from loopback without a token; panics unless 200.
async fn scrape(app: &TestApp) -> Scrape {
    let res = app
        .raw(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
    assert_eq!(
        res.status().as_u16(),
        200,
        "a loopback scrape needs no token"
    );
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(res.text().await.unwrap_or_else(|e| panic!("{e}"))).await
}

/// The worker models, and database figures read afresh by every scrape.
fn config(c: &mut Config) {
    crate::workers::support::config(c);
    c.metrics.cache_ms = 0;
    crate::webhooks::quick(c);
}

/// Every family the issue asks for (and those exported before), by parser name and type.
const FAMILIES: &[(&str, &str)] = &[
    ("easel_http_requests", "counter"),
    ("easel_http_request_duration_seconds", "histogram"),
    ("easel_generations", "counter"),
    ("easel_job_run_seconds", "histogram"),
    ("easel_queue_depth", "gauge"),
    ("easel_queue_oldest_seconds", "gauge"),
    ("easel_jobs_running", "gauge"),
    ("easel_database_up", "gauge"),
    ("easel_holds_open", "gauge"),
    ("easel_holds_open_credits", "gauge"),
    ("easel_webhook_deliveries_pending", "gauge"),
    ("easel_webhook_delivery_oldest_seconds", "gauge"),
    ("easel_webhook_attempts", "counter"),
    ("easel_db_pool_connections_in_use", "gauge"),
    ("easel_db_pool_connections_open", "gauge"),
    ("easel_db_pool_connections_max", "gauge"),
    ("easel_ratelimit_rejected", "counter"),
    ("easel_ratelimit_redis_fallbacks", "counter"),
    ("easel_ratelimit_redis_errors", "counter"),
    ("easel_ratelimit_cooldowns", "counter"),
    ("easel_auth_db_lookups", "counter"),
    ("easel_ratelimit_redis_degraded", "gauge"),
    ("easel_ratelimit_memory_buckets", "gauge"),
    ("easel_engine_up", "gauge"),
    ("easel_engine_breaker_open", "gauge"),
    ("easel_engine_breaker_opened", "counter"),
    ("easel_engine_probe_seconds", "gauge"),
    ("easel_engine_misconfigured", "counter"),
    ("easel_engine_breaker_state", "gauge"),
    ("easel_worker_claims", "counter"),
    ("easel_worker_leases", "counter"),
    ("easel_worker_completions", "counter"),
    ("easel_worker_failures", "counter"),
    ("easel_worker_leases_lost", "counter"),
    ("easel_worker_quarantines", "counter"),
    ("easel_workers_online", "gauge"),
    ("easel_workers_quarantined", "gauge"),
    ("easel_metrics_database_reads", "counter"),
];

both_backends!(
    the_exposition_parses_with_every_family_and_its_counters_move,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let before = scrape(&app).await;
        for (family, kind) in FAMILIES {
            assert_eq!(
                before.kind(family),
                Some(*kind),
                "family {family} as {kind}:\n{}",
                before.text
            );
        }
        let posted = [
            ("method", "POST"),
            ("route", "/v1/generations"),
            ("status_class", "2xx"),
        ];
        let sandbox = |status| [("model", "sandbox-image"), ("status", status)];
        assert_eq!(
            before.expect("easel_generations_total", &sandbox("succeeded")),
            0.0,
            "configured models are there from the start"
        );

        // A sandbox generation, waited for; a worker model's, left queued.
        let (key, worker) = developer_and_worker(&app, "metrics-worker").await;
        let body =
            json!({"model": "sandbox-image", "prompt": "a red fox", "width": 256, "height": 256});
        let done = create(&app, &key, body, Some(20)).await.expect(200);
        assert_eq!(done.body["status"], "succeeded");
        let queued = create(&app, &key, image_body(1), None).await.expect(202);
        let held = queued.body["credits"]["estimated"].as_f64().unwrap_or(-1.0);
        // A path no route matches, with a value that must not become a label.
        let stray = app
            .raw(reqwest::Method::GET, "/no/such/route-f3c9a1")
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok();
        assert_eq!(stray, Some(404));

        let after = scrape(&app).await;
        assert_eq!(
            after.count("easel_http_requests_total", &posted)
                - before.count("easel_http_requests_total", &posted),
            2.0,
            "two generations were created"
        );
        let unmatched = [
            ("method", "GET"),
            ("route", "unmatched"),
            ("status_class", "4xx"),
        ];
        assert_eq!(after.count("easel_http_requests_total", &unmatched), 1.0);
        assert!(
            !after.text.contains("route-f3c9a1"),
            "a raw path became a label value:\n{}",
            after.text
        );
        assert!(
            after.count(
                "easel_http_requests_total",
                &[
                    ("method", "GET"),
                    ("route", "/metrics"),
                    ("status_class", "2xx")
                ]
            ) >= 1.0,
            "the first scrape was counted"
        );
        let route = [("route", "/v1/generations")];
        let timed = after.expect("easel_http_request_duration_seconds_count", &route);
        let bucketed = after.expect(
            "easel_http_request_duration_seconds_bucket",
            &[("route", "/v1/generations"), ("le", "+Inf")],
        );
        assert_eq!(timed, 2.0);
        assert_eq!(bucketed, timed, "+Inf holds every observation");

        for (status, n) in [
            ("queued", 1.0),
            ("running", 1.0),
            ("succeeded", 1.0),
            ("failed", 0.0),
        ] {
            assert_eq!(
                after.expect("easel_generations_total", &sandbox(status)),
                n,
                "sandbox-image {status}"
            );
        }
        let gpu = |status| [("model", "gpu-image"), ("status", status)];
        assert_eq!(after.expect("easel_generations_total", &gpu("queued")), 1.0);
        assert_eq!(
            after.expect("easel_generations_total", &gpu("running")),
            0.0
        );
        assert_eq!(
            after.expect("easel_job_run_seconds_count", &[("model", "sandbox-image")]),
            1.0
        );
        let model = [("model", "gpu-image")];
        assert_eq!(after.expect("easel_queue_depth", &model), 1.0);
        assert_eq!(after.expect("easel_jobs_running", &model), 0.0);
        assert!(after.expect("easel_queue_oldest_seconds", &model) >= 0.0);
        assert_eq!(
            after.expect("easel_queue_depth", &[("model", "sandbox-image")]),
            0.0
        );
        assert_eq!(
            after.expect("easel_holds_open", &[]),
            1.0,
            "the queued one's hold"
        );
        assert_eq!(after.expect("easel_holds_open_credits", &[]), held);
        assert_eq!(after.expect("easel_database_up", &[]), 1.0);
        let pools: &[&str] = match db.backend {
            Backend::Sqlite => &["read", "write"],
            Backend::Postgres => &["main"],
        };
        for pool in pools {
            let max = after.expect("easel_db_pool_connections_max", &[("pool", pool)]);
            let open = after.expect("easel_db_pool_connections_open", &[("pool", pool)]);
            let in_use = after.expect("easel_db_pool_connections_in_use", &[("pool", pool)]);
            assert!(
                max >= 1.0 && open <= max && in_use <= open,
                "{pool}: {in_use}/{open}/{max}"
            );
        }

        // A worker takes the queued job: it leaves the queue and runs.
        let lease = worker.lease(&["gpu-image"]).await;
        assert!(lease["lease_id"].is_string(), "{lease}");
        let claimed = scrape(&app).await;
        assert_eq!(claimed.expect("easel_queue_depth", &model), 0.0);
        assert_eq!(claimed.expect("easel_queue_oldest_seconds", &model), 0.0);
        assert_eq!(claimed.expect("easel_jobs_running", &model), 1.0);
        assert_eq!(
            claimed.expect("easel_generations_total", &gpu("running")),
            1.0
        );
        // Presence is read through the workers' own two-second cache.
        let online = eventually(5_000, || async {
            scrape(&app).await.value("easel_workers_online", &model) == Some(1.0)
        })
        .await;
        assert!(online, "the worker shows online");
        assert_eq!(claimed.expect("easel_worker_leases_total", &[]), 1.0);
        app.stop().await;
    }
);

both_backends!(
    a_generation_canceled_while_queued_is_counted_once,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, config).await;
        let (key, _worker) = developer_and_worker(&app, "idle-worker").await;
        let queued = create(&app, &key, image_body(1), None).await.expect(202);
        let id = queued.body["id"].as_str().unwrap_or_default().to_string();
        let path = format!("/v1/generations/{id}/cancel");
        app.post(&path, &key, json!({})).await.expect(200);
        // Canceling again changes nothing and must not count again.
        app.post(&path, &key, json!({})).await.expect(200);
        let s = scrape(&app).await;
        let gpu = |status| [("model", "gpu-image"), ("status", status)];
        assert_eq!(s.expect("easel_generations_total", &gpu("queued")), 1.0);
        assert_eq!(s.expect("easel_generations_total", &gpu("canceled")), 1.0);
        assert_eq!(
            s.expect("easel_queue_depth", &[("model", "gpu-image")]),
            0.0
        );
        assert_eq!(
            s.expect("easel_holds_open", &[]),
            0.0,
            "the hold was released"
        );
        let route = [
            ("method", "POST"),
            ("route", "/v1/generations/{id}/cancel"),
            ("status_class", "2xx"),
        ];
        assert_eq!(s.expect("easel_http_requests_total", &route), 2.0);
        app.stop().await;
    }
);

/// The value of an unlabelled sample or one with `label`, read from the text without the
/// parser (for polling; the parser reads the final scrape).
async fn quick_value(app: &TestApp, series: &str) -> f64 {
    let text = app
        .raw(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

both_backends!(
    webhook_attempts_are_counted_by_result_and_pending_deliveries_follow,
    |db: TestDb| async move {
        // Retries after 3 s and 3 s: a delivery that keeps failing gives up after 6 s.
        let app = TestApp::start_with(&db, |c| {
            config(c);
            c.webhooks.retry_seconds = vec![3, 3];
        })
        .await;
        let (account_id, key) = app.account("hooks-metrics@example.com", "test").await;
        // One receiver fails once then succeeds; one port has nobody listening.
        let flaky = Receiver::start(vec![Reply::Status(500)]).await;
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("port: {e}"));
        endpoint(&app, &key, &flaky.url, json!(["credits.granted"])).await;
        let nobody = format!("http://{closed}/hooks");
        endpoint(&app, &key, &nobody, json!(["credits.granted"])).await;
        credit_event(&app, &account_id, Mode::Test).await;

        let http_error = "easel_webhook_attempts_total{result=\"http_error\"}";
        let network_error = "easel_webhook_attempts_total{result=\"network_error\"}";
        let pending = "easel_webhook_deliveries_pending";
        let failed_once = eventually(2_500, || async {
            quick_value(&app, http_error).await == 1.0
                && quick_value(&app, network_error).await == 1.0
        })
        .await;
        assert!(failed_once, "both first attempts failed");
        assert_eq!(
            quick_value(&app, pending).await,
            2.0,
            "both wait for a retry"
        );
        // The flaky receiver takes the retry; the closed port is tried twice more, then
        // given up.
        flaky.wait_for(2, 10_000).await;
        let settled = eventually(10_000, || async {
            quick_value(&app, network_error).await == 3.0 && quick_value(&app, pending).await == 0.0
        })
        .await;
        let s = scrape(&app).await;
        assert!(settled, "{}", s.text);
        let attempts = |result| s.expect("easel_webhook_attempts_total", &[("result", result)]);
        assert_eq!(
            (
                attempts("success"),
                attempts("http_error"),
                attempts("network_error")
            ),
            (1.0, 1.0, 3.0)
        );
        assert_eq!(s.expect("easel_webhook_delivery_oldest_seconds", &[]), 0.0);
        app.stop().await;
    }
);

both_backends!(
    a_burst_of_scrapes_reads_the_database_once,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| c.metrics.cache_ms = 60_000).await;
        let reads = |s: &Scrape| s.expect("easel_metrics_database_reads_total", &[]);
        let first = scrape(&app).await;
        assert_eq!(reads(&first), 1.0);
        let scrapes = (0..40).map(|_| app.raw(reqwest::Method::GET, "/metrics").send());
        let statuses: Vec<u16> = futures::future::join_all(scrapes)
            .await
            .into_iter()
            .map(|r| r.map(|r| r.status().as_u16()).unwrap_or(0))
            .collect();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        assert_eq!(reads(&scrape(&app).await), 1.0, "all within the cache");
        app.stop().await;

        // With no cache, scrapes racing share the one read in flight.
        let app = TestApp::start_with(&db, |c| c.metrics.cache_ms = 0).await;
        let scrapes = (0..40).map(|_| app.raw(reqwest::Method::GET, "/metrics").send());
        futures::future::join_all(scrapes).await;
        let n = reads(&scrape(&app).await);
        assert!(
            (2.0..=41.0).contains(&n),
            "every scrape reads afresh (the last one included): {n}"
        );
        app.stop().await;
    }
);

/// Whether `plan` (one line per node, as the test prints it) reads a table without an
/// index, or reads a whole index that is not partial.
fn sqlite_full_scans(plan: &[String], partial: &[String]) -> Vec<String> {
    plan.iter()
        .filter(|line| line.starts_with("SCAN "))
        .filter(|line| {
            // `SCAN t USING [COVERING] INDEX i`: the whole of index i.
            let index = line
                .split_once(" INDEX ")
                .map(|(_, rest)| rest.split_whitespace().next().unwrap_or_default());
            index.is_none_or(|i| !partial.iter().any(|p| p == i))
        })
        .cloned()
        .collect()
}

/// Every node of a PostgreSQL JSON plan that scans a table, or all of an index that is
/// not partial.
fn pg_full_scans(node: &Value, partial: &[String], out: &mut Vec<String>) {
    let kind = node["Node Type"].as_str().unwrap_or_default();
    let index = node["Index Name"].as_str().unwrap_or_default();
    let bounded = node.get("Index Cond").is_some() || partial.iter().any(|p| p == index);
    if kind == "Seq Scan" || (kind.contains("Index") && !bounded) {
        out.push(format!("{kind} {index} {}", node["Relation Name"]));
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        pg_full_scans(child, partial, out);
    }
}

/// The full scans in the plan of `sql` (its `$1`, if any, bound to `now`), and the plan.
async fn full_scans(db: &TestDb, sql: &str, now: i64) -> (Vec<String>, String) {
    use sqlx::{Connection, Row};
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .unwrap_or_else(|e| panic!("connect: {e}"));
            let partial: Vec<String> = sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap_or_else(|e| panic!("indexes: {e}"))
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut q = sqlx::query(&explain);
            if sql.contains("$1") {
                q = q.bind(now);
            }
            let plan: Vec<String> = q
                .fetch_all(&mut c)
                .await
                .unwrap_or_else(|e| panic!("explain {sql}: {e}"))
                .iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect();
            (sqlite_full_scans(&plan, &partial), format!("{plan:?}"))
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url)
                .await
                .unwrap_or_else(|e| panic!("connect: {e}"));
            // A test table is tiny, and for a tiny table a scan is the planner's cheapest
            // choice; with scans priced out it still takes one when no index can answer,
            // which is what this looks for.
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("set: {e}"));
            let partial: Vec<String> = sqlx::query(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() \
                 AND indexdef LIKE '% WHERE %'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap_or_else(|e| panic!("indexes: {e}"))
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
            let explain = format!("EXPLAIN (FORMAT JSON) {sql}");
            let mut q = sqlx::query(&explain);
            if sql.contains("$1") {
                q = q.bind(now);
            }
            let row = q
                .fetch_one(&mut c)
                .await
                .unwrap_or_else(|e| panic!("explain {sql}: {e}"));
            let plan: Value = row.get(0);
            let mut scans = Vec::new();
            pg_full_scans(&plan[0]["Plan"], &partial, &mut scans);
            (scans, plan.to_string())
        }
    }
}

both_backends!(
    the_scrape_statements_read_partial_indexes_never_tables,
    |db: TestDb| async move {
        // Migrated, with a little of everything the statements count.
        let app = TestApp::start_with(&db, config).await;
        let (key, _) = developer_and_worker(&app, "plans").await;
        create(&app, &key, image_body(1), None).await.expect(202);
        app.stop().await;
        let now = easel_core::time::now_ms();
        for (name, sql) in easel_db::metrics::QUERIES {
            let (scans, plan) = full_scans(&db, sql, now).await;
            assert!(scans.is_empty(), "{name} scans {scans:?}; plan {plan}");
        }
        // The check bites: counting every hold reads the table or a whole index of it.
        let (scans, plan) = full_scans(&db, "SELECT COUNT(*) FROM holds", now).await;
        assert!(!scans.is_empty(), "a full count passed as indexed: {plan}");
        let (scans, plan) = full_scans(
            &db,
            "SELECT COUNT(*) FROM jobs WHERE status = 'failed'",
            now,
        )
        .await;
        assert!(
            !scans.is_empty(),
            "a count with no partial index passed: {plan}"
        );
    }
);

/// This machine's address on its way out (no packet is sent: a UDP `connect` only picks
/// the route), if it has one that is not loopback.
fn outward_address() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// `GET /metrics` at `base` with `headers`; the status.
async fn status(base: &str, headers: &[(&str, &str)]) -> u16 {
    let mut req = reqwest::Client::new().get(format!("{base}/metrics"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("GET {base}/metrics: {e}"))
}

both_backends!(
    loopback_scrapes_without_a_token_and_anyone_else_needs_it,
    |db: TestDb| async move {
        // Listening on every interface, so a peer can arrive from outside loopback.
        let app = TestApp::start_at(&db, "0.0.0.0:0", |_| {}).await;
        let port = app.url.rsplit(':').next().unwrap_or_default().to_string();
        let local = format!("http://127.0.0.1:{port}");
        let ip = outward_address().unwrap_or_else(|| {
            panic!("this test needs a non-loopback address to reach itself through")
        });
        let remote = format!("http://{}", SocketAddr::new(ip, port.parse().unwrap_or(0)));
        assert_eq!(status(&local, &[]).await, 200);
        assert_eq!(
            status(&remote, &[]).await,
            404,
            "no token: not there for others"
        );
        assert_eq!(
            status(&remote, &[("authorization", "Bearer anything")]).await,
            404
        );
        for header in [
            "x-forwarded-for",
            "forwarded",
            "x-real-ip",
            "via",
            "x-forwarded-proto",
        ] {
            assert_eq!(
                status(&local, &[(header, "203.0.113.9")]).await,
                404,
                "relayed by a local proxy ({header})"
            );
        }
        app.stop().await;

        let app = TestApp::start_at(&db, "0.0.0.0:0", |c| c.metrics.token = "s3cret".into()).await;
        let port = app.url.rsplit(':').next().unwrap_or_default().to_string();
        let local = format!("http://127.0.0.1:{port}");
        let remote = format!("http://{}", SocketAddr::new(ip, port.parse().unwrap_or(0)));
        let right = [("authorization", "Bearer s3cret")];
        let wrong = [("authorization", "Bearer s3cre")];
        assert_eq!(status(&local, &[]).await, 200);
        assert_eq!(
            status(&local, &wrong).await,
            401,
            "a wrong token is refused anywhere"
        );
        assert_eq!(status(&remote, &[]).await, 401);
        assert_eq!(status(&remote, &wrong).await, 401);
        assert_eq!(status(&remote, &right).await, 200);
        assert_eq!(
            status(&local, &[("x-forwarded-for", "203.0.113.9")]).await,
            401
        );
        assert_eq!(
            status(&local, &[("x-forwarded-for", "203.0.113.9"), right[0]]).await,
            200
        );
        let res = app
            .send(
                reqwest::Client::new()
                    .get(format!("{remote}/metrics"))
                    .bearer_auth("nope"),
            )
            .await;
        assert_eq!(res.code(), "invalid_api_key", "the error envelope");
        app.stop().await;

        // Loopback access switched off: the token everywhere.
        let app = TestApp::start_with(&db, |c| c.metrics.loopback = false).await;
        assert_eq!(status(&app.url, &[]).await, 404);
        app.stop().await;
    }
);
