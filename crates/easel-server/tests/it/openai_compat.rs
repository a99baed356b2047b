//! `POST /v1/images/generations`, driven by the official `openai` Python SDK (a client
//! nobody here wrote), and the same endpoint's own edge cases over plain HTTP.

use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::support::TestApp;

both_backends!(
    the_official_openai_sdk_generates_images,
    |db: TestDb| async move {
        let app = TestApp::start(&db).await;
        let (_, key) = app.account("sdk@example.com", "test").await;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_images.py");
        let out = tokio::process::Command::new(easel_test_utils::python())
            .arg(script)
            .arg(&app.url)
            .arg(&key)
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run python: {e}"));
        assert!(
            out.status.success(),
            "the SDK script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(seen["b64_sizes"], json!([[256, 256], [256, 256]]), "{seen}");
        assert_eq!(seen["b64_distinct"], 2);
        assert!(seen["created"].as_i64().unwrap_or_default() > 1_700_000_000);
        assert_eq!(seen["url_content_type"], "image/png");
        assert_eq!(seen["url_size"], json!([512, 512]));
        assert_eq!(
            seen["bad_size"],
            json!({"status": 400, "code": "parameter_invalid", "param": "size"})
        );
        assert_eq!(
            seen["bad_model"],
            json!({"status": 404, "code": "model_not_found"})
        );
        assert_eq!(
            seen["bad_key"],
            json!({"status": 401, "code": "invalid_api_key"})
        );
        // They are ordinary generations too, with the end user recorded.
        let list = app
            .get("/v1/generations?limit=100", &key)
            .await
            .expect(200)
            .body;
        let data = list["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(data.len(), 2, "the two accepted calls: {list}");
        assert_eq!(data[1]["user"], "end-user-1");
        app.stop().await;
    }
);

both_backends!(openai_endpoint_edge_cases, |db: TestDb| async move {
    let app = TestApp::start_with(&db, |c| {
        crate::generations::with_test_models(c);
        c.generations.max_wait_seconds = 1;
    })
    .await;
    let (_, key) = crate::generations::funded(&app, "edge@example.com").await;
    let res = app
        .post(
            "/v1/images/generations",
            &key,
            json!({"prompt": "default model"}),
        )
        .await
        .expect(200);
    assert!(
        res.body["data"][0]["url"]
            .as_str()
            .is_some_and(|u| u.contains("/v1/outputs/"))
    );
    app.post(
        "/v1/images/generations",
        &key,
        json!({"prompt": "v", "model": "sandbox-video"}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    app.post(
        "/v1/images/generations",
        &key,
        json!({"prompt": "v", "size": "big"}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    app.post(
        "/v1/images/generations",
        &key,
        json!({"prompt": "v", "response_format": "gif"}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    app.post(
        "/v1/images/generations",
        &key,
        json!({"prompt": "v", "model": "broken-image"}),
    )
    .await
    .expect_error(502, "generation_failed");
    let slow = app
        .post(
            "/v1/images/generations",
            &key,
            json!({"prompt": "v", "model": "slow-image"}),
        )
        .await;
    let slow = slow.expect_error(504, "generation_timeout");
    let message = slow.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let id = message
        .split_whitespace()
        .find(|w| w.starts_with("gen_"))
        .unwrap_or_default()
        .to_string();
    app.post(&format!("/v1/generations/{id}/cancel"), &key, json!({}))
        .await
        .expect(200);
    app.stop().await;
});
