//! AUTOMATIC1111 and Forge's own `/sdapi/v1` format, named as they name it
//! (`modules/api/models.py`, `Processed.js()`, `State.dict()`; FIELD-NOTES §2).
//!
//! Answers are read leniently: fields differ between versions and forks, so everything
//! Easel does not need is ignored and everything it needs has a default it can reason
//! about (an absent `index_of_first_image` is 0, absent seeds are unknown).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The body of `POST /sdapi/v1/txt2img` and `/sdapi/v1/img2img`: the fields Easel sets,
/// then the operator's `extra` fields (which never name one of these; checked at build).
#[derive(Debug, Serialize)]
pub struct GenerateRequest<'a> {
    pub prompt: &'a str,
    pub negative_prompt: &'a str,
    pub seed: u64,
    pub width: u32,
    pub height: u32,
    pub batch_size: u32,
    pub n_iter: u32,
    pub send_images: bool,
    pub save_images: bool,
    pub force_task_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cfg_scale: Option<f64>,
    /// img2img only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denoising_strength: Option<f64>,
    /// img2img only: plain base64, no `data:` prefix (both are accepted by the backend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_images: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub override_settings: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_settings_restore_afterwards: Option<bool>,
    #[serde(flatten)]
    pub extra: &'a Map<String, Value>,
}

/// `TextToImageResponse` / `ImageToImageResponse`.
#[derive(Debug, Deserialize)]
pub struct GenerateResponse {
    /// Base64 images; a grid may lead (see [`Info::index_of_first_image`]) and scripts
    /// (ControlNet's detect maps) may append more.
    #[serde(default)]
    pub images: Option<Vec<String>>,
    /// `Processed.js()`: a JSON document *encoded as a string*.
    #[serde(default)]
    pub info: Value,
}

/// The fields of `Processed.js()` Easel reads.
#[derive(Debug, Default, Deserialize)]
pub struct Info {
    /// Where the batch's own images start in `images` (1 when a grid leads).
    #[serde(default)]
    pub index_of_first_image: usize,
    /// One seed per image of the batch, in order. Values, not `u64`s: a backend may send
    /// a negative or fractional number, which is then "unknown" rather than an error.
    #[serde(default)]
    pub all_seeds: Vec<Value>,
    /// The checkpoint that actually ran: its file name without folder and extension
    /// (`name_for_extra`).
    #[serde(default)]
    pub sd_model_name: Option<String>,
    /// The short hash of the checkpoint that ran.
    #[serde(default)]
    pub sd_model_hash: Option<String>,
}

/// `GET /sdapi/v1/progress` (`ProgressResponse`).
#[derive(Debug, Default, Deserialize)]
pub struct ProgressResponse {
    /// 0..1 of the running job; 0 when idle.
    #[serde(default)]
    pub progress: f32,
    #[serde(default)]
    pub state: State,
    /// The `force_task_id` (or generated id) of the running job; absent when idle.
    #[serde(default)]
    pub current_task: Option<String>,
}

/// `State.dict()`: the backend's global job state.
#[derive(Debug, Default, Deserialize)]
pub struct State {
    /// 0 when idle (A1111 then answers without `current_task`), -1 while a job starts.
    #[serde(default)]
    pub job_count: Option<i64>,
}

/// One entry of `GET /sdapi/v1/sd-models` (`SDModelItem`).
#[derive(Debug, Deserialize)]
pub struct SdModel {
    /// `name [shorthash]`, the checkpoint dropdown's text.
    pub title: String,
    #[serde(default)]
    pub model_name: Option<String>,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
}

/// One entry of `GET /sdapi/v1/samplers` (`SamplerItem`).
#[derive(Debug, Deserialize)]
pub struct Sampler {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// An error answer in any of the shapes these servers send: A1111's `api_middleware`
/// `{error, detail, body, errors}`, Forge's plain FastAPI `{detail: "…"}`, and FastAPI's
/// 422 `{detail: [{loc, msg, type}]}` on both.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    /// The exception's class name (A1111 only): `HTTPException`, `RuntimeError`,
    /// `OutOfMemoryError`.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub detail: Option<Detail>,
    /// `str(exception)` (A1111 only): where a `RuntimeError`'s text is.
    #[serde(default)]
    pub errors: Option<Value>,
}

/// `detail`: a message, or FastAPI's list of validation errors.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Detail {
    Message(String),
    Validation(Vec<ValidationError>),
    Other(Value),
}

/// One pydantic validation error.
#[derive(Debug, Deserialize)]
pub struct ValidationError {
    #[serde(default)]
    pub loc: Vec<Value>,
    #[serde(default)]
    pub msg: String,
}

impl ErrorBody {
    /// Every text the answer carries, for matching known failures and for the log.
    #[must_use]
    pub fn texts(&self) -> String {
        let mut parts = Vec::new();
        if let Some(error) = &self.error {
            parts.push(error.clone());
        }
        match &self.detail {
            Some(Detail::Message(m)) => parts.push(m.clone()),
            Some(Detail::Validation(list)) => {
                parts.extend(list.iter().map(ValidationError::describe));
            }
            Some(Detail::Other(v)) => parts.push(v.to_string()),
            None => {}
        }
        match &self.errors {
            Some(Value::String(s)) => parts.push(s.clone()),
            Some(Value::Null) | None => {}
            Some(other) => parts.push(other.to_string()),
        }
        parts.join(": ")
    }

    /// The validation errors, when the answer is a 422 list.
    #[must_use]
    pub fn validation(&self) -> Option<&[ValidationError]> {
        match &self.detail {
            Some(Detail::Validation(list)) => Some(list),
            _ => None,
        }
    }

    /// The plain `detail` message, when there is one.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        match &self.detail {
            Some(Detail::Message(m)) => Some(m),
            _ => None,
        }
    }
}

impl ValidationError {
    /// `steps: value is not a valid integer` (the `body` prefix dropped).
    #[must_use]
    pub fn describe(&self) -> String {
        let path: Vec<String> = self
            .loc
            .iter()
            .filter(|part| part.as_str() != Some("body"))
            .map(|part| match part {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        format!("{}: {}", path.join("."), self.msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_flavours_parse() {
        let a1111: ErrorBody = serde_json::from_str(
            r#"{"error":"HTTPException","detail":"Sampler not found","body":"","errors":"404: Sampler not found"}"#,
        )
        .expect("A1111 shape");
        assert_eq!(a1111.message(), Some("Sampler not found"));
        assert!(a1111.texts().contains("404: Sampler not found"));
        let forge: ErrorBody =
            serde_json::from_str(r#"{"detail":"Sampler not found"}"#).expect("Forge shape");
        assert_eq!(forge.message(), Some("Sampler not found"));
        let invalid: ErrorBody = serde_json::from_str(
            r#"{"detail":[{"loc":["body","steps"],"msg":"value is not a valid integer","type":"type_error.integer"}]}"#,
        )
        .expect("422 shape");
        let list = invalid.validation().expect("a validation list");
        assert_eq!(list[0].describe(), "steps: value is not a valid integer");
    }

    #[test]
    fn progress_parses_idle_and_running_answers() {
        let idle: ProgressResponse = serde_json::from_str(
            r#"{"progress":0.0,"eta_relative":0.0,"state":{"skipped":false,"interrupted":false,"job":"","job_count":0,"job_timestamp":"0","job_no":0,"sampling_step":0,"sampling_steps":0},"current_image":null,"textinfo":null}"#,
        )
        .expect("idle");
        assert_eq!((idle.current_task, idle.state.job_count), (None, Some(0)));
        let running: ProgressResponse = serde_json::from_str(
            r#"{"progress":0.42,"state":{"job_count":1},"current_task":"task(x)"}"#,
        )
        .expect("running");
        assert_eq!(running.current_task.as_deref(), Some("task(x)"));
    }
}
