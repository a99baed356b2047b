//! A webhook receiver for `scripts/bench-webhooks`: answers `/ok/…` with 200 at once,
//! `/fail/…` with 500, and lets `/slow/…` hang for a minute (longer than any attempt may
//! take); `GET /count` reports the requests per path since start.
//!
//!     cargo run --release --example webhook_sink -- 127.0.0.1:9000

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

async fn hook(State(counts): State<Counts>, uri: Uri) -> StatusCode {
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let counts: Counts = Arc::default();
    let app = axum::Router::new()
        .route("/count", get(count))
        .fallback(hook)
        .with_state(counts);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
