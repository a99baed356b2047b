//! A fake ComfyUI server (FIELD-NOTES.md §1): the HTTP routes under both `/x` and
//! `/api/x`, the `/ws` websocket with the real event sequence, a one-at-a-time prompt
//! queue, `/prompt` validation with ComfyUI's error shapes, history entries, `/view`, and
//! image uploads with ComfyUI's naming rules.
//!
//! It runs an API-format workflow by looking at its nodes: the output size and batch come
//! from literal `width`/`height`/`batch_size` inputs (`EmptyLatentImage`, `ImageScale`…),
//! the seed from `seed`/`noise_seed`, a video's frames and rate from `length` and
//! `fps`/`frame_rate`. `SaveImage`/`PreviewImage` give PNGs; `SaveVideo`/`SaveWEBM` give a
//! real H.264 MP4 under `images` with `animated: [true]`; `VHS_VideoCombine` gives one under
//! `gifs` with `format: video/h264-mp4` and a server-local `fullpath`.
//!
//! Tests steer it with [`FakeComfyUi::script`] and read what it received with
//! [`FakeComfyUi::recorded`].

mod exec;
mod routes;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

/// The checkpoint the fake has unless told otherwise (the SD1.5 example's).
pub const DEFAULT_CHECKPOINT: &str = "v1-5-pruned-emaonly.safetensors";

/// Model files the fake has by default: the SD1.5 checkpoint and the Wan 2.1 video
/// example's files.
pub const DEFAULT_MODELS: &[&str] = &[
    DEFAULT_CHECKPOINT,
    "wan2.1_t2v_1.3B_fp16.safetensors",
    "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    "wan_2.1_vae.safetensors",
];

/// Node classes the fake has (before [`Script::removed_classes`]).
pub const CLASSES: &[&str] = &[
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "EmptyLatentImage",
    "KSampler",
    "VAEDecode",
    "VAEEncode",
    "LoadImage",
    "ImageScale",
    "SaveImage",
    "PreviewImage",
    "UNETLoader",
    "CLIPLoader",
    "VAELoader",
    "ModelSamplingSD3",
    "EmptyHunyuanLatentVideo",
    "CreateVideo",
    "SaveVideo",
    "SaveWEBM",
    "VHS_VideoCombine",
];

/// How a run ends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Outputs are written.
    #[default]
    Success,
    /// A node raises: `execution_error` with this exception.
    Error {
        exception_type: String,
        exception_message: String,
    },
    /// Someone else interrupts the run halfway (`execution_interrupted`).
    InterruptedByOther,
}

/// What `POST /prompt` answers when it does not validate the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PromptAnswer {
    /// Validate, queue, answer `{prompt_id, number, node_errors}`.
    #[default]
    Normal,
    /// 200 with an HTML page (a proxy's error page).
    Html,
    /// 200 with JSON cut in the middle.
    Truncated,
    /// Old servers: 400 `{"error": "no prompt", "node_errors": []}`.
    OldNoPrompt,
}

/// How the fake misbehaves. Change it with [`FakeComfyUi::script`].
#[derive(Debug, Clone)]
pub struct Script {
    /// Node classes removed from the server (`/object_info` answers `{}`, `/prompt`
    /// answers `missing_node_type`).
    pub removed_classes: Vec<String>,
    /// Model files the loaders offer (`value_not_in_list` otherwise).
    pub models: Vec<String>,
    /// The next this-many `POST /prompt` answer `fail_status` with `retry_after`.
    pub fail_prompts: u32,
    pub fail_status: u16,
    pub retry_after: Option<String>,
    /// `POST /prompt`'s answer.
    pub prompt_answer: PromptAnswer,
    /// Every route answers 503 (the box is down behind its proxy).
    pub down: bool,
    /// A proxy in front wants this `Authorization` header, else 401.
    pub require_authorization: Option<String>,
    /// Sampler steps of a run and the time each takes.
    pub steps: u32,
    pub step_ms: u64,
    /// How runs end.
    pub outcome: Outcome,
    /// Prompts stay pending (the queue is held) until this is false again.
    pub hold_queue: bool,
    /// The websocket of the run's client closes halfway through the run.
    pub close_socket_mid_run: bool,
    /// Runs never get a history entry.
    pub history_never: bool,
    /// Runs succeed with no output files.
    pub no_outputs: bool,
    /// Images come out 8 pixels wider than asked.
    pub wrong_size: bool,
    /// Every output file is this many bytes (a valid PNG padded with zeros).
    pub huge_output: Option<usize>,
    /// `/view` answers an HTML page with 200.
    pub view_html: bool,
    /// Ignore the client's `prompt_id` and answer our own, like servers before it existed.
    pub ignore_prompt_id: bool,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            removed_classes: Vec::new(),
            models: DEFAULT_MODELS.iter().map(|m| (*m).to_owned()).collect(),
            fail_prompts: 0,
            fail_status: 503,
            retry_after: Some("3".to_owned()),
            prompt_answer: PromptAnswer::Normal,
            down: false,
            require_authorization: None,
            steps: 3,
            step_ms: 5,
            outcome: Outcome::Success,
            hold_queue: false,
            close_socket_mid_run: false,
            history_never: false,
            no_outputs: false,
            wrong_size: false,
            huge_output: None,
            view_html: false,
            ignore_prompt_id: false,
        }
    }
}

/// One `POST /upload/image` the fake received.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The file name sent in the multipart part.
    pub sent_name: String,
    /// The name answered (`name`).
    pub name: String,
    pub bytes: Vec<u8>,
    pub overwrite: bool,
}

/// Everything the fake received.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// `METHOD /path` of every request, in order.
    pub requests: Vec<String>,
    pub uploads: Vec<Upload>,
    /// Bodies of every `POST /prompt`.
    pub prompts: Vec<Value>,
    /// `prompt_id` of every `POST /interrupt` (`None`: no body).
    pub interrupts: Vec<Option<String>>,
    /// Ids deleted through `POST /queue {"delete": [...]}`.
    pub queue_deletes: Vec<String>,
    /// Query of every `/view`.
    pub views: Vec<BTreeMap<String, String>>,
    /// `clientId` of every websocket opened.
    pub ws_clients: Vec<String>,
    /// Prompts that were running when an interrupt stopped them.
    pub interrupted: Vec<String>,
}

/// A queued prompt.
#[derive(Debug, Clone)]
struct Queued {
    number: u64,
    prompt_id: String,
    prompt: Value,
    client_id: String,
}

impl Queued {
    fn as_queue_item(&self) -> Value {
        json!([self.number, self.prompt_id, self.prompt, {"client_id": self.client_id}, []])
    }
}

/// A socket's outbox; dropping the sender closes the socket.
struct SocketSlot {
    serial: u64,
    tx: mpsc::UnboundedSender<Outgoing>,
}

enum Outgoing {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Default)]
struct Inner {
    script: Script,
    rec: Recorded,
    sockets: HashMap<String, SocketSlot>,
    pending: VecDeque<Queued>,
    running: Option<Queued>,
    interrupt: bool,
    history: BTreeMap<String, Value>,
    /// `(type, subfolder, filename)` → bytes.
    files: HashMap<(String, String, String), Vec<u8>>,
    counter: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn send(&self, client_id: &str, kind: &str, data: Value) {
        let text = json!({"type": kind, "data": data}).to_string();
        if let Some(slot) = self.lock().sockets.get(client_id) {
            let _ = slot.tx.send(Outgoing::Text(text));
        }
    }

    fn send_binary(&self, client_id: &str, bytes: Vec<u8>) {
        if let Some(slot) = self.lock().sockets.get(client_id) {
            let _ = slot.tx.send(Outgoing::Binary(bytes));
        }
    }

    fn broadcast(&self, kind: &str, data: Value) {
        let text = json!({"type": kind, "data": data}).to_string();
        for slot in self.lock().sockets.values() {
            let _ = slot.tx.send(Outgoing::Text(text.clone()));
        }
    }
}

/// A running fake; stops when dropped.
pub struct FakeComfyUi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts a fake on 127.0.0.1 with a free port.
pub async fn start() -> (SocketAddr, FakeComfyUi) {
    start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap_or_else(|e| panic!("fake comfyui: cannot bind: {e}"))
}

/// Starts a fake on `addr` (the benchmark runs it as a process on a port it chose).
pub async fn start_on(addr: SocketAddr) -> std::io::Result<(SocketAddr, FakeComfyUi)> {
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner::default()),
        wake: Notify::new(),
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = routes::router(shared.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let worker = tokio::spawn(exec::worker(shared.clone()));
    let fake = FakeComfyUi {
        shared,
        addr,
        tasks: vec![server, worker],
    };
    Ok((addr, fake))
}

impl FakeComfyUi {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes how the fake behaves from now on.
    pub fn script(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.shared.lock().script);
        self.shared.wake.notify_one();
    }

    /// A copy of everything received so far.
    pub fn recorded(&self) -> Recorded {
        self.shared.lock().rec.clone()
    }

    /// Ids of the prompts waiting in the queue.
    pub fn pending(&self) -> Vec<String> {
        let inner = self.shared.lock();
        inner.pending.iter().map(|q| q.prompt_id.clone()).collect()
    }

    /// The id of the prompt running now.
    pub fn running(&self) -> Option<String> {
        self.shared
            .lock()
            .running
            .as_ref()
            .map(|q| q.prompt_id.clone())
    }

    /// The stored history entry of `prompt_id`.
    pub fn history(&self, prompt_id: &str) -> Option<Value> {
        self.shared.lock().history.get(prompt_id).cloned()
    }
}

impl Drop for FakeComfyUi {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
