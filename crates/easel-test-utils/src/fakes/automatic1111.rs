//! A fake AUTOMATIC1111 / Forge server speaking `/sdapi/v1` as FIELD-NOTES §2 describes
//! it, quirks included:
//! - one job at a time behind a global lock (`queue_lock`); a job keeps running when its
//!   client goes away (FastAPI runs the handler to its end), so it is spawned apart from
//!   the connection;
//! - `/progress` names the running job's `force_task_id` in `current_task` (and nothing
//!   when idle); `/interrupt` stops whatever runs, and the job then answers with the images
//!   made so far (none when stopped before its first step);
//! - errors in A1111's middleware shape `{error, detail, body, errors}` or Forge's plain
//!   FastAPI `{detail}` (an unhandled exception is a bare `Internal Server Error` there),
//!   sampler not found 404 vs 400, 422 validation lists, `Incorrect username or password`
//!   (Forge serves `/progress` without credentials);
//! - an unknown checkpoint override silently falls back to the loaded checkpoint, as
//!   `select_checkpoint` does, and `info.sd_model_name` tells which one ran;
//! - a grid image first when asked to, with `index_of_first_image` = 1.
//!
//! It records what it received and can be scripted to misbehave ([`Fault`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde_json::{Value, json};

use super::images::png;

/// Which server's behaviour to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// AUTOMATIC1111 stable-diffusion-webui (its `api_middleware` shapes every error).
    Automatic1111,
    /// Forge (the middleware is commented out: plain FastAPI errors).
    Forge,
}

/// A scripted misbehaviour; each generation request takes the next one queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `503` with `Retry-After` (a proxy in front of a restarting server).
    Unavailable { retry_after_seconds: u64 },
    /// `200` with an HTML page.
    Html,
    /// `200` with the answer cut in half.
    TruncatedJson,
    /// `200` with an empty `images` list.
    NoImages,
    /// `200` with images 8 pixels wider than asked.
    WrongSize,
    /// `200` with one image of this many bytes.
    HugeImage { bytes: usize },
    /// `200` whose `info` string is not JSON.
    BadInfo,
    /// `500` CUDA out of memory, raised once the job has started.
    OutOfMemory,
    /// `500` `RuntimeError("model '…' not found")`.
    ModelNotFound,
    /// Waits this long before starting the job (also when the client has gone).
    Slow(Duration),
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct Options {
    pub flavour: Flavour,
    /// Basic-auth user and password (`--api-auth user:pass`).
    pub auth: Option<(String, String)>,
    /// Checkpoint titles (`name [hash]`); the first is the loaded one.
    pub checkpoints: Vec<String>,
    /// Sampler names.
    pub samplers: Vec<String>,
    /// Sampling steps when the request names none.
    pub steps: u32,
    /// Time per sampling step.
    pub step_delay: Duration,
    /// Put a grid image before the batch when `batch_size > 1`.
    pub grid: bool,
    /// `false` = started without `--api`: every `/sdapi` route is 404.
    pub api: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flavour: Flavour::Automatic1111,
            auth: None,
            checkpoints: vec![
                "v1-5-pruned-emaonly.safetensors [6ce0161689]".to_owned(),
                "SDXL/sd_xl_base_1.0.safetensors [31e35c80fc]".to_owned(),
            ],
            samplers: vec![
                "Euler a".to_owned(),
                "Euler".to_owned(),
                "DPM++ 2M".to_owned(),
            ],
            steps: 4,
            step_delay: Duration::from_millis(5),
            grid: false,
            api: true,
        }
    }
}

/// One generation request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `txt2img` or `img2img`.
    pub route: &'static str,
    pub body: Value,
    /// The raw `Authorization` header.
    pub authorization: Option<String>,
    /// `init_images`, decoded.
    pub init_images: Vec<Vec<u8>>,
}

#[derive(Debug, Default)]
struct Job {
    task: String,
    step: u32,
    steps: u32,
    interrupted: bool,
}

#[derive(Debug, Default)]
struct Inner {
    faults: VecDeque<Fault>,
    received: Vec<Received>,
    interrupts: Vec<Option<String>>,
    progress_polls: usize,
    started: Vec<String>,
    job: Option<Job>,
    next_task: u64,
}

struct Shared {
    options: Options,
    /// A1111's `queue_lock`; tokio's mutex is fair, so jobs start in arrival order.
    queue_lock: tokio::sync::Mutex<()>,
    inner: Mutex<Inner>,
}

impl Shared {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running fake; dropping it stops the server.
pub struct FakeA1111 {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeA1111 {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Starts a fake on `127.0.0.1:0`; returns its address and its handle.
pub async fn start(options: Options) -> (SocketAddr, FakeA1111) {
    let shared = Arc::new(Shared {
        options,
        queue_lock: tokio::sync::Mutex::new(()),
        inner: Mutex::new(Inner::default()),
    });
    let app = Router::new()
        .route("/sdapi/v1/txt2img", post(txt2img))
        .route("/sdapi/v1/img2img", post(img2img))
        .route("/sdapi/v1/progress", get(progress))
        .route("/sdapi/v1/interrupt", post(interrupt))
        .route("/sdapi/v1/options", get(options_route))
        .route("/sdapi/v1/sd-models", get(sd_models))
        .route("/sdapi/v1/samplers", get(samplers))
        .fallback(|| async { not_found() })
        .layer(DefaultBodyLimit::max(256 * 1024 * 1024))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("the fake A1111 could not bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("the fake A1111 has no address: {e}"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let fake = FakeA1111 {
        shared,
        addr,
        server,
    };
    (addr, fake)
}

impl FakeA1111 {
    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a fault for the next generation request.
    pub fn push_fault(&self, fault: Fault) {
        self.shared.inner().faults.push_back(fault);
    }

    /// Generation requests received, in order.
    #[must_use]
    pub fn received(&self) -> Vec<Received> {
        self.shared.inner().received.clone()
    }

    /// Every `/interrupt` call, with the task that was running then (`None`: idle).
    #[must_use]
    pub fn interrupts(&self) -> Vec<Option<String>> {
        self.shared.inner().interrupts.clone()
    }

    /// How many times `/progress` was read.
    #[must_use]
    pub fn progress_polls(&self) -> usize {
        self.shared.inner().progress_polls
    }

    /// Tasks that got the lock and started, in order.
    #[must_use]
    pub fn started(&self) -> Vec<String> {
        self.shared.inner().started.clone()
    }

    /// The task running now.
    #[must_use]
    pub fn running(&self) -> Option<String> {
        self.shared.inner().job.as_ref().map(|j| j.task.clone())
    }

    /// Runs another client's job of `steps` steps named `task` (as if posted by the web
    /// UI); the returned handle ends with the job.
    pub fn run_foreign_job(&self, task: &str, steps: u32) -> tokio::task::JoinHandle<Option<u32>> {
        let shared = self.shared.clone();
        let task = task.to_owned();
        tokio::spawn(async move { run_job(&shared, task, steps, false).await.ok() })
    }
}

async fn txt2img(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    generate(&s, "txt2img", &headers, &body).await
}

async fn img2img(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    generate(&s, "img2img", &headers, &body).await
}

async fn generate(
    s: &Arc<Shared>,
    route: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if let Some(refused) = gate(s, headers, true) {
        return refused;
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return validation(&["body"], "value is not a valid dict", "type_error.dict");
    };
    if let Some(refused) = validate(&request) {
        return refused;
    }
    let init_images = decode_init_images(&request);
    s.inner().received.push(Received {
        route,
        body: request.clone(),
        authorization: header_text(headers, header::AUTHORIZATION),
        init_images: init_images.clone().unwrap_or_default(),
    });
    if let Some(sampler) = request.get("sampler_name").and_then(Value::as_str)
        && !s.options.samplers.iter().any(|n| n == sampler)
    {
        let status = match s.options.flavour {
            Flavour::Automatic1111 => StatusCode::NOT_FOUND,
            Flavour::Forge => StatusCode::BAD_REQUEST,
        };
        return http_exception(s, status, "Sampler not found");
    }
    if route == "img2img" {
        match init_images {
            None => return http_exception(s, StatusCode::NOT_FOUND, "Init image not found"),
            Some(images) if images.is_empty() => {
                return http_exception(
                    s,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Invalid encoded image",
                );
            }
            Some(_) => {}
        }
    }
    let fault = s.inner().faults.pop_front();
    match &fault {
        Some(Fault::Unavailable {
            retry_after_seconds,
        }) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, retry_after_seconds.to_string())],
                "Service Unavailable",
            )
                .into_response();
        }
        Some(Fault::ModelNotFound) => {
            let name = checkpoint_asked(&request).unwrap_or("model.safetensors");
            return unhandled(s, "RuntimeError", &format!("model '{name}' not found"));
        }
        _ => {}
    }
    run_and_answer(s, request, fault).await
}

/// Runs the job apart from the connection (it survives a client that hangs up) and
/// answers with its images.
async fn run_and_answer(s: &Arc<Shared>, request: Value, fault: Option<Fault>) -> Response {
    let task = match request.get("force_task_id").and_then(Value::as_str) {
        Some(task) => task.to_owned(),
        None => {
            let mut inner = s.inner();
            inner.next_task += 1;
            format!("task(fake{})", inner.next_task)
        }
    };
    let steps = request
        .get("steps")
        .and_then(Value::as_u64)
        .map_or(s.options.steps, |n| n as u32);
    let oom = fault == Some(Fault::OutOfMemory);
    let delay = match fault {
        Some(Fault::Slow(wait)) => wait,
        _ => Duration::ZERO,
    };
    let shared = s.clone();
    let job = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        run_job(&shared, task, steps, oom).await
    });
    let done = match job.await {
        Ok(Ok(done)) => done,
        Ok(Err(())) => {
            return unhandled(
                s,
                "OutOfMemoryError",
                "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity)",
            );
        }
        Err(_) => return unhandled(s, "RuntimeError", "the job panicked"),
    };
    answer(s, &request, done, fault)
}

/// One job under the lock; returns the steps it completed, or `Err` for an OOM.
async fn run_job(s: &Arc<Shared>, task: String, steps: u32, oom: bool) -> Result<u32, ()> {
    let _lock = s.queue_lock.lock().await;
    {
        let mut inner = s.inner();
        inner.started.push(task.clone());
        inner.job = Some(Job {
            task,
            steps,
            ..Job::default()
        });
    }
    let mut done = 0;
    for step in 1..=steps {
        tokio::time::sleep(s.options.step_delay).await;
        let mut inner = s.inner();
        let Some(job) = inner.job.as_mut() else { break };
        if job.interrupted {
            break;
        }
        job.step = step;
        done = step;
        if oom {
            inner.job = None;
            return Err(());
        }
    }
    s.inner().job = None;
    Ok(done)
}

/// The `TextToImageResponse` of a finished job.
fn answer(s: &Shared, request: &Value, steps_done: u32, fault: Option<Fault>) -> Response {
    let n = request
        .get("batch_size")
        .and_then(Value::as_u64)
        .unwrap_or(1) as u32;
    let width = request.get("width").and_then(Value::as_u64).unwrap_or(512) as u32;
    let height = request.get("height").and_then(Value::as_u64).unwrap_or(512) as u32;
    let seed = match request.get("seed").and_then(Value::as_i64) {
        Some(-1) | None => 1_234_567,
        Some(seed) => seed,
    };
    // Interrupted before the first step: A1111 breaks out before sampling, no images.
    let made = if steps_done == 0 { 0 } else { n };
    let grid = s.options.grid && made > 1;
    let wide = if fault == Some(Fault::WrongSize) {
        8
    } else {
        0
    };
    let mut images: Vec<String> = Vec::new();
    if grid {
        images.push(BASE64.encode(png(width * made, height, 0)));
    }
    for i in 0..made {
        images.push(BASE64.encode(png(
            width + wide,
            height,
            (seed as u64).wrapping_add(u64::from(i)),
        )));
    }
    match fault {
        Some(Fault::NoImages) => images.clear(),
        Some(Fault::HugeImage { bytes }) => {
            let noise: Vec<u8> = (0..bytes).map(|i| (i * 7919 % 251) as u8).collect();
            images = vec![BASE64.encode(noise)];
        }
        _ => {}
    }
    let all_seeds: Vec<i64> = (0..i64::from(n)).map(|i| seed + i).collect();
    let (model_name, model_hash) = ran_checkpoint(s, request);
    let info = json!({
        "prompt": request.get("prompt"), "all_prompts": vec![request.get("prompt"); n as usize],
        "negative_prompt": request.get("negative_prompt"), "seed": seed, "all_seeds": all_seeds,
        "subseed": 42, "all_subseeds": vec![42; n as usize], "width": width, "height": height,
        "sampler_name": request.get("sampler_name").cloned().unwrap_or(json!("Euler a")),
        "cfg_scale": request.get("cfg_scale").cloned().unwrap_or(json!(7.0)),
        "steps": request.get("steps").cloned().unwrap_or(json!(s.options.steps)),
        "batch_size": n, "sd_model_name": model_name, "sd_model_hash": model_hash,
        "denoising_strength": request.get("denoising_strength"),
        "index_of_first_image": usize::from(grid), "infotexts": vec!["a fake"; made as usize],
        "job_timestamp": "20260101000000",
        "version": match s.options.flavour { Flavour::Automatic1111 => "v1.10.1", Flavour::Forge => "f2.0.1v1.10.1-previous-665-gae278f79" },
    });
    let info = if fault == Some(Fault::BadInfo) {
        "Steps: 20, Sampler: Euler a".to_owned()
    } else {
        info.to_string()
    };
    let mut parameters = request.clone();
    if let Some(map) = parameters.as_object_mut() {
        map.insert("init_images".to_owned(), Value::Null);
    }
    let body = json!({"images": images, "parameters": parameters, "info": info}).to_string();
    match fault {
        Some(Fault::Html) => (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        Some(Fault::TruncatedJson) => {
            let cut = body[..body.len() / 2].to_owned();
            ([(header::CONTENT_TYPE, "application/json")], cut).into_response()
        }
        _ => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
    }
}

/// The checkpoint a request asked for, if any.
fn checkpoint_asked(request: &Value) -> Option<&str> {
    request
        .pointer("/override_settings/sd_model_checkpoint")?
        .as_str()
}

/// The checkpoint that runs for `request`: the one asked for when the server has it,
/// else (silently) the loaded one. Returns `name_for_extra` and the short hash.
fn ran_checkpoint(s: &Shared, request: &Value) -> (String, String) {
    let known = |title: &String| {
        checkpoint_asked(request).is_some_and(|asked| aliases(title).iter().any(|a| a == asked))
    };
    let title = s
        .options
        .checkpoints
        .iter()
        .find(|t| known(t))
        .or_else(|| s.options.checkpoints.first())
        .cloned()
        .unwrap_or_default();
    let (name, hash) = split_title(&title);
    (stem(name).to_owned(), hash.to_owned())
}

/// `dir/x.safetensors [hash]` → (`dir/x.safetensors`, `hash`).
fn split_title(title: &str) -> (&str, &str) {
    match title.rsplit_once(" [") {
        Some((name, rest)) => (name, rest.trim_end_matches(']')),
        None => (title, ""),
    }
}

fn stem(name: &str) -> &str {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.rsplit_once('.').map_or(file, |(stem, _)| stem)
}

/// What A1111's `checkpoint_aliases` holds for a title.
fn aliases(title: &str) -> Vec<String> {
    let (name, hash) = split_title(title);
    vec![
        title.to_owned(),
        name.to_owned(),
        stem(name).to_owned(),
        name.replace('/', "_")
            .rsplit_once('.')
            .map_or(name.to_owned(), |(m, _)| m.to_owned()),
        hash.to_owned(),
    ]
}

/// `init_images` decoded: `None` when absent, empty when one is not valid base64.
fn decode_init_images(request: &Value) -> Option<Vec<Vec<u8>>> {
    let list = request.get("init_images")?.as_array()?;
    let mut out = Vec::new();
    for item in list {
        let text = item.as_str().unwrap_or_default();
        let data = text.split_once(";base64,").map_or(text, |(_, d)| d);
        match BASE64.decode(data) {
            Ok(bytes) => out.push(bytes),
            Err(_) => return Some(Vec::new()),
        }
    }
    Some(out)
}

/// Pydantic's type checks on the fields the fake knows.
fn validate(request: &Value) -> Option<Response> {
    const INTEGERS: &[&str] = &[
        "seed",
        "subseed",
        "width",
        "height",
        "batch_size",
        "n_iter",
        "steps",
    ];
    const NUMBERS: &[&str] = &["cfg_scale", "denoising_strength", "eta"];
    const STRINGS: &[&str] = &[
        "prompt",
        "negative_prompt",
        "sampler_name",
        "scheduler",
        "force_task_id",
    ];
    for field in INTEGERS {
        if request
            .get(*field)
            .is_some_and(|v| !(v.is_i64() || v.is_u64()))
        {
            return Some(validation(
                &["body", field],
                "value is not a valid integer",
                "type_error.integer",
            ));
        }
    }
    for field in NUMBERS {
        if request.get(*field).is_some_and(|v| !v.is_number()) {
            return Some(validation(
                &["body", field],
                "value is not a valid float",
                "type_error.float",
            ));
        }
    }
    for field in STRINGS {
        if request.get(*field).is_some_and(|v| !v.is_string()) {
            return Some(validation(
                &["body", field],
                "str type expected",
                "type_error.str",
            ));
        }
    }
    None
}

/// FastAPI's 422 (the same on both flavours).
fn validation(loc: &[&str], msg: &str, kind: &str) -> Response {
    let body = json!({"detail": [{"loc": loc, "msg": msg, "type": kind}]});
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

/// An `HTTPException` as each flavour answers it.
fn http_exception(s: &Shared, status: StatusCode, detail: &str) -> Response {
    let body = match s.options.flavour {
        Flavour::Automatic1111 => json!({
            "error": "HTTPException", "detail": detail, "body": "",
            "errors": format!("{}: {detail}", status.as_u16()),
        }),
        Flavour::Forge => json!({"detail": detail}),
    };
    (status, axum::Json(body)).into_response()
}

/// Any other exception: A1111's middleware shapes it; Forge answers starlette's bare 500.
fn unhandled(s: &Shared, class: &str, message: &str) -> Response {
    match s.options.flavour {
        Flavour::Automatic1111 => {
            let body = json!({"error": class, "detail": "", "body": "", "errors": message});
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
        }
        Flavour::Forge => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Internal Server Error",
        )
            .into_response(),
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"detail": "Not Found"})),
    )
        .into_response()
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `--api` off (404) or Basic auth refused (401); `None` lets the request through.
fn gate(s: &Shared, headers: &HeaderMap, protected: bool) -> Option<Response> {
    if !s.options.api {
        return Some(not_found());
    }
    let (user, password) = s.options.auth.as_ref()?;
    if !protected {
        return None;
    }
    let Some(given) = header_text(headers, header::AUTHORIZATION) else {
        return Some(refuse(s, "Not authenticated"));
    };
    let expected = format!("Basic {}", BASE64.encode(format!("{user}:{password}")));
    (given != expected).then(|| refuse(s, "Incorrect username or password"))
}

/// A 401: A1111's middleware drops the `WWW-Authenticate` header; Forge keeps it.
fn refuse(s: &Shared, detail: &str) -> Response {
    let mut response = http_exception(s, StatusCode::UNAUTHORIZED, detail);
    if s.options.flavour == Flavour::Forge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic"),
        );
    }
    response
}

async fn progress(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    // Forge registers /progress with `auth_required=False`.
    if let Some(refused) = gate(&s, &headers, s.options.flavour == Flavour::Automatic1111) {
        return refused;
    }
    let mut inner = s.inner();
    inner.progress_polls += 1;
    let body = match &inner.job {
        None => json!({
            "progress": 0.0, "eta_relative": 0.0,
            "state": {"skipped": false, "interrupted": false, "job": "", "job_count": 0,
                      "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0},
            "current_image": null, "textinfo": null, "current_task": null,
        }),
        Some(job) => json!({
            "progress": (0.01 + f64::from(job.step) / f64::from(job.steps.max(1))).min(1.0),
            "eta_relative": 1.0,
            "state": {"skipped": false, "interrupted": job.interrupted, "job": "scripts_txt2img",
                      "job_count": 1, "job_timestamp": "20260101000000", "job_no": 0,
                      "sampling_step": job.step, "sampling_steps": job.steps},
            "current_image": null, "textinfo": null, "current_task": job.task,
        }),
    };
    axum::Json(body).into_response()
}

async fn interrupt(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refused) = gate(&s, &headers, true) {
        return refused;
    }
    let mut inner = s.inner();
    let running = inner.job.as_ref().map(|j| j.task.clone());
    inner.interrupts.push(running);
    if let Some(job) = inner.job.as_mut() {
        job.interrupted = true;
    }
    axum::Json(json!({})).into_response()
}

async fn options_route(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refused) = gate(&s, &headers, true) {
        return refused;
    }
    let loaded = s.options.checkpoints.first().cloned().unwrap_or_default();
    axum::Json(json!({"sd_model_checkpoint": loaded, "samples_format": "png", "CLIP_stop_at_last_layers": 1}))
        .into_response()
}

async fn sd_models(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refused) = gate(&s, &headers, true) {
        return refused;
    }
    let list: Vec<Value> = s
        .options
        .checkpoints
        .iter()
        .map(|title| {
            let (name, hash) = split_title(title);
            json!({
                "title": title, "model_name": aliases(title)[3], "hash": hash, "sha256": null,
                "filename": format!("/opt/webui/models/Stable-diffusion/{name}"), "config": null,
            })
        })
        .collect();
    axum::Json(list).into_response()
}

async fn samplers(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refused) = gate(&s, &headers, true) {
        return refused;
    }
    let list: Vec<Value> = s
        .options
        .samplers
        .iter()
        .map(|name| json!({"name": name, "aliases": [name.to_lowercase().replace(' ', "_")], "options": {}}))
        .collect();
    axum::Json(list).into_response()
}
