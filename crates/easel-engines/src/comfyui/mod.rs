//! The `comfyui` engine: runs an operator's API-format ComfyUI workflow, for images and
//! videos (FIELD-NOTES.md §1).
//!
//! A run uploads the input image (`/upload/image`, answer field `name`), fills a copy of
//! the workflow through the bindings, opens `/ws?clientId=…` *before* posting `/prompt`
//! (so no event is missed), follows the run (see [`run`]), then fetches every output file
//! with `/view`. Ids are Easel's own: the `prompt_id` is a UUID derived from the
//! generation id, the attempt and the run index, so a re-post is recognisable.
//!
//! `n` images: with a `batch_size` binding, one prompt makes the whole batch and every
//! image reports the bound seed (ComfyUI draws a batch's noise from that one seed);
//! without one, one prompt per image with seeds `seed`, `seed + 1`, … so each image's seed
//! reproduces it on its own.

mod client;
mod outputs;
mod probe;
mod run;
mod wire;
mod workflow;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::engine::{
    Control, Engine, EngineError, Generated, GenerationRequest, InputImage, ModelKind, ProbeReport,
    Produced,
};
use crate::registry::{BuildContext, ModelRef};
use client::Client;
pub use workflow::{Bindings, OUTPUT_CLASSES};
use workflow::{Values, Workflow};

/// The engine name used in the config.
pub const NAME: &str = "comfyui";

/// Largest output accepted when the server does not say.
const DEFAULT_MAX_OUTPUT_BYTES: usize = 50 * 1024 * 1024;

/// A model's `settings` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComfyUiSettings {
    /// `http://gpu-box:8188`; a path prefix is kept (a reverse proxy).
    pub base_url: String,
    /// The API-format workflow JSON, relative to the config file's directory.
    pub workflow: String,
    /// Which node input receives each request value.
    pub bindings: Bindings,
    /// Collect outputs only from these nodes (default: every saving node).
    #[serde(default)]
    pub output_nodes: Vec<String>,
    /// Headers for a proxy in front of ComfyUI: header name → the *name* of the
    /// environment variable holding its value.
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
    /// How often `/history` is polled when the websocket is gone.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
}

fn default_poll_ms() -> u64 {
    1_000
}

/// Builds the engine of one model: the workflow is read and checked here.
pub fn build(
    model: ModelRef<'_>,
    settings: &Value,
    ctx: &BuildContext,
) -> Result<Arc<dyn Engine>, String> {
    let settings: ComfyUiSettings =
        serde_json::from_value(settings.clone()).map_err(|e| format!("comfyui settings: {e}"))?;
    Ok(Arc::new(ComfyUi::new(model, settings, ctx)?))
}

/// One model served by one ComfyUI server.
pub struct ComfyUi {
    model: String,
    kind: ModelKind,
    workflow_file: String,
    workflow: Workflow,
    client: Client,
    poll: Duration,
}

impl std::fmt::Debug for ComfyUi {
    // No base URL and no header values: Debug output ends up in logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComfyUi")
            .field("model", &self.model)
            .field("kind", &self.kind)
            .field("workflow", &self.workflow_file)
            .field("output_nodes", &self.workflow.output_nodes())
            .finish_non_exhaustive()
    }
}

impl ComfyUi {
    /// Checks `settings` and reads the workflow.
    pub fn new(
        model: ModelRef<'_>,
        settings: ComfyUiSettings,
        ctx: &BuildContext,
    ) -> Result<ComfyUi, String> {
        let base = crate::http::base_url(&settings.base_url)?;
        let path = ctx.config_dir.join(&settings.workflow);
        let workflow = Workflow::load(
            &path,
            &settings.workflow,
            &settings.bindings,
            &settings.output_nodes,
        )?;
        let headers = client::headers_from_env(&settings.headers_env, |var| ctx.secret(var))?;
        let max_output = match ctx.max_output_bytes {
            0 => DEFAULT_MAX_OUTPUT_BYTES,
            n => n,
        };
        Ok(ComfyUi {
            model: model.id.to_owned(),
            kind: model.kind,
            workflow_file: settings.workflow,
            workflow,
            client: Client::new(base, headers, max_output)?,
            poll: Duration::from_millis(settings.poll_interval_ms.max(10)),
        })
    }

    /// Refuses what this workflow cannot do before anything is sent.
    fn check_request(&self, req: &GenerationRequest) -> Result<(), EngineError> {
        let takes_image = self.workflow.bound.input_image.is_some();
        match (&req.input_image, takes_image) {
            (Some(_), false) => Err(EngineError::permanent(format!(
                "model `{}` does not take an input image",
                self.model
            ))),
            (None, true) => Err(EngineError::permanent(format!(
                "model `{}` needs an input image",
                self.model
            ))),
            _ => Ok(()),
        }
    }

    /// Uploads the input image under a name derived from the generation, so a retry
    /// overwrites instead of piling up copies; returns the value for `LoadImage.image`.
    async fn upload(
        &self,
        req: &GenerationRequest,
        image: &InputImage,
    ) -> Result<String, EngineError> {
        let stem: String = req
            .id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        let stem = if stem.is_empty() {
            prompt_id(req, 0)
        } else {
            stem
        };
        let name = format!("easel-{stem}.{}", image.extension());
        let uploaded = self.client.upload_image(&name, image).await?;
        if uploaded.kind != "input" && !uploaded.kind.is_empty() {
            tracing::warn!(upload.kind = %uploaded.kind, "comfyui: upload stored outside `input`");
        }
        Ok(if uploaded.subfolder.is_empty() {
            uploaded.name
        } else {
            format!("{}/{}", uploaded.subfolder, uploaded.name)
        })
    }

    /// The prompts one generation queues: `(seed, batch size)` each.
    fn plan(&self, req: &GenerationRequest) -> Vec<(u64, u32)> {
        if req.n == 0 {
            return Vec::new();
        }
        if self.kind == ModelKind::Video {
            return vec![(req.seed, 1)];
        }
        if self.workflow.bound.batch_size.is_some() {
            return vec![(req.seed, req.n)];
        }
        (0..req.n)
            .map(|i| (req.seed.wrapping_add(u64::from(i)), 1))
            .collect()
    }

    /// Queues one prompt, follows it and downloads its outputs.
    async fn run_one(
        &self,
        req: &GenerationRequest,
        (seed, batch): (u64, u32),
        image: Option<&str>,
        span: run::Span,
        control: &Control,
    ) -> Result<Vec<Produced>, EngineError> {
        let frames = req
            .duration_seconds
            .zip(req.fps)
            .map(|(d, f)| d.saturating_mul(f));
        let graph = self.workflow.fill(&Values {
            prompt: &req.prompt,
            negative_prompt: req.negative_prompt.as_deref().unwrap_or_default(),
            seed,
            width: req.width,
            height: req.height,
            batch_size: batch,
            input_image: image,
            frames,
            fps: req.fps,
            duration: req.duration_seconds,
        });
        let prompt_id = prompt_id(req, span.index);
        let client_id = format!("easel-{prompt_id}");
        let socket = match self.client.connect(&client_id).await {
            Ok(socket) => Some(socket),
            Err(detail) => {
                tracing::warn!(model = %self.model, %detail, "comfyui: no websocket, polling /history");
                None
            }
        };
        if control.cancel.is_cancelled() {
            return Err(EngineError::Canceled);
        }
        let accepted = self
            .client
            .post_prompt(&wire::PromptRequest {
                prompt: &graph,
                client_id: &client_id,
                prompt_id: &prompt_id,
            })
            .await?;
        if accepted
            .node_errors
            .as_object()
            .is_some_and(|errors| !errors.is_empty())
        {
            tracing::warn!(model = %self.model, node_errors = %accepted.node_errors,
                "comfyui: some outputs of the workflow failed validation; the rest were queued");
        }
        let entry = run::follow(
            &self.client,
            socket,
            &accepted.prompt_id,
            control,
            span,
            self.poll,
        )
        .await?;
        let files = outputs::files(&entry, self.workflow.output_nodes(), self.kind);
        self.download(
            files,
            batch,
            self.workflow.bound.seed.as_ref().map(|_| seed),
            control,
        )
        .await
    }

    /// Fetches the first `expected` files; fewer is a bad output.
    async fn download(
        &self,
        files: Vec<wire::FileRef>,
        expected: u32,
        seed: Option<u64>,
        control: &Control,
    ) -> Result<Vec<Produced>, EngineError> {
        let expected = expected as usize;
        if files.len() < expected {
            let what = match self.kind {
                ModelKind::Image => "images",
                ModelKind::Video => "videos",
            };
            return Err(EngineError::bad_output(format!(
                "the backend returned {} {what} of the {expected} expected",
                files.len()
            )));
        }
        let mut produced = Vec::with_capacity(expected);
        for file in files.iter().take(expected) {
            let bytes = tokio::select! {
                () = control.cancel.cancelled() => return Err(EngineError::Canceled),
                bytes = self.client.view(file) => bytes?,
            };
            produced.push(Produced { bytes, seed });
        }
        Ok(produced)
    }
}

/// A canonical lowercase UUID (version 8: custom) from the generation id, the attempt and
/// the run index: the same try re-posted gets the same id, another try a new one.
fn prompt_id(req: &GenerationRequest, index: u32) -> String {
    let mut hash = Sha256::new();
    hash.update(req.id.as_bytes());
    if req.id.is_empty() {
        // Without an id two requests would share prompts; make this one unique.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        hash.update(nanos.to_le_bytes());
    }
    hash.update(b"\n");
    hash.update(req.attempt.to_le_bytes());
    hash.update(index.to_le_bytes());
    let digest = hash.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[async_trait]
impl Engine for ComfyUi {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn generate(
        &self,
        req: &GenerationRequest,
        control: &Control,
    ) -> Result<Generated, EngineError> {
        if control.cancel.is_cancelled() {
            return Err(EngineError::Canceled);
        }
        self.check_request(req)?;
        let image = match &req.input_image {
            Some(input) => Some(self.upload(req, input).await?),
            None => None,
        };
        let plan = self.plan(req);
        let count = u32::try_from(plan.len()).unwrap_or(u32::MAX);
        let mut outputs = Vec::new();
        for (index, prompt) in (0..count).zip(plan) {
            let span = run::Span { index, count };
            let produced = self
                .run_one(req, prompt, image.as_deref(), span, control)
                .await?;
            outputs.extend(produced);
        }
        control.progress.set(1.0);
        Ok(Generated {
            outputs,
            usage: None,
        })
    }

    async fn probe(&self) -> Result<ProbeReport, EngineError> {
        probe::probe(&self.client, &self.workflow).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_ids_are_canonical_and_deterministic() {
        let req = GenerationRequest {
            id: "gen_01J".to_owned(),
            model: "m".to_owned(),
            kind: ModelKind::Image,
            prompt: "p".to_owned(),
            negative_prompt: None,
            width: 8,
            height: 8,
            n: 1,
            seed: 1,
            duration_seconds: None,
            fps: None,
            input_image: None,
            attempt: 1,
        };
        let id = prompt_id(&req, 0);
        assert_eq!(id, prompt_id(&req, 0));
        assert_ne!(id, prompt_id(&req, 1));
        assert_ne!(id, prompt_id(&GenerationRequest { attempt: 2, ..req }, 0));
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert!(
            id.bytes()
                .all(|b| b == b'-' || b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_eq!(&id[14..15], "8", "version nibble");
    }
}
