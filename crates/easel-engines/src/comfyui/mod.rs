//! The `comfyui` engine (being built).

use std::sync::Arc;

use crate::engine::Engine;
use crate::registry::{BuildContext, ModelRef};

/// The engine name used in the config.
pub const NAME: &str = "comfyui";

/// Builds the engine of one model.
pub fn build(
    _model: ModelRef<'_>,
    _settings: &serde_json::Value,
    _ctx: &BuildContext,
) -> Result<Arc<dyn Engine>, String> {
    Err("the `comfyui` engine is not available in this build yet".to_owned())
}
