//! The `comfyui` engine through its public API, against the fake ComfyUI of
//! `easel-test-utils` (HTTP + websocket) and, when `EASEL_TEST_COMFYUI_URL` is set, the
//! happy paths again against that real server with the example workflows of
//! `config/examples/comfyui/` (checkpoint: `EASEL_TEST_COMFYUI_CHECKPOINT`, default
//! `v1-5-pruned-emaonly.safetensors`; the video example also needs
//! `EASEL_TEST_COMFYUI_VIDEO=1` and the Wan 2.1 files).
//!
//! Happy paths here; failures in `faults`, build checks and probes in `setup`.

mod faults;
mod setup;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use easel_engines::check::{self, Limits};
use easel_engines::registry::{self, BuildContext, ModelRef};
use easel_engines::{
    Artifact, Control, Engine, EngineError, GenerationRequest, InputImage, ModelKind,
};
use easel_test_utils::fakes::comfyui::{self, DEFAULT_CHECKPOINT, FakeComfyUi};
use easel_test_utils::fakes::images;
use serde_json::Value;

use crate::helpers::ffprobe;

/// `config/examples/`, the directory the example model entries are relative to.
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples")
}

/// `[models.<model>.settings]` of `config/examples/engines.toml`, as JSON.
fn example_settings(model: &str) -> Value {
    let text =
        std::fs::read_to_string(examples().join("engines.toml")).expect("example engines.toml");
    let table: toml::Table = toml::from_str(&text).expect("example engines.toml parses");
    let settings = &table["models"][model]["settings"];
    serde_json::to_value(settings).expect("settings as JSON")
}

fn kind_of(model: &str) -> ModelKind {
    if model.contains("video") {
        ModelKind::Video
    } else {
        ModelKind::Image
    }
}

/// Builds `model`'s engine from `settings`, reading workflows from `dir`.
fn build(model: &str, settings: &Value, dir: &Path) -> Result<Arc<dyn Engine>, String> {
    let ctx = BuildContext {
        config_dir: dir.to_path_buf(),
        fetch: None,
        max_output_bytes: 2 * 1024 * 1024,
        ..BuildContext::default()
    };
    let model_ref = ModelRef {
        id: model,
        kind: kind_of(model),
    };
    registry::build("comfyui", model_ref, settings, &ctx)
}

/// A fake and an engine of the example `model` pointed at it, after `change` to its
/// settings (the poll interval is short so fallbacks finish fast).
async fn fake_with(model: &str, change: impl FnOnce(&mut Value)) -> (FakeComfyUi, Arc<dyn Engine>) {
    let (_, fake) = comfyui::start().await;
    let mut settings = example_settings(model);
    settings["base_url"] = Value::from(fake.url());
    settings["poll_interval_ms"] = Value::from(20);
    change(&mut settings);
    let engine = build(model, &settings, &examples()).expect("example builds");
    (fake, engine)
}

async fn fake(model: &str) -> (FakeComfyUi, Arc<dyn Engine>) {
    fake_with(model, |_| {}).await
}

/// The engine of the example `model` against the real server, or `None` (with a notice).
fn real(model: &str) -> Option<(tempfile::TempDir, Arc<dyn Engine>)> {
    let Ok(url) = std::env::var("EASEL_TEST_COMFYUI_URL") else {
        eprintln!(
            "EASEL_TEST_COMFYUI_URL is not set: comfyui `{model}` runs against the fake only"
        );
        return None;
    };
    if kind_of(model) == ModelKind::Video && std::env::var("EASEL_TEST_COMFYUI_VIDEO").is_err() {
        eprintln!(
            "EASEL_TEST_COMFYUI_VIDEO is not set: the video example runs against the fake only"
        );
        return None;
    }
    let checkpoint = std::env::var("EASEL_TEST_COMFYUI_CHECKPOINT")
        .unwrap_or_else(|_| DEFAULT_CHECKPOINT.to_owned());
    let mut settings = example_settings(model);
    settings["base_url"] = Value::from(url);
    let file = settings["workflow"].as_str().expect("workflow").to_owned();
    let mut workflow: Value = serde_json::from_str(
        &std::fs::read_to_string(examples().join(&file)).expect("example workflow"),
    )
    .expect("example workflow JSON");
    for node in workflow.as_object_mut().expect("graph").values_mut() {
        if node["class_type"] == "CheckpointLoaderSimple" {
            node["inputs"]["ckpt_name"] = Value::from(checkpoint.as_str());
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(&file);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("workflow dir");
    std::fs::write(&path, workflow.to_string()).expect("workflow copy");
    let engine = build(model, &settings, dir.path()).expect("example builds for the real server");
    Some((dir, engine))
}

/// A request with a generation id unique to this process and call.
fn request(kind: ModelKind, size: (u32, u32)) -> GenerationRequest {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let serial = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut req = crate::helpers::image_request("a lighthouse at dawn, watercolor");
    req.id = format!("gen_comfy{}x{serial}", std::process::id());
    req.model = "comfy".to_owned();
    req.kind = kind;
    (req.width, req.height) = size;
    req.negative_prompt = Some("blurry".to_owned());
    if kind == ModelKind::Video {
        req.duration_seconds = Some(2);
        req.fps = Some(8);
    }
    req
}

fn with_image(mut req: GenerationRequest) -> GenerationRequest {
    req.input_image = Some(InputImage {
        bytes: images::png(48, 40, 9).into(),
        content_type: "image/png".to_owned(),
    });
    req
}

/// Runs `req` and checks every output the way the server does.
async fn run_checked(engine: &dyn Engine, req: &GenerationRequest) -> Vec<Artifact> {
    let control = Control::default();
    let generated = engine
        .generate(req, &control)
        .await
        .expect("generation succeeds");
    assert_eq!(control.progress.get(), 1.0);
    check::inspect_all(req, generated.outputs, &Limits::default()).expect("outputs pass the checks")
}

/// Runs `req` and returns its error.
async fn run_err(engine: &dyn Engine, req: &GenerationRequest) -> EngineError {
    match engine.generate(req, &Control::default()).await {
        Ok(generated) => match check::inspect_all(req, generated.outputs, &Limits::default()) {
            Ok(outputs) => panic!("expected a failure, got {} outputs", outputs.len()),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// Nothing a developer may read names the backend.
fn assert_clean(err: &EngineError, addr: SocketAddr) {
    let public = match err {
        EngineError::Permanent { reason, .. } | EngineError::BadOutput { reason, .. } => {
            reason.clone()
        }
        _ => String::new(),
    };
    for leak in [
        addr.to_string(),
        addr.port().to_string(),
        "127.0.0.1".to_owned(),
    ] {
        assert!(
            !public.contains(&leak),
            "`{leak}` in the public reason: {public}"
        );
    }
}

fn addr_of(fake: &FakeComfyUi) -> SocketAddr {
    fake.url()
        .trim_start_matches("http://")
        .parse()
        .expect("fake address")
}

#[tokio::test]
async fn text_to_image_fills_the_bindings_and_follows_the_websocket() {
    let (fake, engine) = fake("sd15").await;
    let req = request(ModelKind::Image, (64, 48));
    let outputs = run_checked(engine.as_ref(), &req).await;
    assert_eq!(outputs.len(), 1);
    assert_eq!((outputs[0].width, outputs[0].height), (64, 48));
    assert_eq!(outputs[0].content_type, "image/png");
    assert_eq!(outputs[0].seed, Some(42));

    let rec = fake.recorded();
    let body = &rec.prompts[0];
    let graph = &body["prompt"];
    assert_eq!(graph["6"]["inputs"]["text"], req.prompt.as_str());
    assert_eq!(graph["7"]["inputs"]["text"], "blurry");
    assert_eq!(graph["3"]["inputs"]["seed"], 42);
    assert_eq!(graph["5"]["inputs"]["width"], 64);
    assert_eq!(graph["5"]["inputs"]["batch_size"], 1);
    // The socket is opened first, with the client id the prompt then names.
    assert_eq!(
        rec.ws_clients,
        [body["client_id"].as_str().expect("client_id")]
    );
    let ws = rec.requests.iter().position(|r| r == "GET /ws");
    let post = rec.requests.iter().position(|r| r == "POST /prompt");
    assert!(ws < post && ws.is_some(), "{:?}", rec.requests);
    // Our own prompt id was accepted (the fake refuses non-canonical ones) and followed.
    let prompt_id = body["prompt_id"].as_str().expect("prompt_id");
    assert!(fake.history(prompt_id).is_some());
    // The socket said the run ended: no polling of /queue was needed.
    assert!(
        !rec.requests.iter().any(|r| r == "GET /queue"),
        "{:?}",
        rec.requests
    );
    for view in &rec.views {
        let keys: Vec<&str> = view.keys().map(String::as_str).collect();
        assert_eq!(keys, ["filename", "subfolder", "type"]);
    }
}

#[tokio::test]
async fn text_to_image_on_a_real_server() {
    let Some((_dir, engine)) = real("sd15") else {
        return;
    };
    let outputs = run_checked(engine.as_ref(), &request(ModelKind::Image, (512, 512))).await;
    assert_eq!(outputs.len(), 1);
}

#[tokio::test]
async fn a_batch_gives_n_distinct_images_with_the_bound_seed() {
    let (fake, engine) = fake("sd15").await;
    let req = GenerationRequest {
        n: 3,
        ..request(ModelKind::Image, (32, 32))
    };
    let outputs = run_checked(engine.as_ref(), &req).await;
    assert_eq!(outputs.len(), 3);
    assert!(outputs.iter().all(|o| o.seed == Some(42)));
    assert_ne!(outputs[0].bytes, outputs[1].bytes);
    assert_ne!(outputs[1].bytes, outputs[2].bytes);
    let rec = fake.recorded();
    assert_eq!(rec.prompts.len(), 1, "one prompt makes the batch");
    assert_eq!(rec.prompts[0]["prompt"]["5"]["inputs"]["batch_size"], 3);
}

#[tokio::test]
async fn a_batch_on_a_real_server() {
    let Some((_dir, engine)) = real("sd15") else {
        return;
    };
    let req = GenerationRequest {
        n: 2,
        ..request(ModelKind::Image, (512, 512))
    };
    assert_eq!(run_checked(engine.as_ref(), &req).await.len(), 2);
}

#[tokio::test]
async fn image_to_image_uploads_the_input_and_binds_its_name() {
    let (fake, engine) = fake("sd15-img2img").await;
    let req = with_image(request(ModelKind::Image, (64, 64)));
    let outputs = run_checked(engine.as_ref(), &req).await;
    assert_eq!((outputs[0].width, outputs[0].height), (64, 64));
    let rec = fake.recorded();
    assert_eq!(rec.uploads.len(), 1);
    let upload = &rec.uploads[0];
    let sent = req.input_image.as_ref().expect("input").bytes.to_vec();
    assert_eq!(upload.bytes, sent, "the fake received the input image");
    assert!(upload.overwrite);
    assert_eq!(upload.sent_name, format!("easel-{}.png", req.id));
    let graph = &rec.prompts[0]["prompt"];
    assert_eq!(graph["10"]["inputs"]["image"], upload.name.as_str());
    assert_eq!(graph["11"]["inputs"]["width"], 64);
}

#[tokio::test]
async fn image_to_image_on_a_real_server() {
    let Some((_dir, engine)) = real("sd15-img2img") else {
        return;
    };
    let req = with_image(request(ModelKind::Image, (512, 512)));
    assert_eq!(run_checked(engine.as_ref(), &req).await.len(), 1);
}

#[tokio::test]
async fn without_a_batch_binding_each_image_is_its_own_prompt_and_seed() {
    let (fake, engine) = fake("sd15-img2img").await;
    let req = GenerationRequest {
        n: 2,
        ..with_image(request(ModelKind::Image, (32, 32)))
    };
    let outputs = run_checked(engine.as_ref(), &req).await;
    let seeds: Vec<Option<u64>> = outputs.iter().map(|o| o.seed).collect();
    assert_eq!(seeds, [Some(42), Some(43)]);
    let rec = fake.recorded();
    let sent: Vec<&Value> = rec
        .prompts
        .iter()
        .map(|p| &p["prompt"]["3"]["inputs"]["seed"])
        .collect();
    assert_eq!(sent, [&Value::from(42), &Value::from(43)]);
    assert_ne!(rec.prompts[0]["prompt_id"], rec.prompts[1]["prompt_id"]);
    assert_eq!(rec.uploads.len(), 1, "the input is uploaded once");
}

#[tokio::test]
async fn video_through_core_save_video_is_an_mp4_ffprobe_reads() {
    let (fake, engine) = fake("wan-video").await;
    let req = request(ModelKind::Video, (128, 96));
    let outputs = run_checked(engine.as_ref(), &req).await;
    assert_eq!(outputs.len(), 1);
    let video = &outputs[0];
    assert_eq!(video.content_type, "video/mp4");
    assert_eq!((video.width, video.height), (128, 96));
    let seconds = video.duration_seconds.expect("a duration");
    assert!((seconds - 2.0).abs() < 0.2, "{seconds}");
    let graph = &fake.recorded().prompts[0]["prompt"];
    assert_eq!(
        graph["40"]["inputs"]["length"], 16,
        "frames = duration × fps"
    );
    assert_eq!(graph["49"]["inputs"]["fps"], 8);
    let probe = ffprobe(&video.bytes);
    assert_eq!(probe["streams"][0]["codec_name"], "h264");
    assert_eq!(probe["streams"][0]["width"], 128);
}

#[tokio::test]
async fn video_on_a_real_server() {
    let Some((_dir, engine)) = real("wan-video") else {
        return;
    };
    let outputs = run_checked(engine.as_ref(), &request(ModelKind::Video, (832, 480))).await;
    ffprobe(&outputs[0].bytes);
}

#[tokio::test]
async fn video_helper_suite_gifs_are_collected_without_fullpath() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut workflow: Value = serde_json::from_str(
        &std::fs::read_to_string(examples().join("comfyui/wan21-text-to-video.json"))
            .expect("read"),
    )
    .expect("JSON");
    let graph = workflow.as_object_mut().expect("graph");
    graph.remove("50");
    graph.insert(
        "51".to_owned(),
        serde_json::json!({"class_type": "VHS_VideoCombine", "inputs": {
            "frame_rate": 8, "loop_count": 0, "filename_prefix": "easel", "format": "video/h264-mp4",
            "pingpong": false, "save_output": true, "images": ["8", 0]}}),
    );
    std::fs::write(dir.path().join("vhs.json"), workflow.to_string()).expect("write");
    let (_, fake) = comfyui::start().await;
    let mut settings = example_settings("wan-video");
    settings["base_url"] = Value::from(fake.url());
    settings["workflow"] = Value::from("vhs.json");
    let engine = build("wan-video", &settings, dir.path()).expect("builds");
    let req = request(ModelKind::Video, (64, 48));
    let outputs = run_checked(engine.as_ref(), &req).await;
    assert_eq!(outputs[0].content_type, "video/mp4");
    let rec = fake.recorded();
    assert_eq!(rec.views.len(), 1);
    assert!(!rec.views[0].contains_key("fullpath") && !rec.views[0].contains_key("format"));
}

#[tokio::test]
async fn a_server_that_ignores_our_prompt_id_is_followed_by_its_own() {
    let (fake, engine) = fake("sd15").await;
    fake.script(|s| s.ignore_prompt_id = true);
    let outputs = run_checked(engine.as_ref(), &request(ModelKind::Image, (32, 32))).await;
    assert_eq!(outputs.len(), 1);
}

#[tokio::test]
async fn a_socket_closing_mid_run_falls_back_to_history_polling() {
    let (fake, engine) = fake("sd15").await;
    fake.script(|s| {
        s.close_socket_mid_run = true;
        s.steps = 6;
        s.step_ms = 30;
    });
    let outputs = run_checked(engine.as_ref(), &request(ModelKind::Image, (32, 32))).await;
    assert_eq!(outputs.len(), 1);
    let rec = fake.recorded();
    assert!(
        rec.requests.iter().any(|r| r == "GET /queue"),
        "polled: {:?}",
        rec.requests
    );
}

#[tokio::test]
async fn api_prefixed_routes_answer_like_the_plain_ones() {
    let (fake, _) = fake("sd15").await;
    let client = reqwest::Client::new();
    for path in [
        "/system_stats",
        "/api/system_stats",
        "/api/queue",
        "/api/history/x",
    ] {
        let got = client
            .get(format!("{}{path}", fake.url()))
            .send()
            .await
            .expect("answer");
        assert!(got.status().is_success(), "{path}: {}", got.status());
    }
    let traversal = client
        .get(format!("{}/view?filename=../secret.png", fake.url()))
        .send()
        .await
        .expect("answer");
    assert_eq!(traversal.status(), 400);
}
