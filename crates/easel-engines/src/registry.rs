//! Building a model's engine from its config: the one place that knows every engine's
//! name, so the server never matches on engine names itself.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::engine::{Engine, EngineError, ModelKind};
use crate::sandbox::{Sandbox, SandboxSettings};

/// Every engine a model may name.
pub const NAMES: &[&str] = &[
    Sandbox::NAME,
    crate::openai::NAME,
    crate::automatic1111::NAME,
    crate::comfyui::NAME,
];

/// Downloads a URL a backend pointed at (OpenAI's DALL·E `url` answers). The server's
/// implementation goes through the same SSRF guard as webhook deliveries.
#[async_trait]
pub trait Fetch: Send + Sync {
    /// GETs `url`, refusing an answer bigger than `max_bytes`.
    async fn get(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, EngineError>;
}

/// What building an engine may need besides its settings.
#[derive(Clone, Default)]
pub struct BuildContext {
    /// The directory of the config file: relative paths in settings (a ComfyUI workflow)
    /// are read from there.
    pub config_dir: PathBuf,
    /// How to download backend-provided URLs; engines that need it refuse to build
    /// without it.
    pub fetch: Option<Arc<dyn Fetch>>,
    /// Largest output accepted, in bytes (also caps downloads).
    pub max_output_bytes: usize,
    /// Whether secret variables must be set. Checking a config (at load, in admin
    /// commands that run no generation) only needs their names: a missing variable then
    /// reads as a placeholder. Serving and probing need the real values.
    pub secrets: Secrets,
}

/// How [`BuildContext::secret`] treats a variable that is not set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Secrets {
    /// Not set: the engine does not build.
    #[default]
    Required,
    /// Not set: a placeholder, for an engine that will never call its backend.
    Placeholder,
}

impl BuildContext {
    /// The value of the secret variable `var`, as [`Secrets`] says.
    #[must_use]
    pub fn secret(&self, var: &str) -> Option<String> {
        match (std::env::var(var).ok(), self.secrets) {
            (Some(value), _) => Some(value),
            (None, Secrets::Required) => None,
            (None, Secrets::Placeholder) => Some("unset".to_owned()),
        }
    }
}

/// The model a settings table belongs to.
#[derive(Debug, Clone, Copy)]
pub struct ModelRef<'a> {
    pub id: &'a str,
    pub kind: ModelKind,
}

/// Builds `engine` for `model` from its `settings` (the model's `settings` table as JSON).
/// The error says which setting is wrong and why; the server refuses to start with it.
pub fn build(
    engine: &str,
    model: ModelRef<'_>,
    settings: &serde_json::Value,
    ctx: &BuildContext,
) -> Result<Arc<dyn Engine>, String> {
    match engine {
        Sandbox::NAME => {
            let settings: SandboxSettings =
                serde_json::from_value(settings.clone()).map_err(|e| e.to_string())?;
            Ok(Arc::new(Sandbox::new(settings)))
        }
        crate::openai::NAME => crate::openai::build(model, settings, ctx),
        crate::automatic1111::NAME => crate::automatic1111::build(model, settings, ctx),
        crate::comfyui::NAME => crate::comfyui::build(model, settings, ctx),
        other => Err(format!(
            "unknown engine `{other}`; engines are: {}",
            NAMES.join(", ")
        )),
    }
}

/// Jobs a backend of `engine` runs at once when the model does not say: AUTOMATIC1111
/// and ComfyUI work one prompt at a time (a global lock, a single queue), so more would
/// only wait there, out of reach of Easel's queue, cancellation and timeouts.
#[must_use]
pub fn default_concurrency(engine: &str) -> u32 {
    match engine {
        crate::automatic1111::NAME | crate::comfyui::NAME => 1,
        crate::openai::NAME => 4,
        _ => 2,
    }
}
