//! The engine contract shared by every backend: what a generation asks for, what comes
//! back, and how failures are classified.
//!
//! Cancellation uses [`tokio_util::sync::CancellationToken`] rather than a
//! `watch::Receiver<bool>`: it clones cheaply into blocking encoder threads (where
//! [`CancellationToken::is_cancelled`] can be polled between frames), offers a `cancelled()`
//! future for `tokio::select!`, and supports child tokens, so the server can derive one per
//! job from its shutdown token.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// MIME type of image artifacts.
pub const CONTENT_TYPE_PNG: &str = "image/png";
/// MIME type of video artifacts.
pub const CONTENT_TYPE_MP4: &str = "video/mp4";

/// What a model produces: the domain's own type, so config, store and engines agree.
pub use easel_core::models::ModelKind;

/// One generation as an engine sees it: already validated and priced by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationRequest {
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
    /// Which try this is, starting at 1; lets the sandbox fail the first attempts on purpose.
    pub attempt: u32,
}

/// One finished output, ready to be stored.
#[derive(Clone, PartialEq)]
pub struct Artifact {
    /// The encoded file.
    pub bytes: Vec<u8>,
    /// [`CONTENT_TYPE_PNG`] or [`CONTENT_TYPE_MP4`].
    pub content_type: &'static str,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Length in seconds, for videos.
    pub duration_seconds: Option<f64>,
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
            .finish()
    }
}

/// Why a generation did not produce outputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// A transient failure (backend down, timeout); the queue may try again.
    #[error("engine failed, may retry: {0}")]
    Retryable(String),
    /// A permanent failure (bad input for this backend); retrying will not help.
    #[error("engine failed: {0}")]
    Fatal(String),
    /// The cancellation token fired before the work finished.
    #[error("generation canceled")]
    Canceled,
}

impl EngineError {
    /// Whether the job queue should schedule another attempt.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }
}

/// A model backend.
///
/// Implementations must be cancel-aware: once `cancel` fires they should stop promptly and
/// return [`EngineError::Canceled`]. They must never panic on any request.
#[async_trait]
pub trait Engine: Send + Sync {
    /// Short, stable engine name as used in the config (`"sandbox"`, `"openai"`, …).
    fn name(&self) -> &'static str;

    /// Runs one generation and returns its outputs (possibly none when `n` is 0).
    async fn generate(
        &self,
        req: &GenerationRequest,
        cancel: &CancellationToken,
    ) -> Result<Vec<Artifact>, EngineError>;
}
