//! The `automatic1111` engine through Easel's API, against the fake AUTOMATIC1111/Forge.

use std::time::Duration;

use easel_test_utils::fakes::automatic1111::{self as fake, FakeA1111, Fault, Flavour, Options};
use easel_test_utils::{TestDb, both_backends};
use serde_json::json;

use super::support::{balance, image_model, input_png, metric, quick, run};
use crate::generations::{create, download, funded, until};
use crate::support::{TestApp, eventually};

const MODEL: &str = "sd15-a1111";

async fn backend(flavour: Flavour, step_delay: Duration) -> FakeA1111 {
    let (_, fake) = fake::start(Options {
        flavour,
        step_delay,
        ..Options::default()
    })
    .await;
    fake
}

async fn serve(db: &TestDb, fake: &FakeA1111) -> TestApp {
    let base_url = fake.url();
    TestApp::start_with(db, move |c| {
        quick(c);
        let model = image_model(
            c,
            "automatic1111",
            json!({"base_url": base_url, "checkpoint": "v1-5-pruned-emaonly.safetensors", "sampler": "Euler a", "steps": 4}),
        );
        c.models.insert(MODEL.into(), model);
    })
    .await
}

both_backends!(
    a1111_text_and_image_to_image_with_seeds_per_output,
    |db: TestDb| async move {
        let fake = backend(Flavour::Automatic1111, Duration::from_millis(5)).await;
        let app = serve(&db, &fake).await;
        let (_, key) = funded(&app, "a1111@example.com").await;
        let g = run(&app, &key, json!({"model": MODEL, "prompt": "a lighthouse", "negative_prompt": "blurry", "width": 96, "height": 64, "n": 2, "seed": 1234})).await;
        assert_eq!(g["status"], "succeeded", "{g}");
        let outputs = g["outputs"].as_array().cloned().unwrap_or_default();
        assert_eq!(outputs.len(), 2);
        for o in &outputs {
            let (status, content_type, bytes) =
                download(o["url"].as_str().unwrap_or_default()).await;
            assert_eq!((status, content_type.as_str()), (200, "image/png"));
            assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        }
        let sent = fake.received();
        assert_eq!(sent[0].route, "txt2img");
        let body = &sent[0].body;
        assert_eq!(
            (
                body["batch_size"].as_u64(),
                body["n_iter"].as_u64(),
                body["seed"].as_u64()
            ),
            (Some(2), Some(1), Some(1234)),
            "{body}"
        );
        assert_eq!(body["negative_prompt"], "blurry");
        assert_eq!(
            body["override_settings"]["sd_model_checkpoint"],
            "v1-5-pruned-emaonly.safetensors"
        );
        // Image to image: the very bytes reach /img2img.
        let (bytes, encoded) = input_png(24, 16);
        let i2i = run(&app, &key, json!({"model": MODEL, "prompt": "repaint", "width": 64, "height": 64, "input_image": encoded})).await;
        assert_eq!(i2i["status"], "succeeded", "{i2i}");
        let last = fake
            .received()
            .pop()
            .unwrap_or_else(|| panic!("no request"));
        assert_eq!(last.route, "img2img");
        assert_eq!(last.init_images, vec![bytes]);
        app.stop().await;
    }
);

both_backends!(
    a1111_cancel_interrupts_our_running_task,
    |db: TestDb| async move {
        // The model asks for 4 steps; at 3 s each there is time to cancel in the middle.
        let fake = backend(Flavour::Forge, Duration::from_secs(3)).await;
        let app = serve(&db, &fake).await;
        let (_, key) = funded(&app, "a1111-cancel@example.com").await;
        let before = balance(&app, &key).await;
        let created = create(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "slow", "width": 64, "height": 64}),
            None,
        )
        .await
        .expect(202)
        .body;
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        assert!(
            eventually(10_000, || async { fake.running().is_some() }).await,
            "the job started on the backend"
        );
        app.post(&format!("/v1/generations/{id}/cancel"), &key, json!({}))
            .await
            .expect(200);
        let g = until(&app, &key, &id, &["canceled"]).await;
        assert_eq!(g["status"], "canceled");
        let interrupts = fake.interrupts();
        assert_eq!(interrupts.len(), 1, "{interrupts:?}");
        assert!(
            interrupts[0].as_deref().is_some_and(|t| t.contains(&id)),
            "our own task was interrupted: {interrupts:?}"
        );
        assert_eq!(balance(&app, &key).await, before);
        app.stop().await;
    }
);

both_backends!(
    a1111_failures_are_retried_or_not_by_their_class,
    |db: TestDb| async move {
        let fake = backend(Flavour::Automatic1111, Duration::from_millis(1)).await;
        let app = serve(&db, &fake).await;
        let (_, key) = funded(&app, "a1111-faults@example.com").await;
        let before = balance(&app, &key).await;
        // CUDA out of memory is transient: retried, then it works.
        fake.push_fault(Fault::OutOfMemory);
        let g = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(g["status"], "succeeded", "{g}");
        assert_eq!(fake.received().len(), 2);
        let spent = before.0 - balance(&app, &key).await.0;
        // The checkpoint missing on the server is the operator's to fix: not retried.
        fake.push_fault(Fault::ModelNotFound);
        let g = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "y", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(g["error"]["code"], "engine_misconfigured", "{g}");
        assert_eq!(fake.received().len(), 3, "not retried");
        assert_eq!(
            metric(&app, "easel_engine_misconfigured_total", MODEL).await,
            Some(1.0)
        );
        // A wrong-size picture on every attempt fails without storing or charging anything.
        for _ in 0..3 {
            fake.push_fault(Fault::WrongSize);
        }
        let g = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "z", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(g["error"]["code"], "engine_bad_output", "{g}");
        let message = g["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("127.0.0.1"), "{message}");
        assert_eq!(
            before.0 - balance(&app, &key).await.0,
            spent,
            "only the success was charged"
        );
        app.stop().await;
    }
);
