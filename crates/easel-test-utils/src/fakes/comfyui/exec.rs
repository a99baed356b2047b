//! The fake's executor: `/prompt` validation with ComfyUI's error shapes, a queue that runs
//! one prompt at a time with the websocket events of execution.py, history entries, and
//! real output files (PNGs; H.264 MP4s made with OpenH264 and muxide).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::{CLASSES, Outcome, Queued, Script, Shared};
use crate::fakes::images;

/// Node classes that make outputs.
pub(super) const OUTPUT_CLASSES: &[&str] = &[
    "SaveImage",
    "PreviewImage",
    "SaveVideo",
    "SaveWEBM",
    "VHS_VideoCombine",
];

/// Loader inputs checked against [`Script::models`].
const MODEL_INPUTS: &[&str] = &["ckpt_name", "unet_name", "clip_name", "vae_name"];

/// Largest `width`/`height` accepted, like `MAX_RESOLUTION`.
const MAX_RESOLUTION: u64 = 16_384;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn error(kind: &str, message: &str, details: &str, extra: Value) -> Value {
    json!({"type": kind, "message": message, "details": details, "extra_info": extra})
}

fn nodes(prompt: &Value) -> Vec<(&String, &Value)> {
    let mut list: Vec<_> = prompt.as_object().into_iter().flatten().collect();
    list.sort_by_key(|(id, _)| (id.parse::<u64>().unwrap_or(u64::MAX), (*id).clone()));
    list
}

fn class_of(node: &Value) -> &str {
    node.get("class_type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// execution.py `validate_prompt`, for what the fake knows: `Err` is the 400 body.
pub(super) fn validate(prompt: &Value, script: &Script, uploaded: &[String]) -> Result<(), Value> {
    for (id, node) in nodes(prompt) {
        let class = class_of(node);
        if class.is_empty() {
            let e = error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                &format!("Node ID '#{id}'"),
                json!({}),
            );
            return Err(json!({"error": e, "node_errors": {}}));
        }
        if !CLASSES.contains(&class) || script.removed_classes.iter().any(|c| c == class) {
            let e = error(
                "missing_node_type",
                &format!("Node '{class}' not found. The custom node may not be installed."),
                &format!("Node ID '#{id}'"),
                json!({"node_id": id, "class_type": class, "node_title": class}),
            );
            return Err(json!({"error": e, "node_errors": {}}));
        }
    }
    let outputs: Vec<&String> = nodes(prompt)
        .into_iter()
        .filter(|(_, n)| OUTPUT_CLASSES.contains(&class_of(n)))
        .map(|(id, _)| id)
        .collect();
    if outputs.is_empty() {
        let e = error("prompt_no_outputs", "Prompt has no outputs", "", json!({}));
        return Err(json!({"error": e, "node_errors": []}));
    }
    let mut node_errors = Map::new();
    let mut reasons = Vec::new();
    for (id, node) in nodes(prompt) {
        let errors = input_errors(node, script, uploaded);
        if !errors.is_empty() {
            for e in &errors {
                reasons.push(format!("{}: {}", e["message"], e["details"]));
            }
            node_errors.insert(
                id.clone(),
                json!({"errors": errors, "dependent_outputs": outputs, "class_type": class_of(node)}),
            );
        }
    }
    if node_errors.is_empty() {
        return Ok(());
    }
    let e = error(
        "prompt_outputs_failed_validation",
        "Prompt outputs failed validation",
        &reasons.join("\n"),
        json!({}),
    );
    Err(json!({"error": e, "node_errors": node_errors}))
}

fn input_errors(node: &Value, script: &Script, uploaded: &[String]) -> Vec<Value> {
    let mut errors = Vec::new();
    let Some(inputs) = node.get("inputs").and_then(Value::as_object) else {
        return errors;
    };
    let not_in_list = |input: &str, value: &str, list: &[String]| {
        error(
            "value_not_in_list",
            "Value not in list",
            &format!("{input}: '{value}' not in {list:?}"),
            json!({"input_name": input, "input_config": [list, {}], "received_value": value}),
        )
    };
    for (input, value) in inputs {
        let text = value.as_str();
        if MODEL_INPUTS.contains(&input.as_str())
            && let Some(v) = text
            && !script.models.iter().any(|m| m == v)
        {
            errors.push(not_in_list(input, v, &script.models));
        }
        if class_of(node) == "LoadImage"
            && input == "image"
            && let Some(v) = text
            && !uploaded.iter().any(|u| u == v)
        {
            errors.push(not_in_list(input, v, uploaded));
        }
        if (input == "width" || input == "height")
            && let Some(n) = value.as_u64()
            && n > MAX_RESOLUTION
        {
            errors.push(error(
                "value_bigger_than_max",
                &format!("Value {n} bigger than max of {MAX_RESOLUTION}"),
                input,
                json!({"input_name": input, "received_value": n}),
            ));
        }
    }
    errors
}

/// Runs queued prompts one at a time, like ComfyUI's `prompt_worker`.
pub(super) async fn worker(shared: Arc<Shared>) {
    loop {
        let next = {
            let mut inner = shared.lock();
            if inner.script.hold_queue || inner.running.is_some() {
                None
            } else {
                let next = inner.pending.pop_front();
                if let Some(q) = &next {
                    inner.running = Some(q.clone());
                    inner.interrupt = false;
                }
                next
            }
        };
        match next {
            Some(queued) => run(&shared, queued).await,
            None => {
                tokio::select! {
                    () = shared.wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
            }
        }
    }
}

/// What a run wrote, for its history entry.
struct Finished {
    status: &'static str,
    outputs: Map<String, Value>,
    messages: Vec<Value>,
}

async fn run(shared: &Arc<Shared>, q: Queued) {
    let script = shared.lock().script.clone();
    let id = q.prompt_id.as_str();
    let client = q.client_id.as_str();
    let mut messages = Vec::new();
    let event = |kind: &str, data: Value, messages: &mut Vec<Value>| {
        shared.send(client, kind, data.clone());
        messages.push(json!([kind, data]));
    };
    event(
        "execution_start",
        json!({"prompt_id": id, "timestamp": now_ms()}),
        &mut messages,
    );
    event(
        "execution_cached",
        json!({"nodes": [], "prompt_id": id, "timestamp": now_ms()}),
        &mut messages,
    );
    let sampler = nodes(&q.prompt)
        .into_iter()
        .find(|(_, n)| class_of(n) == "KSampler")
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| "1".to_owned());
    shared.send(
        client,
        "executing",
        json!({"node": sampler, "display_node": sampler, "prompt_id": id}),
    );
    let where_ =
        json!({"prompt_id": id, "node_id": sampler, "node_type": "KSampler", "executed": []});
    for step in 1..=script.steps {
        let asked = shared.lock().interrupt;
        let other = script.outcome == Outcome::InterruptedByOther && step > script.steps / 2;
        if asked || other {
            if asked {
                shared.lock().rec.interrupted.push(id.to_owned());
            }
            shared.broadcast("execution_interrupted", where_.clone());
            messages.push(json!(["execution_interrupted", where_]));
            let done = Finished {
                status: "error",
                outputs: Map::new(),
                messages,
            };
            return finish(shared, &q, done);
        }
        tokio::time::sleep(Duration::from_millis(script.step_ms)).await;
        shared.send(
            client,
            "progress",
            json!({"value": step, "max": script.steps, "prompt_id": id, "node": sampler}),
        );
        // A preview frame: 4-byte event type 1 (PREVIEW_IMAGE), 4-byte image type 2 (PNG).
        let mut preview = vec![0, 0, 0, 1, 0, 0, 0, 2];
        preview.extend(images::png(8, 8, u64::from(step)));
        shared.send_binary(client, preview);
        if script.close_socket_mid_run && step == script.steps.div_ceil(2) {
            shared.lock().sockets.remove(client);
        }
    }
    if let Outcome::Error {
        exception_type,
        exception_message,
    } = &script.outcome
    {
        let mut data = where_.clone();
        data["exception_message"] = json!(exception_message);
        data["exception_type"] = json!(exception_type);
        data["traceback"] =
            json!(["  File \"/home/fake/ComfyUI/execution.py\", line 496, in execute\n"]);
        data["current_inputs"] = json!({});
        data["current_outputs"] = json!({});
        event("execution_error", data, &mut messages);
        let done = Finished {
            status: "error",
            outputs: Map::new(),
            messages,
        };
        return finish(shared, &q, done);
    }
    let outputs = make_outputs(shared, &q.prompt, &script).await;
    for (node, ui) in &outputs {
        shared.send(
            client,
            "executed",
            json!({"node": node, "display_node": node, "output": ui, "prompt_id": id}),
        );
    }
    event(
        "execution_success",
        json!({"prompt_id": id, "timestamp": now_ms()}),
        &mut messages,
    );
    finish(
        shared,
        &q,
        Finished {
            status: "success",
            outputs,
            messages,
        },
    );
}

/// `task_done` then `executing` with `node: null`, in main.py's order.
fn finish(shared: &Arc<Shared>, q: &Queued, done: Finished) {
    {
        let mut inner = shared.lock();
        inner.running = None;
        inner.interrupt = false;
        if !inner.script.history_never {
            let output_ids: Vec<&String> = done.outputs.keys().collect();
            let entry = json!({
                "prompt": [q.number, q.prompt_id, q.prompt, {"client_id": q.client_id, "create_time": now_ms()}, output_ids],
                "outputs": done.outputs,
                "status": {"status_str": done.status, "completed": done.status == "success", "messages": done.messages},
                "meta": {},
            });
            inner.history.insert(q.prompt_id.clone(), entry);
        }
    }
    shared.send(
        &q.client_id,
        "executing",
        json!({"node": null, "prompt_id": q.prompt_id}),
    );
    shared.wake.notify_one();
}

/// The first literal integer among `names` on any node, in node order.
fn find_u64(prompt: &Value, names: &[&str]) -> Option<u64> {
    nodes(prompt).into_iter().find_map(|(_, n)| {
        let inputs = n.get("inputs")?;
        names.iter().find_map(|k| inputs.get(*k)?.as_u64())
    })
}

fn find_f64(prompt: &Value, names: &[&str]) -> Option<f64> {
    nodes(prompt).into_iter().find_map(|(_, n)| {
        let inputs = n.get("inputs")?;
        names.iter().find_map(|k| inputs.get(*k)?.as_f64())
    })
}

/// Writes each output node's files and returns the ui dicts, keyed by node id.
async fn make_outputs(shared: &Arc<Shared>, prompt: &Value, script: &Script) -> Map<String, Value> {
    let mut outputs = Map::new();
    if script.no_outputs {
        return outputs;
    }
    let extra = if script.wrong_size { 8 } else { 0 };
    let width = find_u64(prompt, &["width"]).unwrap_or(512) as u32 + extra;
    let height = find_u64(prompt, &["height"]).unwrap_or(512) as u32;
    let batch = find_u64(prompt, &["batch_size"]).unwrap_or(1).max(1);
    let seed = find_u64(prompt, &["seed", "noise_seed"]).unwrap_or(0);
    for (id, node) in nodes(prompt) {
        let class = class_of(node);
        let ui = match class {
            "SaveImage" | "PreviewImage" => {
                let kind = if class == "SaveImage" {
                    "output"
                } else {
                    "temp"
                };
                let mut items = Vec::new();
                for i in 0..batch {
                    let bytes = pad(images::png(width, height, seed.wrapping_add(i)), script);
                    items.push(store(shared, kind, "", "png", bytes));
                }
                json!({"images": items})
            }
            "SaveVideo" | "SaveWEBM" | "VHS_VideoCombine" => {
                let frames = find_u64(prompt, &["length", "frame_count"])
                    .unwrap_or(8)
                    .clamp(1, 240) as u32;
                let fps = find_f64(prompt, &["fps", "frame_rate"])
                    .unwrap_or(8.0)
                    .max(1.0);
                let (w, h) = (width, height);
                let bytes = tokio::task::spawn_blocking(move || mp4(w, h, frames, fps))
                    .await
                    .unwrap_or_default();
                video_ui(shared, class, pad(bytes, script), fps)
            }
            _ => continue,
        };
        outputs.insert(id.clone(), ui);
    }
    outputs
}

fn video_ui(shared: &Arc<Shared>, class: &str, bytes: Vec<u8>, fps: f64) -> Value {
    match class {
        "VHS_VideoCombine" => {
            let mut item = store(shared, "output", "", "mp4", bytes);
            let name = item["filename"].as_str().unwrap_or_default().to_owned();
            item["format"] = json!("video/h264-mp4");
            item["frame_rate"] = json!(fps);
            item["workflow"] = json!(name.replace(".mp4", ".png"));
            item["fullpath"] = json!(format!("/home/fake/ComfyUI/output/{name}"));
            json!({"gifs": [item]})
        }
        "SaveWEBM" => {
            json!({"images": [store(shared, "output", "video", "webm", bytes)], "animated": [true]})
        }
        _ => {
            json!({"images": [store(shared, "output", "video", "mp4", bytes)], "animated": [true]})
        }
    }
}

/// Pads to [`Script::huge_output`] bytes when asked.
fn pad(mut bytes: Vec<u8>, script: &Script) -> Vec<u8> {
    if let Some(size) = script.huge_output {
        bytes.resize(size.max(bytes.len()), 0);
    }
    bytes
}

/// Keeps a file for `/view`; returns its `{filename, subfolder, type}`.
fn store(shared: &Arc<Shared>, kind: &str, subfolder: &str, ext: &str, bytes: Vec<u8>) -> Value {
    let mut inner = shared.lock();
    inner.counter += 1;
    let filename = format!("ComfyUI_{:05}_.{ext}", inner.counter);
    inner.files.insert(
        (kind.to_owned(), subfolder.to_owned(), filename.clone()),
        bytes,
    );
    json!({"filename": filename, "subfolder": subfolder, "type": kind})
}

/// A small H.264 MP4: `frames` flat frames whose shade moves, at `fps`.
fn mp4(width: u32, height: u32, frames: u32, fps: f64) -> Vec<u8> {
    use muxide::api::{MuxerBuilder, VideoCodec};
    use openh264::OpenH264API;
    use openh264::encoder::{Encoder, EncoderConfig, FrameRate, FrameType, RateControlMode};
    use openh264::formats::{RgbSliceU8, YUVBuffer};

    let config = EncoderConfig::new()
        .rate_control_mode(RateControlMode::Off)
        .skip_frames(false)
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        .num_threads(1);
    let Ok(mut encoder) = Encoder::with_api_config(OpenH264API::from_source(), config) else {
        return Vec::new();
    };
    let Ok(mut muxer) = MuxerBuilder::new(Vec::new())
        .video(VideoCodec::H264, width, height, fps)
        .with_fast_start(true)
        .build()
    else {
        return Vec::new();
    };
    let dims = (width as usize, height as usize);
    let mut annexb = Vec::new();
    for i in 0..frames {
        let shade = (i * 255 / frames.max(1)) as u8;
        let rgb: Vec<u8> = (0..width * height)
            .flat_map(|p| [shade, (p % 251) as u8, 128])
            .collect();
        let yuv = YUVBuffer::from_rgb8_source(RgbSliceU8::new(&rgb, dims));
        let Ok(bitstream) = encoder.encode(&yuv) else {
            return Vec::new();
        };
        let key = matches!(bitstream.frame_type(), FrameType::IDR | FrameType::I);
        annexb.clear();
        bitstream.write_vec(&mut annexb);
        if muxer.write_video(f64::from(i) / fps, &annexb, key).is_err() {
            return Vec::new();
        }
    }
    if muxer.finish_in_place().is_err() {
        return Vec::new();
    }
    muxer.into_writer()
}
