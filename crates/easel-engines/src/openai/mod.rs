//! The `openai` engine: any OpenAI-compatible images API (OpenAI itself, or a gateway
//! such as LiteLLM in front of other providers).
//!
//! Text-to-image posts JSON to `{base_url}/images/generations`; a request with a start
//! image posts multipart to `{base_url}/images/edits`. Images come back as base64 (GPT
//! image models always, DALL·E when asked) or as URLs (DALL·E's default), which are
//! downloaded through the server's [`Fetch`] (its SSRF guard, with the output size cap).
//! OpenAI has no seeds and no negative prompt: the request's seed and `negative_prompt`
//! are not sent (appending the negative prompt to the prompt would change what the user
//! asked for), and outputs carry no seed. The `usage` block is returned as is, so the
//! operator sees the upstream token cost.
//!
//! Layout: `wire` is OpenAI's format, `client` the HTTP calls and the classification of
//! failures, this file the settings and the [`Engine`] impl.

mod client;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;

use crate::check::Limits;
use crate::engine::{
    Control, Engine, EngineError, Generated, GenerationRequest, ModelKind, ProbeReport, Produced,
};
use crate::registry::{BuildContext, Fetch, ModelRef};
use client::{ApiKey, Client};
use wire::{Image, ImageGenerateParams, ImagesResponse};

/// The engine name used in the config.
pub const NAME: &str = "openai";

/// `output_format` values OpenAI accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    Png,
    Jpeg,
    Webp,
}

/// `response_format` values (DALL·E only; GPT image models always answer base64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    Url,
    B64Json,
}

/// A model's `settings` table for the `openai` engine.
///
/// The key is never in the config: `api_key_env` names the environment variable that
/// holds it. `quality`, `background` and `moderation` are passed through as written, so a
/// gateway's own values work; OpenAI checks them and a wrong one fails as misconfigured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiSettings {
    /// `https://api.openai.com/v1` or a gateway's equivalent.
    pub base_url: String,
    /// The environment variable holding the API key; without it no key is sent.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The upstream model (`gpt-image-1`, `dall-e-3`, …).
    pub model: String,
    #[serde(default)]
    pub quality: Option<String>,
    #[serde(default)]
    pub output_format: Option<OutputFormat>,
    #[serde(default)]
    pub background: Option<String>,
    #[serde(default)]
    pub moderation: Option<String>,
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
}

/// The `openai` engine of one model.
pub struct OpenAi {
    settings: OpenAiSettings,
    client: Client,
    fetch: Option<Arc<dyn Fetch>>,
    max_image_bytes: usize,
}

impl std::fmt::Debug for OpenAi {
    // The base URL may name an internal gateway and the client holds the key: show
    // neither, only what the operator needs to tell models apart.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAi")
            .field("model", &self.settings.model)
            .field("has_api_key", &self.settings.api_key_env.is_some())
            .field("can_fetch_urls", &self.fetch.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds the engine of one model from its settings; the error names the bad setting.
pub fn build(
    model: ModelRef<'_>,
    settings: &serde_json::Value,
    ctx: &BuildContext,
) -> Result<Arc<dyn Engine>, String> {
    let settings: OpenAiSettings =
        serde_json::from_value(settings.clone()).map_err(|e| e.to_string())?;
    Ok(Arc::new(OpenAi::new(model, settings, ctx)?))
}

impl OpenAi {
    /// An engine for `model` with checked `settings`; reads the key from the environment.
    pub fn new(
        model: ModelRef<'_>,
        settings: OpenAiSettings,
        ctx: &BuildContext,
    ) -> Result<OpenAi, String> {
        if model.kind != ModelKind::Image {
            return Err("the `openai` engine makes images only".to_owned());
        }
        let base_url = crate::http::base_url(&settings.base_url)?;
        if settings.model.trim().is_empty() {
            return Err("`model` must name the upstream model, e.g. `gpt-image-1`".to_owned());
        }
        for (name, value) in [
            ("quality", &settings.quality),
            ("background", &settings.background),
            ("moderation", &settings.moderation),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(format!("`{name}` must not be empty; leave it out instead"));
            }
        }
        if settings.response_format == Some(ResponseFormat::Url) && ctx.fetch.is_none() {
            return Err(
                "`response_format = \"url\"` needs the server's downloader, which is not available here"
                    .to_owned(),
            );
        }
        let api_key = settings
            .api_key_env
            .as_deref()
            .map(|var| read_key(var, ctx.secret(var)))
            .transpose()?;
        let max_image_bytes = match ctx.max_output_bytes {
            0 => Limits::default().max_bytes,
            max => max,
        };
        Ok(OpenAi {
            client: Client::new(base_url, api_key, max_image_bytes)?,
            settings,
            fetch: ctx.fetch.clone(),
            max_image_bytes,
        })
    }

    /// The request body for `req`, shared by both endpoints.
    fn params<'a>(&'a self, req: &'a GenerationRequest) -> ImageGenerateParams<'a> {
        let s = &self.settings;
        ImageGenerateParams {
            model: &s.model,
            prompt: &req.prompt,
            n: req.n,
            size: format!("{}x{}", req.width, req.height),
            quality: s.quality.as_deref(),
            output_format: s.output_format.map(|f| match f {
                OutputFormat::Png => "png",
                OutputFormat::Jpeg => "jpeg",
                OutputFormat::Webp => "webp",
            }),
            background: s.background.as_deref(),
            moderation: s.moderation.as_deref(),
            response_format: s.response_format.map(|f| match f {
                ResponseFormat::Url => "url",
                ResponseFormat::B64Json => "b64_json",
            }),
        }
    }

    /// One run, without cancellation (the caller races it against the token).
    async fn run(
        &self,
        req: &GenerationRequest,
        control: &Control,
    ) -> Result<Generated, EngineError> {
        let params = self.params(req);
        let answer = match &req.input_image {
            None => self.client.generations(&req.id, &params).await?,
            Some(image) => self.client.edits(&req.id, &params, image).await?,
        };
        control.progress.set(0.9);
        let ImagesResponse { data, usage, .. } = answer;
        let mut outputs = Vec::with_capacity(data.len());
        for (index, image) in data.into_iter().enumerate() {
            outputs.push(Produced {
                bytes: self.image_bytes(index, image).await?,
                seed: None,
            });
        }
        control.progress.set(1.0);
        Ok(Generated { outputs, usage })
    }

    /// The bytes of one answered image: decoded base64, or downloaded from its URL.
    async fn image_bytes(&self, index: usize, image: Image) -> Result<Vec<u8>, EngineError> {
        if let Some(b64) = image.b64_json.filter(|b| !b.is_empty()) {
            return decode_b64(index, &b64, self.max_image_bytes);
        }
        let Some(url) = image.url.filter(|u| !u.is_empty()) else {
            return Err(EngineError::bad_output(format!(
                "image {index} has neither `b64_json` nor `url`"
            )));
        };
        let Some(fetch) = &self.fetch else {
            return Err(EngineError::misconfigured(format!(
                "openai: image {index} came as a URL ({url}) and this node cannot download; \
                 set `response_format = \"b64_json\"`"
            )));
        };
        fetch.get(&url, self.max_image_bytes).await
    }
}

/// Reads the API key from `var`; its value is never part of an error.
fn read_key(var: &str, value: Option<String>) -> Result<ApiKey, String> {
    match value {
        Some(key) if !key.trim().is_empty() => Ok(ApiKey::new(key.trim().to_owned())),
        Some(_) => Err(format!(
            "`api_key_env`: the environment variable `{var}` is empty"
        )),
        None => Err(format!(
            "`api_key_env`: the environment variable `{var}` is not set"
        )),
    }
}

/// Decodes one `b64_json`, tolerating a `data:` prefix that some gateways add.
fn decode_b64(index: usize, b64: &str, max_bytes: usize) -> Result<Vec<u8>, EngineError> {
    let bare = b64
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(',').map(|(_, data)| data))
        .unwrap_or(b64);
    // Checked before decoding so a huge answer is refused without allocating it twice.
    if bare.len() / 4 * 3 > max_bytes.saturating_add(3) {
        return Err(EngineError::bad_output(format!(
            "image {index} is more than the {max_bytes} bytes allowed"
        )));
    }
    base64::engine::general_purpose::STANDARD
        .decode(bare.trim())
        .map_err(|e| EngineError::bad_output(format!("image {index} is not valid base64: {e}")))
}

#[async_trait]
impl Engine for OpenAi {
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
        // OpenAI rejects n = 0; the contract allows it and means "nothing to make".
        if req.n == 0 {
            return Ok(Generated::default());
        }
        // Dropping the request closes its connection: the upstream stops sending, and a
        // gateway sees the client go away. OpenAI has no cancel endpoint for images.
        tokio::select! {
            () = control.cancel.cancelled() => Err(EngineError::Canceled),
            result = self.run(req, control) => result,
        }
    }

    async fn probe(&self) -> Result<ProbeReport, EngineError> {
        let model = &self.settings.model;
        let mut report = ProbeReport::default();
        match self.client.models().await? {
            None => report.problems.push(format!(
                "the backend does not list its models, so `{model}` could not be checked"
            )),
            Some((ids, version)) => {
                report.version = version;
                report.facts.push(format!("{} models listed", ids.len()));
                if ids.iter().any(|id| id == model) {
                    report.facts.push(format!("model `{model}` listed"));
                } else {
                    report
                        .problems
                        .push(format!("model `{model}` is not listed by the backend"));
                }
            }
        }
        Ok(report)
    }
}
