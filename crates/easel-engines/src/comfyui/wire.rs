//! ComfyUI's own wire format, named as ComfyUI names it (FIELD-NOTES.md §1): the
//! `/prompt` request and its two answers, `/upload/image`, `/history/{id}`, `/queue`,
//! `/system_stats`, and the websocket's text frames.
//!
//! Everything the engine only passes through (the graph, node outputs, error `extra_info`)
//! stays `serde_json::Value`: ComfyUI and its custom nodes add fields freely, and a field we
//! do not read must never make an answer unreadable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /prompt`.
#[derive(Debug, Serialize)]
pub struct PromptRequest<'a> {
    /// The API-format graph with the request's values substituted.
    pub prompt: &'a Value,
    /// The websocket `clientId`: ComfyUI sends a run's events only to that socket.
    pub client_id: &'a str,
    /// Our own id, so a re-post is recognisable on versions that accept one.
    pub prompt_id: &'a str,
}

/// `POST /prompt` 200.
#[derive(Debug, Deserialize)]
pub struct PromptAccepted {
    /// Older versions ignore the id we sent and answer their own: follow this one.
    pub prompt_id: String,
    /// Non-empty when some outputs failed validation and the rest were queued.
    #[serde(default)]
    pub node_errors: Value,
}

/// `POST /prompt` 400: `{"error": {...} | "no prompt", "node_errors": {...} | []}`.
#[derive(Debug, Deserialize)]
pub struct PromptRejected {
    pub error: PromptErrorField,
    #[serde(default)]
    pub node_errors: Value,
}

/// The `error` of a rejected prompt: an object in every current version, a bare string
/// (`"no prompt"`) in old ones.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PromptErrorField {
    Detailed(ErrorDetail),
    Text(String),
}

/// `{type, message, details, extra_info}` (`extra_info` is not read), the shape of every validation error
/// (execution.py `validate_prompt`) and of each entry of `node_errors[id].errors`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorDetail {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: String,
}

/// One entry of `node_errors`.
#[derive(Debug, Deserialize)]
pub struct NodeError {
    #[serde(default)]
    pub errors: Vec<ErrorDetail>,
    #[serde(default)]
    pub class_type: String,
}

/// `POST /upload/image` 200. The key is `name`, not `filename`.
#[derive(Debug, Deserialize)]
pub struct Uploaded {
    pub name: String,
    #[serde(default)]
    pub subfolder: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// `GET /history/{prompt_id}`: `{}` while queued, running, unknown or evicted.
pub type History = BTreeMap<String, HistoryEntry>;

/// One finished prompt.
#[derive(Debug, Deserialize)]
pub struct HistoryEntry {
    /// Per output node, its ui dict: `{"images": [...], "animated": [true]}`,
    /// `{"gifs": [...]}`, `{"text": [...]}`…
    #[serde(default)]
    pub outputs: BTreeMap<String, BTreeMap<String, Value>>,
    /// `null` is allowed by ComfyUI (`task_done` takes an optional status).
    #[serde(default)]
    pub status: Option<ExecutionStatus>,
}

/// `{status_str: "success"|"error", completed, messages: [[event, data], ...]}`
/// (`completed` is not read: `status_str` and the messages decide, as in jobs.py).
#[derive(Debug, Deserialize)]
pub struct ExecutionStatus {
    #[serde(default)]
    pub status_str: String,
    #[serde(default)]
    pub messages: Vec<(String, Value)>,
}

/// A file-bearing output item; only these three fields may go back to `/view`
/// (`fullpath` and the rest are server-local or informative).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileRef {
    pub filename: String,
    #[serde(default)]
    pub subfolder: String,
    #[serde(rename = "type", default = "output_type")]
    pub kind: String,
    /// VideoHelperSuite's MIME type (`video/h264-mp4`).
    #[serde(default)]
    pub format: Option<String>,
}

fn output_type() -> String {
    "output".to_owned()
}

/// `GET /queue`: entries are `[number, prompt_id, prompt, extra_data, outputs]`.
#[derive(Debug, Default, Deserialize)]
pub struct Queue {
    #[serde(default)]
    pub queue_running: Vec<Vec<Value>>,
    #[serde(default)]
    pub queue_pending: Vec<Vec<Value>>,
}

impl Queue {
    /// Where `prompt_id` is in the queue, if anywhere.
    #[must_use]
    pub fn position(&self, prompt_id: &str) -> Option<QueuePosition> {
        let holds = |list: &[Vec<Value>]| {
            list.iter()
                .any(|item| item.get(1).and_then(Value::as_str) == Some(prompt_id))
        };
        if holds(&self.queue_running) {
            Some(QueuePosition::Running)
        } else if holds(&self.queue_pending) {
            Some(QueuePosition::Pending)
        } else {
            None
        }
    }
}

/// Running or waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuePosition {
    Running,
    Pending,
}

/// `POST /queue {"delete": [...]}`.
#[derive(Debug, Serialize)]
pub struct QueueDelete<'a> {
    pub delete: [&'a str; 1],
}

/// `POST /interrupt {"prompt_id": ...}`; older versions ignore the body.
#[derive(Debug, Serialize)]
pub struct Interrupt<'a> {
    pub prompt_id: &'a str,
}

/// `GET /system_stats`.
#[derive(Debug, Deserialize)]
pub struct SystemStats {
    pub system: System,
    #[serde(default)]
    pub devices: Vec<Device>,
}

/// `system` of `/system_stats` (`argv` is not read: it leaks command-line flags).
#[derive(Debug, Deserialize)]
pub struct System {
    #[serde(default)]
    pub comfyui_version: Option<String>,
}

/// One GPU (or the CPU) of `/system_stats`.
#[derive(Debug, Deserialize)]
pub struct Device {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub vram_total: Option<u64>,
}

/// A websocket text frame: `{"type": "<event>", "data": {...}}`.
#[derive(Debug, Deserialize)]
pub struct WsMessage {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub data: Value,
}

/// `execution_error` (websocket event and history message).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExecutionError {
    #[serde(default)]
    pub node_id: Option<Value>,
    #[serde(default)]
    pub node_type: String,
    #[serde(default)]
    pub exception_message: String,
    #[serde(default)]
    pub exception_type: String,
}
