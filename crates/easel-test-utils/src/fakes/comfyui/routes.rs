//! The fake's HTTP routes and websocket, each under `/x` and `/api/x` like server.py.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::exec::validate;
use super::{CLASSES, Outgoing, PromptAnswer, Queued, Shared, SocketSlot, Upload};

type S = State<Arc<Shared>>;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    let routes = Router::new()
        .route("/prompt", post(post_prompt))
        .route("/history", get(all_history))
        .route("/history/{id}", get(one_history))
        .route("/queue", get(get_queue).post(post_queue))
        .route("/interrupt", post(interrupt))
        .route("/upload/image", post(upload))
        .route("/view", get(view))
        .route("/system_stats", get(system_stats))
        .route("/object_info/{class}", get(object_info))
        .route("/ws", get(websocket));
    Router::new()
        .merge(routes.clone())
        .nest("/api", routes)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// Records every request; plays the proxy in front (auth) and the box being down.
async fn gate(State(shared): S, req: Request, next: Next) -> Response {
    let (down, auth) = {
        let mut inner = shared.lock();
        inner
            .rec
            .requests
            .push(format!("{} {}", req.method(), req.uri().path()));
        (
            inner.script.down,
            inner.script.require_authorization.clone(),
        )
    };
    if down {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "<html>503 Service Unavailable</html>",
        )
            .into_response();
    }
    if let Some(want) = auth {
        let got = req.headers().get(header::AUTHORIZATION);
        if got.and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
            return (StatusCode::UNAUTHORIZED, "401 Authorization Required").into_response();
        }
    }
    next.run(req).await
}

async fn post_prompt(State(shared): S, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = shared.lock();
    inner.rec.prompts.push(body.clone());
    let script = inner.script.clone();
    if inner.script.fail_prompts > 0 {
        inner.script.fail_prompts -= 1;
        let status = StatusCode::from_u16(script.fail_status).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut response = (status, "Service Unavailable").into_response();
        if let Some(after) = script
            .retry_after
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, after);
        }
        return response;
    }
    match script.prompt_answer {
        PromptAnswer::Html => {
            return (
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>502 Bad Gateway</body></html>",
            )
                .into_response();
        }
        PromptAnswer::Truncated => {
            return (StatusCode::OK, "{\"prompt_id\": \"abc").into_response();
        }
        PromptAnswer::OldNoPrompt => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "no prompt", "node_errors": []})),
            )
                .into_response();
        }
        PromptAnswer::Normal => {}
    }
    let Some(prompt) = body.get("prompt").filter(|p| p.is_object()) else {
        let error = json!({"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {}});
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": error, "node_errors": {}})),
        )
            .into_response();
    };
    let uploaded: Vec<String> = inner
        .files
        .keys()
        .filter(|(kind, _, _)| kind == "input")
        .map(|(_, _, name)| name.clone())
        .collect();
    if let Err(rejected) = validate(prompt, &script, &uploaded) {
        return (StatusCode::BAD_REQUEST, axum::Json(rejected)).into_response();
    }
    let given = body.get("prompt_id").and_then(Value::as_str);
    let prompt_id = match given {
        Some(id) if !script.ignore_prompt_id => {
            if !is_canonical_uuid(id) {
                let error = json!({"type": "invalid_prompt_id", "message": "Invalid prompt_id", "details": id, "extra_info": {}});
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": error, "node_errors": {}})),
                )
                    .into_response();
            }
            id.to_owned()
        }
        _ => format!("00000000-0000-4000-8000-{:012x}", inner.counter + 1),
    };
    inner.counter += 1;
    let number = inner.counter;
    let client_id = body
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    inner.pending.push_back(Queued {
        number,
        prompt_id: prompt_id.clone(),
        prompt: prompt.clone(),
        client_id,
    });
    drop(inner);
    shared.wake.notify_one();
    axum::Json(json!({"prompt_id": prompt_id, "number": number, "node_errors": {}})).into_response()
}

fn is_canonical_uuid(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

async fn all_history(State(shared): S) -> axum::Json<Value> {
    let history = shared.lock().history.clone();
    axum::Json(json!(history))
}

async fn one_history(State(shared): S, Path(id): Path<String>) -> axum::Json<Value> {
    let entry = shared.lock().history.get(&id).cloned();
    axum::Json(match entry {
        Some(e) => json!({ id: e }),
        None => json!({}),
    })
}

async fn get_queue(State(shared): S) -> axum::Json<Value> {
    let inner = shared.lock();
    let running: Vec<Value> = inner.running.iter().map(Queued::as_queue_item).collect();
    let pending: Vec<Value> = inner.pending.iter().map(Queued::as_queue_item).collect();
    axum::Json(json!({"queue_running": running, "queue_pending": pending}))
}

async fn post_queue(State(shared): S, body: Bytes) -> StatusCode {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = shared.lock();
    if body.get("clear").and_then(Value::as_bool) == Some(true) {
        inner.pending.clear();
    }
    for id in body
        .get("delete")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(id) = id.as_str() {
            inner.rec.queue_deletes.push(id.to_owned());
            inner.pending.retain(|q| q.prompt_id != id);
        }
    }
    StatusCode::OK
}

async fn interrupt(State(shared): S, body: Bytes) -> StatusCode {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let wanted = body
        .get("prompt_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut inner = shared.lock();
    inner.rec.interrupts.push(wanted.clone());
    let running = inner.running.as_ref().map(|q| q.prompt_id.clone());
    // Newer servers interrupt only the named prompt; without a name, whatever runs.
    if running.is_some() && (wanted.is_none() || wanted == running) {
        inner.interrupt = true;
    }
    StatusCode::OK
}

async fn upload(State(shared): S, mut form: Multipart) -> Response {
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut overwrite = false;
    let mut subfolder = String::new();
    let mut kind = "input".to_owned();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let Ok(data) = field.bytes().await else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let text = String::from_utf8_lossy(&data).into_owned();
        match name.as_str() {
            "image" => file = Some((file_name.unwrap_or_default(), data.to_vec())),
            "overwrite" => overwrite = text == "true" || text == "1",
            "subfolder" => subfolder = text,
            "type" => kind = text,
            _ => {}
        }
    }
    let Some((sent_name, bytes)) = file.filter(|(n, _)| !n.is_empty()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut inner = shared.lock();
    let name = free_name(
        &inner.files,
        &kind,
        &subfolder,
        &sent_name,
        &bytes,
        overwrite,
    );
    inner.files.insert(
        (kind.clone(), subfolder.clone(), name.clone()),
        bytes.clone(),
    );
    inner.rec.uploads.push(Upload {
        sent_name,
        name: name.clone(),
        bytes,
        overwrite,
    });
    axum::Json(json!({"name": name, "subfolder": subfolder, "type": kind})).into_response()
}

/// server.py's rule: overwrite keeps the name; same content reuses it; different content
/// gets `name (1).ext`, `name (2).ext`…
fn free_name(
    files: &HashMap<(String, String, String), Vec<u8>>,
    kind: &str,
    subfolder: &str,
    wanted: &str,
    bytes: &[u8],
    overwrite: bool,
) -> String {
    let (stem, ext) = wanted.rsplit_once('.').unwrap_or((wanted, ""));
    let mut name = wanted.to_owned();
    let mut i = 1;
    loop {
        match files.get(&(kind.to_owned(), subfolder.to_owned(), name.clone())) {
            None => return name,
            Some(_) if overwrite => return name,
            Some(existing) if existing == bytes => return name,
            Some(_) => {
                name = format!("{stem} ({i}).{ext}");
                i += 1;
            }
        }
    }
}

async fn view(State(shared): S, Query(query): Query<BTreeMap<String, String>>) -> Response {
    let mut inner = shared.lock();
    inner.rec.views.push(query.clone());
    let filename = query.get("filename").cloned().unwrap_or_default();
    if filename.is_empty() || filename.starts_with('/') || filename.contains("..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    if inner.script.view_html {
        return ([(header::CONTENT_TYPE, "text/html")], "<html>login</html>").into_response();
    }
    let kind = query
        .get("type")
        .cloned()
        .unwrap_or_else(|| "output".to_owned());
    let subfolder = query.get("subfolder").cloned().unwrap_or_default();
    match inner.files.get(&(kind, subfolder, filename.clone())) {
        Some(bytes) => {
            let disposition = format!("filename=\"{filename}\"");
            ([(header::CONTENT_DISPOSITION, disposition)], bytes.clone()).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn system_stats() -> axum::Json<Value> {
    axum::Json(json!({
        "system": {"os": "posix", "ram_total": 68_719_476_736u64, "ram_free": 34_359_738_368u64,
                   "comfyui_version": "0.3.66", "python_version": "3.12.3", "pytorch_version": "2.8.0+cu128",
                   "embedded_python": false, "argv": ["main.py", "--listen", "0.0.0.0"]},
        "devices": [{"name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync", "type": "cuda", "index": 0,
                     "vram_total": 25_757_220_864u64, "vram_free": 24_000_000_000u64,
                     "torch_vram_total": 0, "torch_vram_free": 0}]
    }))
}

async fn object_info(State(shared): S, Path(class): Path<String>) -> axum::Json<Value> {
    let script = shared.lock().script.clone();
    let installed = CLASSES.contains(&class.as_str()) && !script.removed_classes.contains(&class);
    if !installed {
        return axum::Json(json!({}));
    }
    let models = json!([script.models, {}]);
    let required = match class.as_str() {
        "CheckpointLoaderSimple" => json!({"ckpt_name": models}),
        "UNETLoader" => {
            json!({"unet_name": models, "weight_dtype": [["default", "fp8_e4m3fn"], {}]})
        }
        "CLIPLoader" => {
            json!({"clip_name": models, "type": ["COMBO", {"options": ["stable_diffusion", "wan"]}]})
        }
        "VAELoader" => json!({"vae_name": models}),
        "KSampler" => json!({
            "seed": ["INT", {"default": 0, "min": 0, "max": u64::MAX}],
            "sampler_name": [["euler", "euler_ancestral", "dpmpp_2m", "uni_pc"], {}],
            "scheduler": [["normal", "karras", "simple"], {}]}),
        _ => json!({}),
    };
    let output_node = super::exec::OUTPUT_CLASSES.contains(&class.as_str());
    axum::Json(json!({ class.clone(): {
        "input": {"required": required, "optional": {}, "hidden": {}},
        "output": [], "output_is_list": [], "output_name": [],
        "name": class, "display_name": class, "description": "", "python_module": "nodes",
        "category": "fake", "output_node": output_node }}))
}

async fn websocket(
    State(shared): S,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let client_id = query.get("clientId").cloned().unwrap_or_default();
    upgrade.on_upgrade(move |socket| serve_socket(shared, client_id, socket))
}

async fn serve_socket(shared: Arc<Shared>, client_id: String, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let serial = {
        let mut inner = shared.lock();
        inner.counter += 1;
        let serial = inner.counter;
        inner.rec.ws_clients.push(client_id.clone());
        // Reusing a client id evicts the old socket, as in server.py.
        inner
            .sockets
            .insert(client_id.clone(), SocketSlot { serial, tx });
        serial
    };
    let hello = json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client_id}});
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            out = rx.recv() => {
                let message = match out {
                    Some(Outgoing::Text(text)) => Message::Text(text.into()),
                    Some(Outgoing::Binary(bytes)) => Message::Binary(bytes.into()),
                    None => break,
                };
                if socket.send(message).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
    let mut inner = shared.lock();
    if inner
        .sockets
        .get(&client_id)
        .is_some_and(|s| s.serial == serial)
    {
        inner.sockets.remove(&client_id);
    }
}
