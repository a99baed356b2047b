//! The `automatic1111` engine: AUTOMATIC1111's stable-diffusion-webui and Forge, through
//! their `/sdapi/v1` API (FIELD-NOTES §2).
//!
//! A generation is one blocking `POST /sdapi/v1/txt2img` (or `/img2img` with the input
//! image), `n` images as one batch. The server runs one job at a time behind a global lock
//! and knows jobs only by the `force_task_id` a client gives, so Easel names every attempt
//! (`task(easel-<generation>-a<attempt>)`), follows `/progress` while it waits and reads
//! progress only when `current_task` is that name. Stopping is the same care in reverse:
//! `/interrupt` stops whatever runs *now*, so it is sent only while `current_task` is ours;
//! a canceled task still waiting for the lock is watched and stopped when it starts.
//!
//! Layout: `settings` (the model's settings, checked at build), `wire` (the server's own
//! types), `client` (HTTP calls and error classification), `checkpoint` (checkpoint names),
//! `task` (following and stopping one task).

mod checkpoint;
mod client;
mod settings;
mod task;
mod wire;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use self::client::Client;
use self::settings::Settings;
use self::task::{StopOnDrop, follow_progress};
use self::wire::{GenerateRequest, GenerateResponse, Info};
use crate::check::Limits;
use crate::engine::{
    Control, Engine, EngineError, Generated, GenerationRequest, ModelKind, ProbeReport, Produced,
};
use crate::registry::{BuildContext, ModelRef};

/// The engine name used in the config.
pub const NAME: &str = "automatic1111";

/// Room in an answer besides the images: `info`, `parameters` and JSON punctuation.
const ANSWER_SLACK_BYTES: usize = 1024 * 1024;

/// Builds the engine of one model.
pub fn build(
    model: ModelRef<'_>,
    settings: &Value,
    ctx: &BuildContext,
) -> Result<Arc<dyn Engine>, String> {
    Ok(Arc::new(Automatic1111::new(model, settings, ctx)?))
}

/// One model served by an AUTOMATIC1111 or Forge server.
pub struct Automatic1111 {
    client: Client,
    settings: Settings,
    max_output_bytes: usize,
}

impl fmt::Debug for Automatic1111 {
    // The address and the credentials stay out: Debug output ends up in logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Automatic1111")
            .field("checkpoint", &self.settings.checkpoint)
            .field("sampler", &self.settings.sampler)
            .field("scheduler", &self.settings.scheduler)
            .field("steps", &self.settings.steps)
            .field("cfg_scale", &self.settings.cfg_scale)
            .field("basic_auth", &self.settings.auth.is_some())
            .finish_non_exhaustive()
    }
}

impl Automatic1111 {
    /// Checks `settings` (the model's `settings` table as JSON) and builds the engine.
    /// The password is read from the environment variable `password_env` names.
    pub fn new(model: ModelRef<'_>, settings: &Value, ctx: &BuildContext) -> Result<Self, String> {
        Self::with_env(model, settings, ctx, |name| ctx.secret(name))
    }

    /// [`Automatic1111::new`] reading environment variables through `env` (tests cannot
    /// set the process environment safely).
    pub fn with_env(
        model: ModelRef<'_>,
        settings: &Value,
        ctx: &BuildContext,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        if model.kind != ModelKind::Image {
            return Err(format!(
                "model `{}`: the `{NAME}` engine makes images only",
                model.id
            ));
        }
        let settings = Settings::parse(settings, env)?;
        let client = Client::new(settings.base_url.clone(), settings.auth.clone())?;
        let max_output_bytes = match ctx.max_output_bytes {
            0 => Limits::default().max_bytes,
            n => n,
        };
        Ok(Automatic1111 {
            client,
            settings,
            max_output_bytes,
        })
    }

    /// The request body and its route.
    fn request<'a>(
        &'a self,
        req: &'a GenerationRequest,
        task: &'a str,
        init_image: Option<String>,
    ) -> (&'static str, GenerateRequest<'a>) {
        let s = &self.settings;
        let img2img = init_image.is_some();
        let body = GenerateRequest {
            prompt: &req.prompt,
            negative_prompt: req.negative_prompt.as_deref().unwrap_or(""),
            seed: req.seed,
            width: req.width,
            height: req.height,
            batch_size: req.n,
            n_iter: 1,
            send_images: true,
            save_images: false,
            force_task_id: task,
            sampler_name: s.sampler.as_deref(),
            scheduler: s.scheduler.as_deref(),
            steps: s.steps,
            cfg_scale: s.cfg_scale,
            denoising_strength: img2img.then_some(s.denoising_strength),
            init_images: init_image.map(|b64| vec![b64]),
            override_settings: &s.override_settings,
            override_settings_restore_afterwards: s.restore_afterwards,
            extra: &s.extra,
        };
        let path = if img2img {
            "/sdapi/v1/img2img"
        } else {
            "/sdapi/v1/txt2img"
        };
        (path, body)
    }

    /// Most bytes the answer may have: `n` images (plus a grid and a script's extra image)
    /// of the largest accepted size, base64-encoded.
    fn answer_cap(&self, n: u32) -> usize {
        let images = (n as usize).saturating_add(2);
        self.max_output_bytes
            .saturating_mul(images)
            .saturating_mul(4)
            / 3
            + ANSWER_SLACK_BYTES
    }

    /// The batch's images, after any leading grid, each with its seed.
    fn outputs(
        &self,
        req: &GenerationRequest,
        answer: GenerateResponse,
    ) -> Result<Vec<Produced>, EngineError> {
        let info = parse_info(&answer.info)?;
        if let Some(wanted) = &self.settings.checkpoint
            && !checkpoint::ran_as_configured(wanted, &info)
        {
            return Err(EngineError::misconfigured(format!(
                "the backend ran checkpoint `{}` instead of the configured `{wanted}` \
                 (AUTOMATIC1111 silently falls back when it lacks the one asked for)",
                info.sd_model_name.as_deref().unwrap_or_default()
            )));
        }
        let images = answer.images.unwrap_or_default();
        let wanted = req.n as usize;
        let batch: Vec<&String> = images
            .iter()
            .skip(info.index_of_first_image)
            .take(wanted)
            .collect();
        if batch.len() < wanted {
            return Err(EngineError::bad_output(format!(
                "the backend returned {} of the {wanted} images asked for",
                batch.len()
            )));
        }
        batch
            .into_iter()
            .enumerate()
            .map(|(i, encoded)| {
                Ok(Produced {
                    bytes: decode_image(i, encoded)?,
                    seed: info.all_seeds.get(i).and_then(Value::as_u64),
                })
            })
            .collect()
    }
}

#[async_trait]
impl Engine for Automatic1111 {
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
        if req.kind != ModelKind::Image {
            return Err(EngineError::permanent("this model makes images only"));
        }
        let task = task::name(req);
        let init_image = req.input_image.as_ref().map(|i| BASE64.encode(&i.bytes));
        let (path, body) = self.request(req, &task, init_image);
        // From here the server may be running our task: if this future is dropped (the
        // job's timeout) or the answer is lost, the guard stops it, or it would hold the
        // server's only slot for minutes with nobody waiting for it.
        let mut guard = StopOnDrop::new(self.client.clone(), task.clone());
        let post = self
            .client
            .generate::<_, GenerateResponse>(path, &body, self.answer_cap(req.n));
        let answer = tokio::select! {
            () = control.cancel.cancelled() => {
                guard.disarm();
                task::stop(&self.client, &task).await;
                return Err(EngineError::Canceled);
            }
            answer = post => answer,
            never = follow_progress(&self.client, &task, &control.progress) => match never {},
        };
        // A transient failure may be a proxy giving up while the server still works on
        // our task: leave the guard armed so it is stopped if so.
        if !matches!(answer, Err(EngineError::Transient { .. })) {
            guard.disarm();
        }
        let outputs = self.outputs(req, answer?)?;
        control.progress.set(1.0);
        Ok(Generated {
            outputs,
            usage: None,
        })
    }

    async fn probe(&self) -> Result<ProbeReport, EngineError> {
        let mut report = ProbeReport::default();
        self.probe_api(&mut report).await?;
        if let Some(wanted) = &self.settings.checkpoint {
            let models = self.client.sd_models().await?;
            if models
                .iter()
                .any(|m| checkpoint::aliases(m).iter().any(|a| a == wanted))
            {
                report.facts.push(format!("checkpoint present: {wanted}"));
            } else {
                report.problems.push(format!(
                    "checkpoint `{wanted}` is not among the server's {} checkpoints",
                    models.len()
                ));
            }
        }
        if let Some(wanted) = &self.settings.sampler {
            let samplers = self.client.samplers().await?;
            if samplers
                .iter()
                .any(|s| &s.name == wanted || s.aliases.contains(wanted))
            {
                report.facts.push(format!("sampler present: {wanted}"));
            } else {
                report
                    .problems
                    .push(format!("sampler `{wanted}` is not offered by the server"));
            }
        }
        Ok(report)
    }
}

impl Automatic1111 {
    /// Whether the API answers: `/options`, or `/progress` when options are out of
    /// reach (Forge serves `/progress` without credentials, so this also tells a wrong
    /// password from a server that is down).
    async fn probe_api(&self, report: &mut ProbeReport) -> Result<(), EngineError> {
        match self.client.options().await {
            Ok(options) => {
                report.facts.push("API reachable".to_owned());
                if let Some(loaded) = options.get("sd_model_checkpoint").and_then(Value::as_str) {
                    report.facts.push(format!("loaded checkpoint: {loaded}"));
                }
                Ok(())
            }
            Err(EngineError::Misconfigured { detail }) => {
                let answers = self.client.progress().await.is_ok();
                Err(EngineError::misconfigured(if answers {
                    format!("{detail}; the server is up (/progress answers)")
                } else {
                    detail
                }))
            }
            Err(EngineError::Permanent { .. }) => {
                self.client.progress().await?;
                report
                    .facts
                    .push("API reachable (/progress; /options is not readable)".to_owned());
                Ok(())
            }
            Err(other) => Err(other),
        }
    }
}

/// `info` is `Processed.js()`: a JSON document inside a string (an object is accepted
/// too). Without it the grid and the seeds cannot be told apart, so it is required.
fn parse_info(info: &Value) -> Result<Info, EngineError> {
    let parsed = match info {
        Value::String(text) => serde_json::from_str(text),
        Value::Object(_) => serde_json::from_value(info.clone()),
        _ => {
            return Err(EngineError::bad_output(
                "the backend's answer has no `info`",
            ));
        }
    };
    parsed.map_err(|e| EngineError::BadOutput {
        detail: format!("the backend's `info` is not the expected JSON: {e}"),
        reason: "the backend's answer had unreadable generation info".to_owned(),
    })
}

/// Base64 (with or without a `data:image/…;base64,` prefix) to bytes.
fn decode_image(index: usize, encoded: &str) -> Result<Vec<u8>, EngineError> {
    let data = match encoded.split_once(";base64,") {
        Some((prefix, data)) if prefix.starts_with("data:") => data,
        _ => encoded,
    };
    BASE64
        .decode(data.trim())
        .map_err(|e| EngineError::BadOutput {
            detail: format!("image {index} is not valid base64: {e}"),
            reason: format!("image {index} from the backend is not valid base64"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_read_from_a_string_or_an_object() {
        let text = Value::String(r#"{"index_of_first_image":1,"all_seeds":[7,8]}"#.to_owned());
        let info = parse_info(&text).expect("string info");
        assert_eq!(info.index_of_first_image, 1);
        assert_eq!(info.all_seeds.len(), 2);
        let object = serde_json::json!({"all_seeds": [3]});
        assert_eq!(parse_info(&object).expect("object").all_seeds.len(), 1);
        assert!(matches!(
            parse_info(&Value::String("{\"all_seeds\": [".to_owned())),
            Err(EngineError::BadOutput { .. })
        ));
        assert!(matches!(
            parse_info(&Value::Null),
            Err(EngineError::BadOutput { .. })
        ));
    }

    #[test]
    fn images_decode_with_or_without_a_data_prefix() {
        assert_eq!(decode_image(0, "aGk=").expect("plain"), b"hi");
        assert_eq!(
            decode_image(0, "data:image/png;base64,aGk=").expect("prefixed"),
            b"hi"
        );
        assert!(matches!(
            decode_image(0, "not base64!"),
            Err(EngineError::BadOutput { .. })
        ));
    }
}
