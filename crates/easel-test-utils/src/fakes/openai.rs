//! A fake OpenAI-compatible images API (FIELD-NOTES.md §3): `POST /v1/images/generations`
//! (JSON), `POST /v1/images/edits` (multipart), `GET /v1/models`, and `GET /files/<name>`
//! for DALL·E-style `url` answers.
//!
//! It answers the way OpenAI does: `b64_json` for GPT image models, a URL for DALL·E
//! unless `response_format=b64_json`, a `usage` block for GPT image models, `"WxH"` PNGs
//! of the asked size, and OpenAI's error envelope (`{"error":{message,type,param,code}}`)
//! for a missing or wrong key (401), an unknown model (404 `model_not_found`), missing or
//! unknown parameters and unsupported image types (400). It records what it received
//! (JSON bodies, multipart fields, the uploaded image) and counts requests whose client
//! went away before the answer (a cancel). [`Fault`]s queued with [`FakeOpenAi::push`]
//! make the next `/v1/*` requests misbehave, one fault per request.
//!
//! The official `openai` SDK (3.54.0, the pinned test venv) reads its answers and errors
//! as OpenAI's: generate, edit, models, `moderation_blocked` with its details,
//! `model_not_found`, `invalid_api_key`, URL answers (checked by hand while writing it).
//!
//! `FakeOpenAiConfig::instant()` records nothing and reuses its encoded pictures, so a
//! benchmark pays next to nothing per request.

mod answers;
mod handlers;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use serde_json::Value;

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct FakeOpenAiConfig {
    /// The key clients must send as `Authorization: Bearer …`; `None` accepts anyone.
    pub api_key: Option<String>,
    /// Models it knows; others get 404 `model_not_found`.
    pub models: Vec<String>,
    /// Whether to keep every request for [`FakeOpenAi::received`].
    pub record: bool,
}

impl Default for FakeOpenAiConfig {
    fn default() -> Self {
        FakeOpenAiConfig {
            api_key: None,
            models: ["gpt-image-1", "gpt-image-1-mini", "dall-e-2", "dall-e-3"]
                .map(str::to_owned)
                .to_vec(),
            record: true,
        }
    }
}

impl FakeOpenAiConfig {
    /// Requires `key` on every `/v1/*` request.
    #[must_use]
    pub fn with_key(key: &str) -> Self {
        FakeOpenAiConfig {
            api_key: Some(key.to_owned()),
            ..Self::default()
        }
    }

    /// For benchmarks: no recording, any key accepted.
    #[must_use]
    pub fn instant() -> Self {
        FakeOpenAiConfig {
            record: false,
            ..Self::default()
        }
    }
}

/// One way to misbehave, used by the next `/v1/*` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 503 with `Retry-After: <seconds>` and a `server_error` envelope.
    Unavailable { retry_after_secs: u64 },
    /// 429 `rate_limit_exceeded` with `retry-after-ms`.
    RateLimited { retry_after_ms: u64 },
    /// Any status and envelope, plus extra headers (`x-should-retry`, …).
    Error {
        status: u16,
        kind: String,
        code: Option<String>,
        param: Option<String>,
        message: String,
        headers: Vec<(String, String)>,
    },
    /// GPT image `moderation_blocked`; without a stage only the message names categories.
    Moderation {
        stage: Option<String>,
        categories: Vec<String>,
    },
    /// DALL·E `content_policy_violation`.
    ContentPolicy,
    /// 401 `invalid_api_key`, whatever key was sent.
    InvalidApiKey,
    /// 404 `model_not_found`, whatever model was asked.
    ModelNotFound,
    /// 200 with a proxy's HTML page.
    Html,
    /// 502 with a proxy's HTML page.
    BadGatewayHtml,
    /// 200 with JSON cut in the middle.
    TruncatedJson,
    /// 200 with `data: []`.
    NoImages,
    /// 200 with OpenAI's error envelope instead of images (some gateways do this).
    OkWithError,
    /// Images of this size instead of the asked one.
    WrongSize { width: u32, height: u32 },
    /// One image of this many bytes.
    Huge { bytes: usize },
    /// Valid base64 of bytes that are no image.
    NotAnImage,
    /// `b64_json` that is not base64.
    BadBase64,
    /// Answers with URLs even when base64 was asked.
    UrlAnswer,
    /// Answers normally after this long.
    Slow(Duration),
    /// Never answers (until the client goes away).
    Hang,
}

/// What a `/v1/*` request carried.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// `generations`, `edits` or `models`.
    pub endpoint: String,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// `X-Client-Request-Id`, which clients may set to their own id.
    pub client_request_id: Option<String>,
    /// The JSON body of a generations request.
    pub json: Option<Value>,
    /// The text fields of an edits request.
    pub fields: BTreeMap<String, String>,
    /// The `image` file of an edits request.
    pub image: Option<ReceivedFile>,
}

/// An uploaded file.
#[derive(Debug, Clone, Default)]
pub struct ReceivedFile {
    /// The part's file name.
    pub filename: Option<String>,
    /// The part's `Content-Type`.
    pub content_type: Option<String>,
    /// The file's content.
    pub bytes: Vec<u8>,
}

#[derive(Default)]
struct Shared {
    config: FakeOpenAiConfig,
    addr: Option<SocketAddr>,
    faults: Mutex<VecDeque<Fault>>,
    /// Faults of `GET /v1/models` (a health probe), kept apart so a probe never takes a
    /// fault meant for an image request.
    model_faults: Mutex<VecDeque<Fault>>,
    received: Mutex<Vec<Received>>,
    files: Mutex<HashMap<String, Vec<u8>>>,
    pictures: Mutex<HashMap<(u32, u32, usize), Arc<str>>>,
    requests: AtomicUsize,
    aborted: AtomicUsize,
}

type St = Arc<Shared>;

/// A running fake; stops (gracefully) when dropped.
pub struct FakeOpenAi {
    addr: SocketAddr,
    shared: St,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Starts a fake on `127.0.0.1:0`.
pub async fn start(config: FakeOpenAiConfig) -> std::io::Result<(SocketAddr, FakeOpenAi)> {
    start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
}

/// Starts a fake on `addr` (a benchmark may want a fixed port).
pub async fn start_on(
    addr: SocketAddr,
    config: FakeOpenAiConfig,
) -> std::io::Result<(SocketAddr, FakeOpenAi)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        config,
        addr: Some(addr),
        ..Shared::default()
    });
    let app = axum::Router::new()
        .route("/v1/images/generations", post(handlers::generations))
        .route("/v1/images/edits", post(handlers::edits))
        .route("/v1/models", get(handlers::models))
        .route("/files/{name}", get(handlers::file))
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(shared.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    let fake = FakeOpenAi {
        addr,
        shared,
        stop: Some(stop),
    };
    Ok((addr, fake))
}

impl FakeOpenAi {
    /// `http://127.0.0.1:<port>/v1`, what `base_url` should be.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues `fault` for the next `GET /v1/models` (a health probe).
    pub fn push_models(&self, fault: Fault) {
        if let Ok(mut faults) = self.shared.model_faults.lock() {
            faults.push_back(fault);
        }
    }

    /// Image requests (generations and edits) received, probes not counted.
    #[must_use]
    pub fn image_requests(&self) -> usize {
        self.received()
            .iter()
            .filter(|r| r.endpoint != "models")
            .count()
    }

    /// Queues `fault` for the next image request (generations or edits).
    pub fn push(&self, fault: Fault) {
        self.push_n(1, fault);
    }

    /// Queues `fault` for each of the next `n` requests.
    pub fn push_n(&self, n: usize, fault: Fault) {
        if let Ok(mut faults) = self.shared.faults.lock() {
            faults.extend(std::iter::repeat_n(fault, n));
        }
    }

    /// Every recorded request, oldest first.
    #[must_use]
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// How many `/v1/*` requests arrived (counted even when not recording).
    #[must_use]
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// How many requests lost their client before they were answered.
    #[must_use]
    pub fn aborted(&self) -> usize {
        self.shared.aborted.load(Ordering::SeqCst)
    }

    /// Waits until `count(self) >= at_least`, up to `within`; says whether it happened.
    pub async fn wait_until(
        &self,
        within: Duration,
        at_least: usize,
        count: impl Fn(&FakeOpenAi) -> usize,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while count(self) < at_least {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
