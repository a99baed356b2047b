//! The `comfyui` engine through Easel's API, against the fake ComfyUI (HTTP + websocket),
//! with the shipped example workflows.

use std::path::Path;
use std::time::Duration;

use easel_test_utils::fakes::comfyui::{self as fake, FakeComfyUi};
use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use super::support::{balance, input_png, metric, quick, run};
use crate::generations::{create, download, funded, until};
use crate::support::{TestApp, eventually};

/// The shipped examples, with `base_url` pointed at `fake` and small sizes.
async fn serve(db: &TestDb, fake: &FakeComfyUi) -> TestApp {
    let base_url = fake.url();
    TestApp::start_with(db, move |c| {
        quick(c);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples");
        let text =
            std::fs::read_to_string(dir.join("engines.toml")).unwrap_or_else(|e| panic!("{e}"));
        let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        c.config_dir = dir;
        for id in ["sd15", "sd15-img2img", "wan-video"] {
            let entry = table["models"][id].clone();
            let mut model: easel_server::config::ModelConfig =
                entry.try_into().unwrap_or_else(|e| panic!("{id}: {e}"));
            model
                .settings
                .insert("base_url".into(), toml::Value::String(base_url.clone()));
            model.timeout_seconds = 30;
            if id == "wan-video" {
                model.sizes = vec!["128x96".into()];
                model.durations = vec![1];
                model.fps = vec![8];
            } else {
                model.sizes = vec!["64x64".into(), "96x64".into()];
            }
            c.models.insert(id.into(), model);
        }
    })
    .await
}

async fn backend() -> FakeComfyUi {
    fake::start().await.1
}

both_backends!(
    comfyui_images_and_video_through_the_api,
    |db: TestDb| async move {
        let fake = backend().await;
        let app = serve(&db, &fake).await;
        let (_, key) = funded(&app, "comfy@example.com").await;
        let g = run(&app, &key, json!({"model": "sd15", "prompt": "a castle", "negative_prompt": "fog", "width": 96, "height": 64, "n": 2, "seed": 77})).await;
        assert_eq!(g["status"], "succeeded", "{g}");
        let outputs = g["outputs"].as_array().cloned().unwrap_or_default();
        assert_eq!(outputs.len(), 2, "{g}");
        for o in &outputs {
            let (status, content_type, bytes) =
                download(o["url"].as_str().unwrap_or_default()).await;
            assert_eq!((status, content_type.as_str()), (200, "image/png"));
            assert!(bytes.starts_with(b"\x89PNG"));
            assert_eq!(
                (o["width"].as_u64(), o["height"].as_u64()),
                (Some(96), Some(64))
            );
        }
        // The bindings of the example workflow received the request's values.
        let rec = fake.recorded();
        let prompt = &rec.prompts[0]["prompt"];
        assert_eq!(prompt["6"]["inputs"]["text"], "a castle");
        assert_eq!(prompt["7"]["inputs"]["text"], "fog");
        assert_eq!(prompt["3"]["inputs"]["seed"], 77);
        assert_eq!(
            (
                prompt["5"]["inputs"]["width"].as_u64(),
                prompt["5"]["inputs"]["batch_size"].as_u64()
            ),
            (Some(96), Some(2))
        );
        assert!(
            !rec.ws_clients.is_empty(),
            "the run was followed on the websocket"
        );

        let v = run(&app, &key, json!({"model": "wan-video", "prompt": "waves", "width": 128, "height": 96, "duration_seconds": 1, "fps": 8})).await;
        assert_eq!(v["status"], "succeeded", "{v}");
        let o = &v["outputs"][0];
        assert_eq!(o["content_type"], "video/mp4", "{v}");
        assert!(
            o["duration_seconds"].as_f64().is_some_and(|d| d > 0.0),
            "the length was read from the file: {v}"
        );
        let (_, _, bytes) = download(o["url"].as_str().unwrap_or_default()).await;
        let file = db.dir.join("comfy.mp4");
        std::fs::write(&file, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name,width,height",
                "-of",
                "json",
            ])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("ffprobe is required (scripts/test installs it): {e}"));
        let info: Value =
            serde_json::from_slice(&probe.stdout).unwrap_or_else(|e| panic!("ffprobe JSON: {e}"));
        assert_eq!(info["streams"][0]["codec_name"], "h264", "{info}");
        app.stop().await;
    }
);

both_backends!(
    comfyui_image_to_image_uploads_the_input,
    |db: TestDb| async move {
        let fake = backend().await;
        let app = serve(&db, &fake).await;
        let (_, key) = funded(&app, "comfy-i2i@example.com").await;
        let (bytes, encoded) = input_png(30, 20);
        let g = run(&app, &key, json!({"model": "sd15-img2img", "prompt": "paint it", "width": 64, "height": 64, "input_image": encoded})).await;
        assert_eq!(g["status"], "succeeded", "{g}");
        let rec = fake.recorded();
        assert_eq!(rec.uploads.len(), 1);
        assert_eq!(
            rec.uploads[0].bytes, bytes,
            "the very input image was uploaded"
        );
        let uploaded = rec.uploads[0].name.clone();
        assert_eq!(
            rec.prompts[0]["prompt"]["10"]["inputs"]["image"],
            uploaded.as_str(),
            "and bound by the name ComfyUI answered"
        );
        app.stop().await;
    }
);

both_backends!(
    comfyui_cancel_interrupts_our_running_prompt,
    |db: TestDb| async move {
        let fake = backend().await;
        fake.script(|s| {
            s.steps = 200;
            s.step_ms = 50;
        });
        let app = serve(&db, &fake).await;
        let (_, key) = funded(&app, "comfy-cancel@example.com").await;
        let before = balance(&app, &key).await;
        let created = create(
            &app,
            &key,
            json!({"model": "sd15", "prompt": "slow", "width": 64, "height": 64}),
            None,
        )
        .await
        .expect(202)
        .body;
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        assert!(
            eventually(10_000, || async { fake.running().is_some() }).await,
            "the prompt runs"
        );
        let running = fake.running();
        app.post(&format!("/v1/generations/{id}/cancel"), &key, json!({}))
            .await
            .expect(200);
        until(&app, &key, &id, &["canceled"]).await;
        assert!(
            eventually(5_000, || async { !fake.recorded().interrupts.is_empty() }).await,
            "ComfyUI was told"
        );
        let rec = fake.recorded();
        assert!(
            rec.interrupts.iter().all(|i| i.is_none() || *i == running),
            "only our prompt: {:?}",
            rec.interrupts
        );
        assert_eq!(balance(&app, &key).await, before);
        app.stop().await;
    }
);

both_backends!(
    comfyui_transient_retried_and_a_removed_node_is_misconfiguration,
    |db: TestDb| async move {
        let fake = backend().await;
        fake.script(|s| {
            s.fail_prompts = 1;
            s.retry_after = Some("1".into());
        });
        let app = serve(&db, &fake).await;
        let (_, key) = funded(&app, "comfy-faults@example.com").await;
        let started = std::time::Instant::now();
        let g = run(
            &app,
            &key,
            json!({"model": "sd15", "prompt": "x", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(g["status"], "succeeded", "{g}");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "Retry-After: 1 was honoured"
        );
        assert_eq!(fake.recorded().prompts.len(), 2, "one 503, one success");

        fake.script(|s| s.removed_classes = vec!["KSampler".into()]);
        let broken = run(
            &app,
            &key,
            json!({"model": "sd15", "prompt": "y", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(broken["error"]["code"], "engine_misconfigured", "{broken}");
        assert_eq!(fake.recorded().prompts.len(), 3, "not retried");
        assert_eq!(
            metric(&app, "easel_engine_misconfigured_total", "sd15").await,
            Some(1.0)
        );
        let message = broken["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("127.0.0.1") && !message.contains("KSampler"),
            "{message}"
        );
        app.stop().await;
    }
);
