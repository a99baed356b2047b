//! The baselines Easel is measured against, each run as its own process of this binary
//! (built with the same release profile as `easel`), and the webhook receiver outside our
//! system (the fake model backends are in `backends`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

async fn serve(listen: SocketAddr, app: axum::Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// A bare axum handler: no authentication, no database, a small JSON answer.
pub async fn bare(listen: SocketAddr) -> anyhow::Result<()> {
    async fn account() -> Json<serde_json::Value> {
        Json(serde_json::json!({"object": "account", "id": "acct_bare", "name": "bare"}))
    }
    serve(listen, axum::Router::new().fallback(account)).await
}

#[derive(Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An axum handler doing one single-row INSERT and its COMMIT per request: SQLite with
/// Easel's settings (WAL, synchronous=NORMAL, one writer connection), or PostgreSQL with
/// Easel's default pool size (16).
pub async fn insert(listen: SocketAddr, database_url: &str) -> anyhow::Result<()> {
    const CREATE: &str = "CREATE TABLE IF NOT EXISTS bench_rows (id TEXT PRIMARY KEY, \
        body TEXT NOT NULL, created_at BIGINT NOT NULL)";
    let db = if database_url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::query(CREATE).execute(&pool).await?;
        Db::Sqlite(pool)
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect(database_url)
            .await?;
        sqlx::query(CREATE).execute(&pool).await?;
        Db::Postgres(pool)
    };
    async fn create(State(db): State<Db>, body: String) -> (StatusCode, String) {
        let id = format!("row_{}", rand::random::<u64>());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let done = match &db {
            Db::Sqlite(pool) => sqlx::query("INSERT INTO bench_rows VALUES (?1, ?2, ?3)")
                .bind(&id)
                .bind(&body)
                .bind(now)
                .execute(pool)
                .await
                .map(|_| ()),
            Db::Postgres(pool) => sqlx::query("INSERT INTO bench_rows VALUES ($1, $2, $3)")
                .bind(&id)
                .bind(&body)
                .bind(now)
                .execute(pool)
                .await
                .map(|_| ()),
        };
        match done {
            Ok(()) => (StatusCode::CREATED, format!("{{\"id\":\"{id}\"}}")),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
    async fn ready() -> StatusCode {
        StatusCode::OK
    }
    let app = axum::Router::new()
        .route("/readyz", get(ready))
        .route("/rows", post(create))
        .with_state(db);
    serve(listen, app).await
}

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

/// A webhook receiver: `/ok/…` answers 200 at once, `/fail/…` 500, `/slow/…` hangs for a
/// minute (past any attempt's timeout); `GET /count` reports requests per path.
pub async fn sink(listen: SocketAddr) -> anyhow::Result<()> {
    async fn hook(State(counts): State<Counts>, uri: Uri, _body: axum::body::Bytes) -> StatusCode {
        let path = uri.path().to_string();
        if let Ok(mut c) = counts.lock() {
            *c.entry(path.clone()).or_default() += 1;
        }
        if path.starts_with("/fail") {
            StatusCode::INTERNAL_SERVER_ERROR
        } else if path.starts_with("/slow") {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK
        } else {
            StatusCode::OK
        }
    }
    async fn count(State(counts): State<Counts>) -> Json<BTreeMap<String, u64>> {
        Json(counts.lock().map(|c| c.clone()).unwrap_or_default())
    }
    let counts: Counts = Arc::default();
    let app = axum::Router::new()
        .route("/count", get(count))
        .fallback(hook)
        .with_state(counts);
    serve(listen, app).await
}

/// What `reqwest_loop` did, printed as JSON for the harness.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct LoopResult {
    pub sent: u64,
    pub ok: u64,
    pub seconds: f64,
}

/// The webhook baseline: `count` signed POSTs of a delivery-sized body to `url` with
/// `concurrency` in flight, by a bare reqwest client (the same client settings as Easel's
/// dispatcher: no redirects, a timeout), signed the Standard Webhooks way.
pub async fn reqwest_loop(url: &str, count: u64, concurrency: usize) -> anyhow::Result<LoopResult> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()?;
    let secret = [7u8; 32];
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, next, ok, url) = (client.clone(), next.clone(), ok.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let id = format!("evt_{n:026}");
                let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
                let body = format!(
                    r#"{{"type":"generation.succeeded","timestamp":"2026-11-24T00:00:00Z","data":{{"object":"generation","id":"gen_{n:026}","status":"succeeded","model":"sandbox-image","prompt":"hook bench {n}","width":256,"height":256,"n":1,"created_at":"2026-11-24T00:00:00Z","started_at":"2026-11-24T00:00:00Z","finished_at":"2026-11-24T00:00:00Z","outputs":[{{"index":0,"url":"http://127.0.0.1/v1/outputs/out_{n:026}?expires=1&sig=0000000000000000000000000000000000000000000000000000000000000000","content_type":"image/png"}}]}}}}"#
                );
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&secret) else {
                    break;
                };
                mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
                let signature = base64::engine::general_purpose::STANDARD
                    .encode(mac.finalize().into_bytes());
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", format!("v1,{signature}"))
                    .body(body)
                    .send()
                    .await;
                if let Ok(response) = sent {
                    let good = response.status().is_success();
                    let _ = response.bytes().await;
                    if good {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    Ok(LoopResult {
        sent: count,
        ok: ok.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
    })
}
