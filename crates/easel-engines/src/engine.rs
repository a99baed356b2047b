//! The engine contract shared by every backend: what a generation asks for, what comes
//! back, and how failures are classified.
//!
//! Cancellation uses [`tokio_util::sync::CancellationToken`] rather than a
//! `watch::Receiver<bool>`: it clones cheaply into blocking encoder threads (where
//! [`CancellationToken::is_cancelled`] can be polled between frames), offers a `cancelled()`
//! future for `tokio::select!`, and supports child tokens, so the server can derive one per
//! job from its shutdown token.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// MIME type of PNG artifacts.
pub const CONTENT_TYPE_PNG: &str = "image/png";
/// MIME type of JPEG artifacts.
pub const CONTENT_TYPE_JPEG: &str = "image/jpeg";
/// MIME type of WebP artifacts.
pub const CONTENT_TYPE_WEBP: &str = "image/webp";
/// MIME type of video artifacts.
pub const CONTENT_TYPE_MP4: &str = "video/mp4";

/// What a model produces: the domain's own type, so config, store and engines agree.
pub use easel_core::models::ModelKind;

/// The image an image-to-image request starts from, already checked by the server
/// (PNG, JPEG or WebP within its size limit).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputImage {
    /// The encoded file. Not serialized: a remote worker fetches it by signed URL.
    #[serde(skip)]
    pub bytes: bytes::Bytes,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
}

impl InputImage {
    /// The file extension that matches the content type (`png` when unknown).
    #[must_use]
    pub fn extension(&self) -> &'static str {
        match self.content_type.as_str() {
            CONTENT_TYPE_JPEG => "jpg",
            CONTENT_TYPE_WEBP => "webp",
            _ => "png",
        }
    }
}

impl std::fmt::Debug for InputImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputImage")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// One generation as an engine sees it: already validated and priced by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationRequest {
    /// The generation's id (`gen_…`): engines derive their backend-side ids from it
    /// (ComfyUI `prompt_id`, A1111 `force_task_id`), so a retry is recognisable.
    #[serde(default)]
    pub id: String,
    /// Model id from the operator's config; part of the sandbox's determinism key.
    pub model: String,
    /// Image or video.
    pub kind: ModelKind,
    /// The user's prompt.
    pub prompt: String,
    /// What the user does not want to see.
    pub negative_prompt: Option<String>,
    /// Output width in pixels.
    pub width: u32,
    /// Output height in pixels.
    pub height: u32,
    /// Number of outputs for images; videos always produce one.
    pub n: u32,
    /// Seed chosen by the user or the server.
    pub seed: u64,
    /// Video length in seconds (video only).
    pub duration_seconds: Option<u32>,
    /// Video frame rate (video only).
    pub fps: Option<u32>,
    /// The start image of an image-to-image request.
    #[serde(default)]
    pub input_image: Option<InputImage>,
    /// Which try this is, starting at 1; lets the sandbox fail the first attempts on purpose.
    pub attempt: u32,
}

/// One output as the backend returned it: bytes and the seed it used. Its type, size and
/// length are read from the bytes by [`crate::check`], never taken from the backend.
#[derive(Clone, PartialEq, Eq)]
pub struct Produced {
    /// The encoded file.
    pub bytes: Vec<u8>,
    /// The seed the backend says it used for this output, when it says.
    pub seed: Option<u64>,
}

impl std::fmt::Debug for Produced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Produced")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("seed", &self.seed)
            .finish()
    }
}

/// What a successful run returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Generated {
    /// The outputs in order.
    pub outputs: Vec<Produced>,
    /// What the backend reported it spent (OpenAI's `usage` block), recorded on the
    /// generation so the operator sees the upstream cost.
    pub usage: Option<serde_json::Value>,
}

/// One finished output, checked and ready to be stored.
#[derive(Clone, PartialEq)]
pub struct Artifact {
    /// The encoded file.
    pub bytes: Vec<u8>,
    /// Read from the bytes: one of the `CONTENT_TYPE_*` constants.
    pub content_type: &'static str,
    /// Width in pixels, read from the bytes.
    pub width: u32,
    /// Height in pixels, read from the bytes.
    pub height: u32,
    /// Length in seconds, for videos, read from the bytes.
    pub duration_seconds: Option<f64>,
    /// The seed the backend used for this output, when it says.
    pub seed: Option<u64>,
}

impl std::fmt::Debug for Artifact {
    // The bytes can be megabytes: show their length, not their content.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifact")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("content_type", &self.content_type)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("duration_seconds", &self.duration_seconds)
            .field("seed", &self.seed)
            .finish()
    }
}

/// Where a backend refused content: the prompt (input) or what it made (output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalStage {
    Input,
    Output,
}

/// Why a generation did not produce outputs, classified once for every engine.
///
/// `detail` is for the server log only: it may hold backend URLs, file paths or raw
/// answers. `reason` is what a developer may read, and the server still passes it through
/// [`scrub`] before showing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Connection refused, timeout, 5xx, 429: the backend may answer later. Retried with
    /// backoff, no sooner than `retry_after` when the backend said so.
    #[error("backend unavailable: {detail}")]
    Transient {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// A 4xx the backend will answer the same way again. Not retried.
    #[error("backend rejected the request: {detail}")]
    Permanent { detail: String, reason: String },
    /// The backend's own safety system refused the prompt or its output. No charge.
    #[error("backend refused the content ({stage:?}): {detail}")]
    Refused {
        stage: RefusalStage,
        categories: Vec<String>,
        detail: String,
    },
    /// The backend is set up wrong (401/403, unknown checkpoint or node). Not retried;
    /// the operator must act.
    #[error("backend misconfigured: {detail}")]
    Misconfigured { detail: String },
    /// The backend answered, but its output failed the checks (empty, oversized,
    /// undecodable, wrong size). A failed attempt: retried.
    #[error("backend output refused: {detail}")]
    BadOutput { detail: String, reason: String },
    /// The cancellation token fired before the work finished.
    #[error("generation canceled")]
    Canceled,
}

impl EngineError {
    /// A transient failure without a `Retry-After`.
    pub fn transient(detail: impl Into<String>) -> EngineError {
        EngineError::Transient {
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// A permanent failure whose detail is also a fair reason to show (after [`scrub`]).
    pub fn permanent(detail: impl Into<String>) -> EngineError {
        let detail = detail.into();
        EngineError::Permanent {
            reason: detail.clone(),
            detail,
        }
    }

    /// A permanent failure with a separate public reason.
    pub fn permanent_because(reason: impl Into<String>, detail: impl Into<String>) -> EngineError {
        EngineError::Permanent {
            detail: detail.into(),
            reason: reason.into(),
        }
    }

    /// A misconfigured backend.
    pub fn misconfigured(detail: impl Into<String>) -> EngineError {
        EngineError::Misconfigured {
            detail: detail.into(),
        }
    }

    /// An output that failed its checks; `reason` is safe to show.
    pub fn bad_output(reason: impl Into<String>) -> EngineError {
        let reason = reason.into();
        EngineError::BadOutput {
            detail: reason.clone(),
            reason,
        }
    }

    /// Whether the job queue should schedule another attempt.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::BadOutput { .. })
    }

    /// The log-only detail.
    #[must_use]
    pub fn detail(&self) -> &str {
        match self {
            Self::Transient { detail, .. }
            | Self::Permanent { detail, .. }
            | Self::Refused { detail, .. }
            | Self::Misconfigured { detail }
            | Self::BadOutput { detail, .. } => detail,
            Self::Canceled => "canceled",
        }
    }
}

/// Makes backend text fit for a developer: drops URLs, absolute paths, host:port pairs,
/// IP addresses and anything shaped like a credential, collapses whitespace and caps the
/// length. Engines build public reasons from known-safe parts; this is the second line.
#[must_use]
pub fn scrub(text: &str) -> String {
    const MAX_CHARS: usize = 300;
    let mut words = Vec::new();
    for word in text.split_whitespace() {
        let bare = word.trim_matches(|c: char| "\"'`()[]{}<>,;".contains(c));
        let lower = bare.to_ascii_lowercase();
        let hidden = lower.contains("://")
            || lower.starts_with("www.")
            || bare.starts_with('/')
            || bare.starts_with('~')
            || bare.contains("\\")
            || bare.contains("/")
            || looks_like_host(bare)
            || looks_like_secret(bare);
        words.push(if hidden { "[redacted]" } else { word });
    }
    let mut out = words.join(" ");
    if out.chars().count() > MAX_CHARS {
        out = out.chars().take(MAX_CHARS).collect::<String>() + "…";
    }
    out
}

/// `10.0.0.5`, `gpu-1.internal:8188`, `[::1]:7860`, `comfy.local`.
fn looks_like_host(word: &str) -> bool {
    let w = word.trim_end_matches(['.', ':']);
    if w.parse::<std::net::IpAddr>().is_ok() || w.parse::<std::net::SocketAddr>().is_ok() {
        return true;
    }
    if w.contains(':') && w.chars().filter(|c| *c == ':').count() >= 2 {
        return true; // bare IPv6
    }
    let (host, port) = w.rsplit_once(':').unwrap_or((w, ""));
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !host.is_empty() {
        return true;
    }
    // A dotted name whose last label is a letter-only TLD-like word and that has no
    // spaces: `api.openai.com`, `gpu.internal`. File names like `model.safetensors` are
    // hidden too, which is the point (they are server-local).
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && labels
            .last()
            .is_some_and(|l| l.len() >= 2 && l.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// Long tokens of mixed letters and digits (keys, bearer tokens) and `sk-…` style keys.
fn looks_like_secret(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    if lower.starts_with("sk-") || lower.starts_with("bearer") || lower.starts_with("basic") {
        return true;
    }
    let alnum = word.chars().filter(char::is_ascii_alphanumeric).count();
    let digits = word.chars().filter(char::is_ascii_digit).count();
    word.len() >= 24 && alnum * 10 >= word.len() * 8 && digits > 0 && digits < alnum
}

/// Progress of a run, 0.0 to 1.0, written by the engine and read by whoever watches
/// (the job runner, a worker's heartbeat). Cheap to clone; lock-free.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<AtomicU32>);

impl Progress {
    /// Records progress, clamped to 0..=1; progress never goes backwards.
    pub fn set(&self, fraction: f32) {
        let value = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                (value > f32::from_bits(old)).then_some(value.to_bits())
            });
    }

    /// The last progress recorded.
    #[must_use]
    pub fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Acquire))
    }
}

/// What a running generation gets besides its request: the cancel token and where to
/// report progress.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Fires when the generation is canceled or its lease is lost: stop promptly.
    pub cancel: CancellationToken,
    /// Where to report progress.
    pub progress: Progress,
}

impl Control {
    /// A control with `cancel` and fresh progress.
    #[must_use]
    pub fn new(cancel: CancellationToken) -> Control {
        Control {
            cancel,
            progress: Progress::default(),
        }
    }
}

/// What a health probe found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    /// The backend's version, when it says.
    pub version: Option<String>,
    /// Facts worth printing (`checkpoint present: v1-5.safetensors`, `node SaveImage ok`).
    pub facts: Vec<String>,
    /// Problems that will make generations fail (a missing checkpoint or node).
    pub problems: Vec<String>,
}

/// A model backend.
///
/// Implementations must be cancel-aware: once `control.cancel` fires they should stop
/// promptly (and stop the backend's work where it can be stopped) and return
/// [`EngineError::Canceled`]. They must never panic on any request or any answer.
#[async_trait]
pub trait Engine: Send + Sync {
    /// Short, stable engine name as used in the config (`"sandbox"`, `"openai"`, …).
    fn name(&self) -> &'static str;

    /// Runs one generation and returns its raw outputs (possibly none when `n` is 0);
    /// the caller checks them with [`crate::check`].
    async fn generate(
        &self,
        req: &GenerationRequest,
        control: &Control,
    ) -> Result<Generated, EngineError>;

    /// Asks the backend whether it is up and set up as configured. Used by the breaker
    /// (any `Err` keeps it open) and by `easel admin engines check`.
    async fn probe(&self) -> Result<ProbeReport, EngineError> {
        Ok(ProbeReport::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_urls_paths_hosts_and_keys() {
        let raw = "Connection to http://10.0.0.5:8188/prompt failed: [Errno 2] No such file \
                   /home/gpu/models/v1-5.safetensors on gpu-1.internal:7860 with key \
                   sk-proj-abcdef0123456789abcdef and C:\\models\\x.ckpt at 192.168.1.9";
        let out = scrub(raw);
        for leak in [
            "10.0.0.5",
            "/home",
            "gpu-1",
            "sk-proj",
            "C:",
            "192.168",
            "safetensors",
        ] {
            assert!(!out.contains(leak), "{leak} leaked: {out}");
        }
        assert!(out.contains("No such file"), "{out}");
        assert_eq!(scrub("Sampler not found"), "Sampler not found");
    }

    #[test]
    fn scrub_caps_the_length() {
        let out = scrub(&"word ".repeat(500));
        assert!(out.chars().count() <= 301, "{}", out.len());
    }

    #[test]
    fn progress_is_clamped_and_monotonic() {
        let p = Progress::default();
        p.set(0.5);
        p.set(0.25);
        assert_eq!(p.get(), 0.5);
        p.set(7.0);
        assert_eq!(p.get(), 1.0);
        let q = Progress::default();
        q.set(f32::NAN);
        assert_eq!(q.get(), 0.0);
    }

    #[test]
    fn only_transient_and_bad_output_are_retried() {
        assert!(EngineError::transient("x").is_retryable());
        assert!(EngineError::bad_output("x").is_retryable());
        assert!(!EngineError::permanent("x").is_retryable());
        assert!(!EngineError::misconfigured("x").is_retryable());
        assert!(!EngineError::Canceled.is_retryable());
    }
}
