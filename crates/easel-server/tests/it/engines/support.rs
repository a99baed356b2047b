//! What the engine tests share: a model entry for an engine, quick breaker timing, and
//! reading money, metrics and the audit log.

use easel_server::config::{Config, ModelConfig};
use serde_json::Value;

use crate::generations::{create, until};
use crate::support::TestApp;

/// The metrics token of [`quick`] configs.
pub const METRICS_TOKEN: &str = "engine-metrics";

/// An image model on `engine` with `settings`, sizes 64x64 and 96x64, up to 4 outputs.
pub fn image_model(config: &Config, engine: &str, settings: Value) -> ModelConfig {
    let mut model = config.models["sandbox-image"].clone();
    model.engine = engine.to_owned();
    model.description = format!("{engine} test model");
    model.sizes = vec!["64x64".into(), "96x64".into()];
    model.max_n = 4;
    model.concurrency = 0;
    model.max_attempts = 3;
    model.timeout_seconds = 20;
    model.settings = toml::Table::try_from(settings).unwrap_or_else(|e| panic!("settings: {e}"));
    model
}

/// Breakers that open after 3 failures and probe after a second; metrics on.
pub fn quick(config: &mut Config) {
    config.engines.breaker_failures = 3;
    config.engines.breaker_cooldown_seconds = 1;
    config.engines.breaker_max_cooldown_seconds = 2;
    // Health probes only when a breaker asks for one (tests count backend requests).
    config.engines.probe_interval_seconds = 3600;
    config.metrics.token = METRICS_TOKEN.into();
}

/// (balance, held) of the key's account.
pub async fn balance(app: &TestApp, key: &str) -> (i64, i64) {
    let b = app.get("/v1/balance", key).await.expect(200).body;
    (
        b["balance"].as_i64().unwrap_or(-1),
        b["held"].as_i64().unwrap_or(-1),
    )
}

/// The value of a `/metrics` series with `model="<model>"`.
pub async fn metric(app: &TestApp, name: &str, model: &str) -> Option<f64> {
    let res = app
        .raw(reqwest::Method::GET, "/metrics")
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
    let text = res
        .text()
        .await
        .unwrap_or_else(|e| panic!("metrics body: {e}"));
    let prefix = format!("{name}{{model=\"{model}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// The account's audit actions, newest first.
pub async fn audit_actions(app: &TestApp, account_id: &str) -> Vec<String> {
    app.state
        .store
        .list_audit(Some(account_id), easel_db::Page::first(100))
        .await
        .unwrap_or_else(|e| panic!("audit: {e}"))
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// The stored generation (with what the API does not show, such as `engine_usage`).
pub async fn stored(app: &TestApp, account_id: &str, id: &str) -> easel_db::Generation {
    app.state
        .store
        .get_generation(account_id, easel_core::mode::Mode::Live, id)
        .await
        .unwrap_or_else(|e| panic!("generation {id}: {e}"))
}

/// A PNG of `width`×`height`, base64, as `input_image` takes it.
pub fn input_png(width: u32, height: u32) -> (Vec<u8>, String) {
    use base64::Engine as _;
    let bytes = easel_test_utils::fakes::images::png(width, height, 99);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    (bytes, encoded)
}

/// Creates a live generation with `key` and waits for it to end.
pub async fn run(app: &TestApp, key: &str, body: Value) -> Value {
    let created = create(app, key, body, None).await.expect(202).body;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    until(app, key, &id, &["succeeded", "failed", "canceled"]).await
}
