//! The built-in `sandbox` engine: deterministic procedural pictures and short videos.
//!
//! Test keys and the out-of-the-box setup run every generation here, so it must cost
//! nothing, need no network and no GPU, and give the same bytes for the same request (tests
//! and idempotent retries rely on that). Its settings can make it slow or make it fail, so
//! queues, cancellation, timeouts and retries can be exercised for real. Every output carries
//! a visible "SANDBOX" mark and metadata saying it is not AI.
//!
//! Layout: `scene` derives a picture from a hash of the request, `canvas` draws it,
//! `mark` stamps the label, and `png_out` / `video` encode the results.

mod canvas;
mod mark;
mod png_out;
mod render;
mod scene;
mod video;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::engine::{Control, Engine, EngineError, Generated, GenerationRequest, Produced};

pub use png_out::{COMMENT as PNG_COMMENT, SOFTWARE as PNG_SOFTWARE};
pub use render::{DEFAULT_DURATION_SECONDS, DEFAULT_FPS, MAX_SIDE, MAX_VIDEO_FRAMES};
pub use video::TITLE as MP4_TITLE;

/// Operator settings of a sandbox model (the `settings` table of a model in the config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// Milliseconds to wait before producing outputs; cancellation cuts the wait short.
    pub delay_ms: u64,
    /// Attempts `1..=fail_first_attempts` fail with [`EngineError::Transient`].
    pub fail_first_attempts: u32,
    /// Every attempt fails with [`EngineError::Permanent`].
    pub fail_always: bool,
}

/// The sandbox engine. Cheap to construct and to share.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    settings: SandboxSettings,
}

impl Sandbox {
    /// The engine name used in the config.
    pub const NAME: &'static str = "sandbox";

    /// A sandbox engine with the given settings.
    #[must_use]
    pub fn new(settings: SandboxSettings) -> Self {
        Self { settings }
    }

    /// The settings this engine runs with.
    #[must_use]
    pub fn settings(&self) -> &SandboxSettings {
        &self.settings
    }

    /// Waits `delay_ms`, returning early with `Canceled` if the token fires.
    async fn delay(&self, cancel: &CancellationToken) -> Result<(), EngineError> {
        if self.settings.delay_ms == 0 {
            return Ok(());
        }
        tokio::select! {
            () = cancel.cancelled() => Err(EngineError::Canceled),
            () = tokio::time::sleep(Duration::from_millis(self.settings.delay_ms)) => Ok(()),
        }
    }

    /// The configured failure for this attempt, if any.
    fn configured_failure(&self, attempt: u32) -> Option<EngineError> {
        if self.settings.fail_always {
            return Some(EngineError::permanent(
                "sandbox: configured to always fail".to_owned(),
            ));
        }
        // Attempts count from 1; treat a stray 0 as the first attempt.
        let attempt = attempt.max(1);
        (attempt <= self.settings.fail_first_attempts).then(|| {
            EngineError::transient(format!("sandbox: configured to fail attempt {attempt}"))
        })
    }
}

#[async_trait]
impl Engine for Sandbox {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    async fn generate(
        &self,
        req: &GenerationRequest,
        control: &Control,
    ) -> Result<Generated, EngineError> {
        let cancel = &control.cancel;
        if cancel.is_cancelled() {
            return Err(EngineError::Canceled);
        }
        // The delay comes first so that a slow *and* failing model can be configured, like a
        // backend that times out after a while.
        self.delay(cancel).await?;
        if let Some(err) = self.configured_failure(req.attempt) {
            return Err(err);
        }
        // Drawing and encoding are CPU-bound: keep them off the async workers. The blocking
        // task polls the token between images and frames, so it stops soon after a cancel.
        let owned = req.clone();
        let token = cancel.clone();
        let work = tokio::task::spawn_blocking(move || render::generate(&owned, &token));
        let artifacts = tokio::select! {
            () = cancel.cancelled() => Err(EngineError::Canceled),
            joined = work => joined.unwrap_or_else(|err| {
                Err(EngineError::permanent(format!("sandbox: rendering task failed: {err}")))
            }),
        }?;
        control.progress.set(1.0);
        Ok(Generated {
            outputs: artifacts
                .into_iter()
                .map(|a| Produced {
                    bytes: a.bytes,
                    seed: Some(req.seed),
                })
                .collect(),
            usage: None,
        })
    }
}
