//! What the worker tests share: models run by workers, quick lease timing, registering a
//! worker, and a small client of the worker API (a test driver that speaks it by hand,
//! running the real sandbox engine where it must produce outputs).

use easel_core::time::now_ms;
use easel_engines::{Control, Engine, GenerationRequest, Sandbox};
use easel_server::config::Config;
use serde_json::{Value, json};

use crate::support::{Res, TestApp};

/// The metrics token of [`config`].
pub const METRICS_TOKEN: &str = "worker-metrics";

/// Models `gpu-image` (images 64x64 and 96x64, up to 2) and `gpu-video` run by workers,
/// leases of 1.5 s with heartbeats every 300 ms, claims that wait up to 5 s.
pub fn config(c: &mut Config) {
    let mut image = c.models["sandbox-image"].clone();
    image.engine = "worker".into();
    image.description = "worker image model".into();
    image.sizes = vec!["64x64".into(), "96x64".into()];
    image.max_n = 2;
    image.max_attempts = 3;
    image.timeout_seconds = 20;
    image.settings = toml::Table::new();
    let mut video = c.models["sandbox-video"].clone();
    video.engine = "worker".into();
    video.settings = toml::Table::new();
    video.timeout_seconds = 30;
    c.models.insert("gpu-image".into(), image);
    c.models.insert("gpu-video".into(), video);
    let w = &mut c.workers;
    w.lease_ms = 1500;
    w.heartbeat_ms = 300;
    w.poll_ms = 50;
    w.max_claim_wait_ms = 5000;
    c.metrics.token = METRICS_TOKEN.into();
}

/// Registers a worker allowed `models`; returns (worker id, token).
pub async fn register(app: &TestApp, name: &str, models: &[&str]) -> (String, String) {
    let token = easel_core::worker_token::generate(&app.state.config.api_keys.prefix);
    let worker = app
        .state
        .store
        .create_worker(
            easel_db::NewWorker {
                id: easel_core::ids::IdKind::Worker.generate(),
                name: name.into(),
                token_hash: token.hash,
                display_prefix: token.display_prefix,
                models: models.iter().map(|m| m.to_string()).collect(),
                now: now_ms(),
            },
            easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None),
        )
        .await
        .unwrap_or_else(|e| panic!("create worker: {e}"));
    (worker.id, token.secret)
}

/// A worker speaking the worker API by hand.
/// A funded developer's live key, and a worker `name` registered for `gpu-image`.
pub async fn developer_and_worker<'a>(app: &'a TestApp, name: &str) -> (String, Client<'a>) {
    let (_, key) = crate::generations::funded(app, "dev@example.com").await;
    let (_, token) = register(app, name, &["gpu-image"]).await;
    (key, Client { app, token })
}

pub struct Client<'a> {
    pub app: &'a TestApp,
    pub token: String,
}

impl Client<'_> {
    pub async fn claim(&self, models: &[&str], wait_ms: u64) -> Res {
        self.claim_n(models, 1, wait_ms).await
    }

    pub async fn claim_n(&self, models: &[&str], max_jobs: u32, wait_ms: u64) -> Res {
        let body = json!({"models": models, "max_jobs": max_jobs, "wait_ms": wait_ms, "version": "test-driver"});
        self.app
            .call("POST", "/worker/v1/claim", Some(&self.token), Some(body))
            .await
    }

    /// Claims one lease (waiting up to 5 s), panicking if none comes.
    pub async fn lease(&self, models: &[&str]) -> Value {
        let res = self.claim(models, 5000).await.expect(200);
        res.body["leases"][0].clone()
    }

    pub async fn heartbeat(&self, lease: &Value, body: Value) -> Res {
        let path = format!("/worker/v1/leases/{}/heartbeat", id(lease));
        self.app
            .call("POST", &path, Some(&self.token), Some(body))
            .await
    }

    pub async fn complete(&self, lease: &Value, body: Value) -> Res {
        let path = format!("/worker/v1/leases/{}/complete", id(lease));
        self.app
            .call("POST", &path, Some(&self.token), Some(body))
            .await
    }

    pub async fn fail(&self, lease: &Value, body: Value) -> Res {
        let path = format!("/worker/v1/leases/{}/fail", id(lease));
        self.app
            .call("POST", &path, Some(&self.token), Some(body))
            .await
    }

    /// PUTs `bytes` as output `index` of `lease` through Easel.
    pub async fn upload(
        &self,
        lease: &Value,
        index: u32,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Res {
        let path = format!("/worker/v1/leases/{}/outputs/{index}", id(lease));
        let req = self
            .app
            .raw(reqwest::Method::PUT, &path)
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(bytes);
        let res = self.app.send(req).await;
        self.app
            .check("PUT", "/worker/v1/leases/{lease_id}/outputs/{index}", &res);
        res
    }

    /// Runs the lease's request on the real sandbox engine and uploads every output;
    /// returns the completion body naming them.
    pub async fn produce(&self, lease: &Value) -> Value {
        let outputs = render(lease).await;
        let mut named = Vec::new();
        for (index, (bytes, seed)) in (0u32..).zip(outputs) {
            let content_type = if lease["request"]["kind"] == "video" {
                "video/mp4"
            } else {
                "image/png"
            };
            self.upload(lease, index, content_type, bytes)
                .await
                .expect(201);
            named.push(json!({"index": index, "seed": seed}));
        }
        json!({ "outputs": named })
    }
}

/// The sandbox's outputs for a lease's request: (bytes, seed).
pub async fn render(lease: &Value) -> Vec<(Vec<u8>, Option<u64>)> {
    let request: GenerationRequest = serde_json::from_value(lease["request"].clone())
        .unwrap_or_else(|e| panic!("lease request: {e}: {lease}"));
    let control = Control::new(easel_queue::CancellationToken::new());
    let generated = Sandbox::default()
        .generate(&request, &control)
        .await
        .unwrap_or_else(|e| panic!("sandbox: {e}"));
    generated
        .outputs
        .into_iter()
        .map(|p| (p.bytes, p.seed))
        .collect()
}

pub fn id(lease: &Value) -> String {
    lease["lease_id"].as_str().unwrap_or_default().to_string()
}

/// A live image generation of `gpu-image`.
pub fn image_body(n: u32) -> Value {
    json!({"model": "gpu-image", "prompt": "a lighthouse at dusk", "width": 64, "height": 64, "n": n})
}
