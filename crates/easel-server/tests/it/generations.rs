//! `/v1/generations` end to end: the queue, the sandbox engine, stored outputs at signed
//! URLs, cancel, delete, retries, expiry, `Prefer: wait`, quotes and bad input.

use std::time::Duration;

use easel_server::config::{Config, ModelConfig};
use easel_test_utils::{TestDb, both_backends};
use serde_json::{Value, json};

use crate::support::{Res, TestApp, eventually};

/// A sandbox image model derived from the default one, with engine `settings`.
pub fn sandbox_model(
    config: &Config,
    settings: &[(&str, toml::Value)],
    tweak: impl FnOnce(&mut ModelConfig),
) -> ModelConfig {
    let mut model = config.models["sandbox-image"].clone();
    for (k, v) in settings {
        model.settings.insert((*k).to_string(), v.clone());
    }
    tweak(&mut model);
    model
}

/// The test configuration plus models that are slow, flaky, broken, short-lived or
/// reserved for a plan.
pub fn with_test_models(config: &mut Config) {
    let slow = sandbox_model(config, &[("delay_ms", toml::Value::Integer(30_000))], |m| {
        m.concurrency = 1
    });
    let flaky = sandbox_model(
        config,
        &[("fail_first_attempts", toml::Value::Integer(1))],
        |_| {},
    );
    let broken = sandbox_model(
        config,
        &[("fail_always", toml::Value::Boolean(true))],
        |_| {},
    );
    let hopeless = sandbox_model(
        config,
        &[("fail_first_attempts", toml::Value::Integer(9))],
        |m| m.max_attempts = 2,
    );
    let brief = sandbox_model(config, &[("delay_ms", toml::Value::Integer(30_000))], |m| {
        m.concurrency = 1;
        m.max_queue_seconds = 1;
    });
    let pro = sandbox_model(config, &[], |m| m.plans = vec!["pro".into()]);
    let models = &mut config.models;
    models.insert("slow-image".into(), slow);
    models.insert("flaky-image".into(), flaky);
    models.insert("broken-image".into(), broken);
    models.insert("hopeless-image".into(), hopeless);
    models.insert("brief-queue".into(), brief);
    models.insert("pro-image".into(), pro);
}

/// An account with a live key and a million credits.
pub async fn funded(app: &TestApp, email: &str) -> (String, String) {
    let (account_id, key) = app.account(email, "live").await;
    grant(app, &account_id, 1_000_000).await;
    (account_id, key)
}

/// Grants credits as the operator does.
pub async fn grant(app: &TestApp, account_id: &str, credits: i64) {
    let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
    easel_server::services::credits::grant(&app.state, account_id, credits, "test funds", audit)
        .await
        .unwrap_or_else(|e| panic!("grant: {e:?}"));
}

pub async fn start(db: &TestDb) -> TestApp {
    TestApp::start_with(db, with_test_models).await
}

/// `POST /v1/generations` with an optional `Prefer: wait=N`.
pub async fn create(app: &TestApp, key: &str, body: Value, wait: Option<u64>) -> Res {
    let mut req = app
        .raw(reqwest::Method::POST, "/v1/generations")
        .bearer_auth(key)
        .json(&body);
    if let Some(wait) = wait {
        req = req.header("prefer", format!("wait={wait}"));
    }
    let res = app.send(req).await;
    app.check("POST", "/v1/generations", &res);
    res
}

/// Polls a generation until `done` accepts its status; returns it.
pub async fn until(app: &TestApp, key: &str, id: &str, done: &[&str]) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let last = app
            .get(&format!("/v1/generations/{id}"), key)
            .await
            .expect(200)
            .body;
        if done.iter().any(|s| last["status"] == *s) {
            return last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "generation {id} never reached {done:?}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Downloads a URL (absolute) without the OpenAPI check: (status, content type, bytes).
pub async fn download(url: &str) -> (u16, String, Vec<u8>) {
    let res = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        status,
        content_type,
        res.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
    )
}

pub fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

both_backends!(
    an_image_generation_runs_end_to_end,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (_, live) = funded(&app, "gen@example.com").await;
        let body = json!({"model": "sandbox-image", "prompt": "a red fox", "width": 256, "height": 256, "n": 2, "seed": 7, "metadata": {"order": "42"}});
        let res = create(&app, &live, body.clone(), Some(20))
            .await
            .expect(200);
        assert_eq!(
            res.headers
                .get("preference-applied")
                .and_then(|v| v.to_str().ok()),
            Some("wait=20")
        );
        let g = res.body;
        assert!(text(&g["id"]).starts_with("gen_"));
        assert_eq!(g["object"], "generation");
        assert_eq!(g["status"], "succeeded");
        assert_eq!(g["livemode"], true);
        assert_eq!(g["licence"], "non_commercial", "the free plan's licence");
        assert_eq!(g["input"]["seed"], 7);
        assert_eq!(g["metadata"]["order"], "42");
        assert_eq!(g["error"], Value::Null);
        let price = g["credits"]["estimated"].as_i64().unwrap_or_default();
        assert!(price > 0, "live generations are priced: {g}");
        assert_eq!(g["credits"]["charged"], price);
        let outputs = g["outputs"].as_array().cloned().unwrap_or_default();
        assert_eq!(outputs.len(), 2);
        for o in &outputs {
            assert_eq!(o["content_type"], "image/png");
            assert_eq!(
                (o["width"].as_u64(), o["height"].as_u64()),
                (Some(256), Some(256))
            );
            assert_eq!(o["licence"], "non_commercial");
            assert!(
                o["expires_at"].as_i64() > o["url_expires_at"].as_i64(),
                "free retention is 7 days, URLs live an hour"
            );
        }
        let (status, content_type, first) = download(&text(&outputs[0]["url"])).await;
        assert_eq!((status, content_type.as_str()), (200, "image/png"));
        assert!(first.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(
            first.len() as i64,
            outputs[0]["bytes"].as_i64().unwrap_or_default()
        );
        let (_, _, second) = download(&text(&outputs[1]["url"])).await;
        assert_ne!(first, second, "two images of one call differ");

        // Deterministic: the same request gives the same bytes.
        let again = create(&app, &live, body, Some(20)).await.expect(200).body;
        let (_, _, repeat) = download(&text(&again["outputs"][0]["url"])).await;
        assert_eq!(first, repeat);
        // Another prompt gives another picture.
        let other = create(&app, &live, json!({"model": "sandbox-image", "prompt": "a blue whale", "width": 256, "height": 256, "seed": 7}), Some(20))
        .await
        .expect(200)
        .body;
        let (_, _, different) = download(&text(&other["outputs"][0]["url"])).await;
        assert_ne!(first, different);

        // Stored where the config says.
        let id = text(&g["id"]);
        let on_disk = std::fs::read_dir(db.dir.join("outputs"))
            .map(|d| d.count())
            .unwrap_or_default();
        assert_eq!(on_disk, 1, "one account directory under DATA_DIR/outputs");

        let fetched = app
            .get(&format!("/v1/generations/{id}"), &live)
            .await
            .expect(200)
            .body;
        assert_eq!(fetched["status"], "succeeded");
        assert_eq!(fetched["queue_position"], Value::Null);
        let list = app
            .get("/v1/generations?limit=2", &live)
            .await
            .expect(200)
            .body;
        assert_eq!(list["data"].as_array().map(Vec::len), Some(2));
        assert_eq!(list["has_more"], true);
        assert_eq!(list["data"][0]["id"], other["id"], "newest first");
        let rest = app
            .get(
                &format!(
                    "/v1/generations?starting_after={}",
                    text(&list["next_cursor"])
                ),
                &live,
            )
            .await
            .expect(200)
            .body;
        assert_eq!(rest["data"][0]["id"], g["id"]);
        let filtered = app
            .get("/v1/generations?status=failed", &live)
            .await
            .expect(200)
            .body;
        assert_eq!(filtered["data"].as_array().map(Vec::len), Some(0));
        let by_model = app
            .get("/v1/generations?model=sandbox-video", &live)
            .await
            .expect(200)
            .body;
        assert_eq!(by_model["data"].as_array().map(Vec::len), Some(0));
        app.get("/v1/generations?status=done", &live)
            .await
            .expect_error(400, "parameter_invalid");

        let events = app
            .get("/v1/events?limit=100", &live)
            .await
            .expect(200)
            .body;
        let mine: Vec<String> = events["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|e| e["data"]["id"] == id.as_str())
            .map(|e| text(&e["type"]))
            .collect();
        assert_eq!(
            mine,
            [
                "generation.succeeded",
                "generation.running",
                "generation.queued"
            ]
        );
        let succeeded = events["data"]
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|e| e["data"]["id"] == id.as_str() && e["type"] == "generation.succeeded")
            })
            .map(|e| e["data"].clone())
            .unwrap_or_default();
        assert_eq!(succeeded["id"], id.as_str(), "{succeeded}");
        assert_eq!(
            succeeded["credits"]["charged"], price,
            "events carry the object as it was"
        );
        assert_eq!(succeeded["outputs"].as_array().map(Vec::len), Some(2));
        assert_eq!(succeeded["outputs"][0]["content_type"], "image/png");
        assert!(
            succeeded["outputs"][0].get("url").is_none(),
            "no expiring URLs in events"
        );
        app.stop().await;
    }
);

both_backends!(test_mode_is_free_and_separate, |db: TestDb| async move {
    let app = start(&db).await;
    let (account_id, live) = funded(&app, "modes@example.com").await;
    let test = app.owner_key(&account_id, "test").await;
    let g = create(
        &app,
        &test,
        json!({"model": "sandbox-video", "prompt": "waves"}),
        Some(30),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(g["livemode"], false);
    assert_eq!(g["credits"]["estimated"], 0);
    assert_eq!(g["credits"]["charged"], 0);
    assert_eq!(
        g["input"]["duration_seconds"], 2,
        "the model's first duration"
    );
    let id = text(&g["id"]);
    app.get(&format!("/v1/generations/{id}"), &live)
        .await
        .expect_error(404, "resource_missing");
    assert_eq!(
        app.get("/v1/generations", &live).await.expect(200).body["data"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    create(
        &app,
        &test,
        json!({"model": "sandbox-image", "prompt": "x", "livemode": true}),
        None,
    )
    .await
    .expect_error(400, "parameter_invalid");
    app.stop().await;
});

both_backends!(
    a_video_is_an_mp4_that_ffprobe_reads,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (_, live) = funded(&app, "video@example.com").await;
        let g = create(&app, &live, json!({"model": "sandbox-video", "prompt": "a train", "width": 320, "height": 240, "duration_seconds": 2, "fps": 12}), Some(30))
        .await
        .expect(200)
        .body;
        let o = &g["outputs"][0];
        assert_eq!(o["content_type"], "video/mp4");
        assert_eq!(o["duration_seconds"], 2.0);
        assert!(text(&o["url"]).contains(".mp4?"));
        let (status, content_type, bytes) = download(&text(&o["url"])).await;
        assert_eq!((status, content_type.as_str()), (200, "video/mp4"));
        let file = db.dir.join("served.mp4");
        std::fs::write(&file, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name,width,height,r_frame_rate",
                "-of",
                "json",
            ])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("ffprobe is required (scripts/test installs it): {e}"));
        let info: Value = serde_json::from_slice(&probe.stdout).unwrap_or_default();
        let stream = &info["streams"][0];
        assert_eq!(
            (
                stream["codec_name"].as_str(),
                stream["width"].as_u64(),
                stream["height"].as_u64()
            ),
            (Some("h264"), Some(320), Some(240)),
            "{info}"
        );
        assert_eq!(stream["r_frame_rate"], "12/1");
        app.stop().await;
    }
);

both_backends!(output_urls_are_signed_and_expire, |db: TestDb| async move {
    let app = TestApp::start_with(&db, |c| c.outputs.url_ttl_seconds = 2).await;
    let (_, live) = funded(&app, "urls@example.com").await;
    let g = create(
        &app,
        &live,
        json!({"model": "sandbox-image", "prompt": "keys", "width": 256, "height": 256}),
        Some(20),
    )
    .await
    .expect(200)
    .body;
    let url = text(&g["outputs"][0]["url"]);
    assert_eq!(download(&url).await.0, 200);
    let path = url.trim_start_matches(&app.url).to_string();
    let (file_path, query) = path.split_once('?').unwrap_or_default();
    // Tampered signature, another file, another expiry, no signature at all.
    let tampered_sig = format!(
        "{}0",
        path.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    app.call("GET", &tampered_sig, None, None)
        .await
        .expect_error(403, "signature_invalid");
    let other_file = format!("{}?{query}", file_path.replace("/0.png", "/1.png"));
    app.call("GET", &other_file, None, None)
        .await
        .expect_error(403, "signature_invalid");
    let later: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some(("expires", v)) => {
                format!("expires={}", v.parse::<i64>().unwrap_or_default() + 3600)
            }
            _ => kv.to_string(),
        })
        .collect();
    app.call(
        "GET",
        &format!("{file_path}?{}", later.join("&")),
        None,
        None,
    )
    .await
    .expect_error(403, "signature_invalid");
    app.call("GET", file_path, None, None)
        .await
        .expect_error(403, "signature_invalid");
    app.call(
        "GET",
        &format!("{file_path}?expires=1&signature=zz&x=1"),
        None,
        None,
    )
    .await
    .expect_error(400, "parameter_unknown");
    // The genuine URL, once its time is up.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.call("GET", &path, None, None)
        .await
        .expect_error(403, "url_expired");
    // A fresh fetch of the generation signs a fresh URL.
    let again = app
        .get(&format!("/v1/generations/{}", text(&g["id"])), &live)
        .await
        .expect(200)
        .body;
    assert_eq!(download(&text(&again["outputs"][0]["url"])).await.0, 200);
    app.stop().await;
});

both_backends!(deleting_removes_outputs_at_once, |db: TestDb| async move {
    let app = start(&db).await;
    let (_, live) = funded(&app, "delete@example.com").await;
    let (_, other) = funded(&app, "other@example.com").await;
    let g = create(
        &app,
        &live,
        json!({"model": "sandbox-image", "prompt": "gone", "width": 256, "height": 256}),
        Some(20),
    )
    .await
    .expect(200)
    .body;
    let id = text(&g["id"]);
    let url = text(&g["outputs"][0]["url"]);
    let files = || walk(&db.dir.join("outputs"));
    assert_eq!(files().len(), 1);
    app.delete(&format!("/v1/generations/{id}"), &other)
        .await
        .expect_error(404, "resource_missing");
    let deleted = app
        .delete(&format!("/v1/generations/{id}"), &live)
        .await
        .expect(200)
        .body;
    assert!(deleted["deleted_at"].is_i64());
    assert_eq!(deleted["outputs"], json!([]));
    assert_eq!(download(&url).await.0, 404, "the URL stops working at once");
    assert!(files().is_empty(), "the file is gone: {:?}", files());
    app.delete(&format!("/v1/generations/{id}"), &live)
        .await
        .expect_error(404, "resource_missing");
    assert_eq!(
        app.get("/v1/generations", &live).await.expect(200).body["data"],
        json!([])
    );
    let events = app.get("/v1/events?limit=1", &live).await.expect(200).body;
    assert_eq!(events["data"][0]["type"], "generation.deleted");
    app.stop().await;
});

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

both_backends!(
    cancel_stops_queued_and_running_generations,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, live) = funded(&app, "cancel@example.com").await;
        let running = create(
            &app,
            &live,
            json!({"model": "slow-image", "prompt": "a"}),
            None,
        )
        .await
        .expect(202)
        .body;
        let running_id = text(&running["id"]);
        until(&app, &live, &running_id, &["running"]).await;
        let queued = create(
            &app,
            &live,
            json!({"model": "slow-image", "prompt": "b"}),
            None,
        )
        .await
        .expect(202)
        .body;
        assert_eq!(queued["status"], "queued");
        assert_eq!(
            queued["queue_position"], 0,
            "next in line behind the running one"
        );
        let queued_id = text(&queued["id"]);
        let third = create(
            &app,
            &live,
            json!({"model": "slow-image", "prompt": "c"}),
            None,
        )
        .await
        .expect(202)
        .body;
        assert_eq!(third["queue_position"], 1);

        let canceled = app
            .post(
                &format!("/v1/generations/{queued_id}/cancel"),
                &live,
                json!({}),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(canceled["status"], "canceled");
        assert_eq!(canceled["credits"]["charged"], 0);
        // Canceling again is a no-op: still canceled, no second event, no credit moved.
        let ledger = crate::credits::assert_ledger_matches(&db, &account_id).await;
        let again = app
            .post(
                &format!("/v1/generations/{queued_id}/cancel"),
                &live,
                json!({}),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(again["status"], "canceled");
        assert_eq!(again["credits"]["charged"], 0);
        assert_eq!(again["finished_at"], canceled["finished_at"]);
        assert_eq!(
            crate::credits::assert_ledger_matches(&db, &account_id).await,
            ledger
        );
        assert_eq!(
            events_of(&app, &live, &queued_id).await,
            ["generation.canceled", "generation.queued"]
        );
        let third = app
            .get(&format!("/v1/generations/{}", text(&third["id"])), &live)
            .await
            .expect(200)
            .body;
        assert_eq!(third["queue_position"], 0, "moved up");

        let stopped = app
            .post(
                &format!("/v1/generations/{running_id}/cancel"),
                &live,
                json!({}),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(
            stopped["status"], "canceled",
            "a running job on this node stops at once: {stopped}"
        );
        assert!(stopped["outputs"].as_array().is_some_and(Vec::is_empty));
        // The slot is free again: the third one starts.
        until(&app, &live, &text(&third["id"]), &["running"]).await;
        app.post(
            &format!("/v1/generations/{}/cancel", text(&third["id"])),
            &live,
            json!({}),
        )
        .await
        .expect(200);

        let done = create(
            &app,
            &live,
            json!({"model": "sandbox-image", "prompt": "d", "width": 256, "height": 256}),
            Some(20),
        )
        .await
        .expect(200)
        .body;
        app.post(
            &format!("/v1/generations/{}/cancel", text(&done["id"])),
            &live,
            json!({}),
        )
        .await
        .expect_error(409, "generation_already_ended");
        app.post("/v1/generations/gen_nope/cancel", &live, json!({}))
            .await
            .expect_error(404, "resource_missing");
        assert_eq!(
            events_of(&app, &live, &running_id).await,
            [
                "generation.canceled",
                "generation.running",
                "generation.queued"
            ]
        );
        app.stop().await;
    }
);

/// The types of the events about generation `id`, newest first.
async fn events_of(app: &TestApp, key: &str, id: &str) -> Vec<String> {
    app.get("/v1/events?limit=100", key).await.expect(200).body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["data"]["id"] == id)
        .map(|e| text(&e["type"]))
        .collect()
}

both_backends!(
    engine_failures_are_retried_then_fail,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (_, live) = funded(&app, "retry@example.com").await;
        let flaky = create(
            &app,
            &live,
            json!({"model": "flaky-image", "prompt": "x", "width": 256, "height": 256}),
            None,
        )
        .await
        .expect(202)
        .body;
        let broken = create(
            &app,
            &live,
            json!({"model": "broken-image", "prompt": "x"}),
            None,
        )
        .await
        .expect(202)
        .body;
        let hopeless = create(
            &app,
            &live,
            json!({"model": "hopeless-image", "prompt": "x"}),
            None,
        )
        .await
        .expect(202)
        .body;

        let flaky = until(&app, &live, &text(&flaky["id"]), &["succeeded", "failed"]).await;
        assert_eq!(
            flaky["status"], "succeeded",
            "the second attempt succeeds: {flaky}"
        );
        let broken = until(&app, &live, &text(&broken["id"]), &["succeeded", "failed"]).await;
        assert_eq!(broken["status"], "failed");
        assert_eq!(broken["error"]["code"], "engine_error");
        assert_eq!(
            broken["credits"]["charged"], 0,
            "nothing is charged for a failure"
        );
        let hopeless = until(
            &app,
            &live,
            &text(&hopeless["id"]),
            &["succeeded", "failed"],
        )
        .await;
        assert_eq!(hopeless["status"], "failed");
        assert!(
            text(&hopeless["error"]["message"]).contains("attempt 2"),
            "failed after its two attempts: {hopeless}"
        );
        let attempts = db
        .count(&format!("SELECT CAST(j.attempts AS BIGINT) FROM jobs j JOIN generations g ON g.job_id = j.id WHERE g.id = '{}'", text(&hopeless["id"])))
        .await;
        assert_eq!(attempts, 2);
        app.stop().await;
    }
);

both_backends!(
    a_generation_queued_too_long_expires,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (_, live) = funded(&app, "expiry@example.com").await;
        let first = create(
            &app,
            &live,
            json!({"model": "brief-queue", "prompt": "a"}),
            None,
        )
        .await
        .expect(202)
        .body;
        until(&app, &live, &text(&first["id"]), &["running"]).await;
        let second = create(
            &app,
            &live,
            json!({"model": "brief-queue", "prompt": "b"}),
            None,
        )
        .await
        .expect(202)
        .body;
        let expired = until(&app, &live, &text(&second["id"]), &["expired"]).await;
        assert_eq!(expired["error"]["code"], "queue_timeout");
        assert_eq!(expired["credits"]["charged"], 0);
        app.post(
            &format!("/v1/generations/{}/cancel", text(&first["id"])),
            &live,
            json!({}),
        )
        .await
        .expect(200);
        app.stop().await;
    }
);

both_backends!(prefer_wait_holds_the_answer, |db: TestDb| async move {
    let app = start(&db).await;
    let (_, live) = funded(&app, "wait@example.com").await;
    let started = std::time::Instant::now();
    let res = create(
        &app,
        &live,
        json!({"model": "slow-image", "prompt": "a"}),
        Some(1),
    )
    .await
    .expect(202);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited about a second"
    );
    assert_eq!(
        res.headers
            .get("preference-applied")
            .and_then(|v| v.to_str().ok()),
        Some("wait=1")
    );
    // Above the maximum: capped, and says so.
    app.post(
        &format!("/v1/generations/{}/cancel", text(&res.body["id"])),
        &live,
        json!({}),
    )
    .await
    .expect(200);
    let capped = create(
        &app,
        &live,
        json!({"model": "sandbox-image", "prompt": "b", "width": 256, "height": 256}),
        Some(600),
    )
    .await
    .expect(200);
    assert_eq!(
        capped
            .headers
            .get("preference-applied")
            .and_then(|v| v.to_str().ok()),
        Some("wait=60")
    );
    let plain = create(
        &app,
        &live,
        json!({"model": "sandbox-image", "prompt": "c"}),
        None,
    )
    .await
    .expect(202);
    assert!(plain.headers.get("preference-applied").is_none());
    app.stop().await;
});

both_backends!(
    idempotency_keys_replay_and_refuse,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (_, live) = funded(&app, "idem@example.com").await;
        let (_, other) = funded(&app, "idem2@example.com").await;
        let post = |key: &str, idem: &str, body: Value, wait: Option<u64>| {
            let mut req = app
                .raw(reqwest::Method::POST, "/v1/generations")
                .bearer_auth(key)
                .header("idempotency-key", idem)
                .json(&body);
            if let Some(wait) = wait {
                req = req.header("prefer", format!("wait={wait}"));
            }
            app.send(req)
        };
        let body = json!({"model": "sandbox-image", "prompt": "once", "width": 256, "height": 256});
        let first = post(&live, "k-1", body.clone(), None).await.expect(202);
        assert!(first.headers.get("idempotent-replayed").is_none());
        let again = post(&live, "k-1", body.clone(), None).await.expect(202);
        assert_eq!(again.body["id"], first.body["id"]);
        assert_eq!(
            again
                .headers
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        post(
            &live,
            "k-1",
            json!({"model": "sandbox-image", "prompt": "twice"}),
            None,
        )
        .await
        .expect_error(400, "idempotency_error");
        // Another account's key space is its own.
        let theirs = post(&other, "k-1", body.clone(), None).await.expect(202);
        assert_ne!(theirs.body["id"], first.body["id"]);
        // Error answers replay too, with the new request's id.
        let bad = json!({"model": "sandbox-image", "prompt": ""});
        let e1 = post(&live, "k-bad", bad.clone(), None)
            .await
            .expect_error(400, "parameter_invalid");
        let e2 = post(&live, "k-bad", bad, None)
            .await
            .expect_error(400, "parameter_invalid");
        assert_eq!(e1.body["error"]["message"], e2.body["error"]["message"]);
        assert_ne!(
            e1.body["error"]["request_id"],
            e2.body["error"]["request_id"]
        );
        // Still in flight: 409.
        let slow = json!({"model": "slow-image", "prompt": "in flight"});
        let (held, racing) = tokio::join!(post(&live, "k-slow", slow.clone(), Some(2)), async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            post(&live, "k-slow", slow.clone(), None).await
        });
        held.expect(202);
        racing.expect_error(409, "idempotency_in_flight");
        let long = "x".repeat(256);
        post(&live, &long, body, None)
            .await
            .expect_error(400, "parameter_invalid");
        let gens = app
            .get("/v1/generations?limit=100", &live)
            .await
            .expect(200)
            .body;
        assert_eq!(
            gens["data"].as_array().map(Vec::len),
            Some(2),
            "one generation per key: {gens}"
        );
        for g in gens["data"].as_array().cloned().unwrap_or_default() {
            if g["status"] == "queued" || g["status"] == "running" {
                app.post(
                    &format!("/v1/generations/{}/cancel", text(&g["id"])),
                    &live,
                    json!({}),
                )
                .await
                .expect(200);
            }
        }
        app.stop().await;
    }
);

both_backends!(quotes_price_without_queueing, |db: TestDb| async move {
    let app = start(&db).await;
    let (account_id, live) = funded(&app, "quote@example.com").await;
    let models = app.get("/v1/models", &live).await.expect(200).body;
    let listed = models["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|m| m["id"] == "sandbox-image")
        .and_then(|m| m["prices"].as_array().cloned())
        .and_then(|p| {
            p.into_iter()
                .find(|p| p["size"] == "512x512" && p["n"] == 2)
        })
        .unwrap_or_default();
    let body =
        json!({"model": "sandbox-image", "prompt": "q", "width": 512, "height": 512, "n": 2});
    let quote = app
        .post("/v1/generations/quote", &live, body.clone())
        .await
        .expect(200)
        .body;
    assert_eq!(
        quote["credits"], listed["credits"],
        "the quote is the listed price"
    );
    assert_eq!(quote["eur"], listed["eur"]);
    assert_eq!(quote["allowed"], true);
    assert_eq!(quote["queue_position"], 0);
    assert_eq!(
        quote["eta_seconds"],
        Value::Null,
        "no runs yet: no made-up ETA"
    );
    let created = create(&app, &live, body.clone(), Some(20))
        .await
        .expect(200)
        .body;
    assert_eq!(created["credits"]["estimated"], quote["credits"]);
    let later = app
        .post("/v1/generations/quote", &live, body)
        .await
        .expect(200)
        .body;
    assert!(
        later["eta_seconds"].is_i64(),
        "an ETA once the model has run: {later}"
    );
    let refused = app
        .post(
            "/v1/generations/quote",
            &live,
            json!({"model": "pro-image", "prompt": "q"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(refused["allowed"], false);
    assert_eq!(refused["refusals"][0]["code"], "model_not_on_plan");
    create(
        &app,
        &live,
        json!({"model": "pro-image", "prompt": "q"}),
        None,
    )
    .await
    .expect_error(403, "model_not_on_plan");
    let test = app.owner_key(&account_id, "test").await;
    let free = app
        .post(
            "/v1/generations/quote",
            &test,
            json!({"model": "sandbox-image", "prompt": "q", "width": 512, "height": 512, "n": 2}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (free["credits"].as_i64(), free["live_credits"].clone()),
        (Some(0), listed["credits"].clone())
    );
    app.post(
        "/v1/generations/quote",
        &live,
        json!({"model": "sandbox-image", "prompt": ""}),
    )
    .await
    .expect_error(400, "parameter_invalid");
    let gens = app.get("/v1/generations", &live).await.expect(200).body;
    assert_eq!(
        gens["data"].as_array().map(Vec::len),
        Some(1),
        "quotes queue nothing"
    );
    app.stop().await;
});

both_backends!(
    bad_input_is_refused_naming_the_field,
    |db: TestDb| async move {
        let app = TestApp::start_with(&db, |c| {
            with_test_models(c);
            c.generations.max_input_image_bytes = 2048;
            c.generations.max_prompt_chars = 50;
        })
        .await;
        let (_, live) = funded(&app, "bad@example.com").await;
        let (_, other) = funded(&app, "bad2@example.com").await;
        let png = base64_png();
        let big = format!("{}{}", &png[..20], "A".repeat(4000));
        let cases: Vec<(Value, u16, &str, &str)> = vec![
            (
                json!({"model": "nope", "prompt": "x"}),
                404,
                "model_not_found",
                "model",
            ),
            (json!({"prompt": "x"}), 400, "parameter_missing", "model"),
            (
                json!({"model": "sandbox-image"}),
                400,
                "parameter_missing",
                "prompt",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "width": 300, "height": 300}),
                400,
                "parameter_invalid",
                "width",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "width": 256}),
                400,
                "parameter_missing",
                "height",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "width": -1, "height": 256}),
                400,
                "parameter_invalid",
                "width",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "width": "big", "height": 256}),
                400,
                "parameter_invalid",
                "width",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "n": 0}),
                400,
                "parameter_invalid",
                "n",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "n": 5}),
                400,
                "parameter_invalid",
                "n",
            ),
            (
                json!({"model": "sandbox-image", "prompt": ""}),
                400,
                "parameter_invalid",
                "prompt",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "   "}),
                400,
                "parameter_invalid",
                "prompt",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x".repeat(51)}),
                400,
                "parameter_invalid",
                "prompt",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "negative_prompt": "y".repeat(51)}),
                400,
                "parameter_invalid",
                "negative_prompt",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x\u{0}y"}),
                400,
                "parameter_invalid",
                "prompt",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "duration_seconds": 2}),
                400,
                "parameter_invalid",
                "duration_seconds",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "fps": 24}),
                400,
                "parameter_invalid",
                "fps",
            ),
            (
                json!({"model": "sandbox-video", "prompt": "x", "duration_seconds": 3}),
                400,
                "parameter_invalid",
                "duration_seconds",
            ),
            (
                json!({"model": "sandbox-video", "prompt": "x", "fps": 30}),
                400,
                "parameter_invalid",
                "fps",
            ),
            (
                json!({"model": "sandbox-video", "prompt": "x", "n": 2}),
                400,
                "parameter_invalid",
                "n",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "seed": -1}),
                400,
                "parameter_invalid",
                "seed",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "seed": 1.5}),
                400,
                "parameter_invalid",
                "seed",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "input_image": "%%%not base64"}),
                400,
                "parameter_invalid",
                "input_image",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "input_image": "aGVsbG8gd29ybGQ="}),
                400,
                "parameter_invalid",
                "input_image",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "input_image": big}),
                400,
                "parameter_invalid",
                "input_image",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "input_image": "data:image/png,abc"}),
                400,
                "parameter_invalid",
                "input_image",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "user": ""}),
                400,
                "parameter_invalid",
                "user",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "metadata": {"k": 1}}),
                400,
                "parameter_invalid",
                "metadata.k",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "metadata": "flat"}),
                400,
                "parameter_invalid",
                "metadata",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "colour": "red"}),
                400,
                "parameter_unknown",
                "colour",
            ),
            (
                json!({"model": "sandbox-image", "prompt": "x", "livemode": false}),
                400,
                "parameter_invalid",
                "livemode",
            ),
            (
                json!({"model": "pro-image", "prompt": "x"}),
                403,
                "model_not_on_plan",
                "model",
            ),
        ];
        for (body, status, code, param) in cases {
            let res = create(&app, &live, body.clone(), None).await;
            assert_eq!(
                (res.status, res.code(), res.param()),
                (status, code, param),
                "{body} → {}",
                res.body
            );
        }
        // The same checks on the quote.
        let res = app
            .post(
                "/v1/generations/quote",
                &live,
                json!({"model": "sandbox-image", "prompt": "x", "seed": -3}),
            )
            .await;
        assert_eq!((res.status, res.param()), (400, "seed"));
        assert_eq!(
            app.get("/v1/generations", &live).await.expect(200).body["data"],
            json!([]),
            "nothing was queued"
        );
        assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, 0);

        // A valid input image is accepted, and described without its bytes.
        let ok = create(&app, &live, json!({"model": "sandbox-image", "prompt": "x", "input_image": format!("data:image/png;base64,{png}")}), None)
        .await
        .expect(202)
        .body;
        assert_eq!(ok["input"]["input_image"]["content_type"], "image/png");
        assert!(ok["input"]["input_image"].get("path").is_none());
        // Ids: unknown, malformed, another account's.
        let id = text(&ok["id"]);
        app.get("/v1/generations/gen_01m864a045xwwke0zd48j6933p", &live)
            .await
            .expect_error(404, "resource_missing");
        app.get("/v1/generations/../../etc", &live)
            .await
            .expect_error(404, "route_not_found");
        app.get("/v1/generations/key_123", &live)
            .await
            .expect_error(404, "resource_missing");
        app.get(&format!("/v1/generations/{id}"), &other)
            .await
            .expect_error(404, "resource_missing");
        app.post(&format!("/v1/generations/{id}/cancel"), &other, json!({}))
            .await
            .expect_error(404, "resource_missing");
        // A key limited to other models.
        let narrow = app
            .post(
                "/v1/keys",
                &live,
                json!({"name": "video only", "allowed_models": ["sandbox-video"]}),
            )
            .await
            .expect(201)
            .body;
        create(
            &app,
            &text(&narrow["secret"]),
            json!({"model": "sandbox-image", "prompt": "x"}),
            None,
        )
        .await
        .expect_error(403, "model_not_allowed_for_key");
        // Scopes.
        let reader = app
            .post(
                "/v1/keys",
                &live,
                json!({"name": "r", "scopes": ["generations:read"]}),
            )
            .await
            .expect(201)
            .body;
        create(
            &app,
            &text(&reader["secret"]),
            json!({"model": "sandbox-image", "prompt": "x"}),
            None,
        )
        .await
        .expect_error(403, "insufficient_scope");
        app.stop().await;
    }
);

/// A tiny valid PNG, base64.
fn base64_png() -> String {
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==".to_string()
}

both_backends!(
    two_hundred_concurrent_creations_lose_nothing,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (_, live) = funded(&app, "burst@example.com").await;
        let app = std::sync::Arc::new(app);
        let mut tasks = Vec::new();
        for i in 0..200 {
            let app = std::sync::Arc::clone(&app);
            let key = live.clone();
            tasks.push(tokio::spawn(async move {
            let body = json!({"model": "sandbox-image", "prompt": format!("burst {i}"), "width": 256, "height": 256});
            let res = app.send(app.raw(reqwest::Method::POST, "/v1/generations").bearer_auth(&key).json(&body)).await;
            (res.status, text(&res.body["id"]))
        }));
        }
        let mut ids = std::collections::HashSet::new();
        for task in tasks {
            let (status, id) = task.await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(status, 202);
            ids.insert(id);
        }
        assert_eq!(ids.len(), 200, "200 distinct generations");
        let all_done = eventually(60_000, || async {
            db.count("SELECT COUNT(*) FROM generations WHERE status = 'succeeded'")
                .await
                == 200
        })
        .await;
        assert!(all_done, "every generation succeeded");
        assert_eq!(
            db.count("SELECT COUNT(*) FROM jobs").await,
            200,
            "one job each"
        );
        assert_eq!(
            db.count("SELECT CAST(MAX(attempts) AS BIGINT) FROM jobs")
                .await,
            1,
            "each ran once"
        );
        assert_eq!(db.count("SELECT COUNT(*) FROM outputs").await, 200);
        assert_eq!(
            db.count("SELECT COUNT(*) FROM events WHERE type = 'generation.succeeded'")
                .await,
            200
        );
        if let Ok(app) = std::sync::Arc::try_unwrap(app) {
            app.stop().await;
        }
    }
);

both_backends!(
    the_sweep_settles_what_a_dead_node_left_open,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (account_id, live) = funded(&app, "sweep@example.com").await;
        let g = create(
            &app,
            &live,
            json!({"model": "slow-image", "prompt": "orphan"}),
            None,
        )
        .await
        .expect(202)
        .body;
        let id = text(&g["id"]);
        until(&app, &live, &id, &["running"]).await;
        // The job ends in the store but its node dies before settling the generation.
        db.execute(&format!(
        "UPDATE jobs SET status = 'failed', lease_owner = NULL, lease_until = NULL, finished_at = 1, \
         last_error = 'engine_error: the node died' WHERE id = (SELECT job_id FROM generations WHERE id = '{id}')"
    ))
    .await;
        let settled = until(&app, &live, &id, &["failed"]).await;
        assert_eq!(settled["error"]["code"], "engine_error");
        assert_eq!(settled["error"]["message"], "the node died");
        assert_eq!(settled["credits"]["charged"], 0);
        // The hold is released, not left open: nothing held, the whole grant available, and
        // the ledger says so.
        let sql = |status: &str| {
            format!(
                "SELECT COUNT(*) FROM holds WHERE generation_id = '{id}' AND status = '{status}'"
            )
        };
        assert_eq!(
            (
                db.count(&sql("released")).await,
                db.count(&sql("open")).await
            ),
            (1, 0)
        );
        assert_eq!(
            crate::credits::assert_ledger_matches(&db, &account_id).await,
            (1_000_000, 0)
        );
        app.stop().await;
    }
);

both_backends!(
    outputs_past_retention_are_deleted,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (_, live) = funded(&app, "retention@example.com").await;
        let g = create(
            &app,
            &live,
            json!({"model": "sandbox-image", "prompt": "old", "width": 256, "height": 256}),
            Some(20),
        )
        .await
        .expect(200)
        .body;
        let id = text(&g["id"]);
        let url = text(&g["outputs"][0]["url"]);
        assert_eq!(walk(&db.dir.join("outputs")).len(), 1);
        // The plan's retention ran out (rather than waiting seven days).
        db.execute(&format!(
            "UPDATE outputs SET expires_at = 1000 WHERE generation_id = '{id}'"
        ))
        .await;
        assert_eq!(
            download(&url).await.0,
            404,
            "an expired output is not served, even before the sweep"
        );
        let swept = eventually(5_000, || async { walk(&db.dir.join("outputs")).is_empty() }).await;
        assert!(swept, "the file is deleted");
        // The sweep marks the row right after deleting the object.
        let sql = format!(
            "SELECT COUNT(*) FROM outputs WHERE generation_id = '{id}' AND deleted_at IS NOT NULL"
        );
        assert!(
            eventually(5_000, || async { db.count(&sql).await == 1 }).await,
            "the output is marked deleted"
        );
        let after = app
            .get(&format!("/v1/generations/{id}"), &live)
            .await
            .expect(200)
            .body;
        assert_eq!(after["status"], "succeeded");
        assert_eq!(after["outputs"], json!([]));
        app.stop().await;
    }
);

both_backends!(
    cancel_reaches_a_job_running_on_another_node,
    |db: TestDb| async move {
        let runner = start(&db).await;
        // A second node sharing the database that runs no slow-image jobs itself.
        let api = TestApp::start_with(&db, |c| {
            with_test_models(c);
            if let Some(m) = c.models.get_mut("slow-image") {
                m.enabled = false;
            }
        })
        .await;
        let (_, live) = funded(&runner, "nodes@example.com").await;
        let g = create(
            &runner,
            &live,
            json!({"model": "slow-image", "prompt": "far away"}),
            None,
        )
        .await
        .expect(202)
        .body;
        let id = text(&g["id"]);
        until(&runner, &live, &id, &["running"]).await;
        let res = api
            .post(&format!("/v1/generations/{id}/cancel"), &live, json!({}))
            .await
            .expect(200)
            .body;
        assert!(
            res["status"] == "running" || res["status"] == "canceled",
            "{res}"
        );
        let ended = until(&api, &live, &id, &["canceled"]).await;
        assert_eq!(ended["credits"]["charged"], 0);
        api.stop().await;
        runner.stop().await;
    }
);

both_backends!(
    an_unavailable_object_store_answers_503_and_charges_nothing,
    |db: TestDb| async move {
        let app = start(&db).await;
        let (_, live) = funded(&app, "store@example.com").await;
        let done = create(
            &app,
            &live,
            json!({"model": "sandbox-image", "prompt": "a lamp"}),
            Some(20),
        )
        .await
        .expect(200)
        .body;
        let url = text(&done["outputs"][0]["url"]);
        let balance = app.get("/v1/balance", &live).await.expect(200).body;
        // Each generation's id and status: their signed output URLs expire a fixed time
        // after the request, so two listings a second apart differ in them.
        let generations =
            |data: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
                data.as_array()
                    .map(|a| {
                        a.iter()
                            .map(|g| (g["id"].clone(), g["status"].clone()))
                            .collect()
                    })
                    .unwrap_or_default()
            };
        let listed = generations(&app.get("/v1/generations", &live).await.expect(200).body["data"]);

        // The local store's directory becomes a file: every read and write fails.
        let dir = db.dir.join("outputs");
        let away = db.dir.join("outputs-away");
        std::fs::rename(&dir, &away).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&dir, b"not a directory").unwrap_or_else(|e| panic!("{e}"));
        let body = json!({"model": "sandbox-image", "prompt": "x", "input_image": format!("data:image/png;base64,{}", base64_png())});
        let refused = create(&app, &live, body.clone(), None).await;
        assert_eq!(
            (refused.status, refused.code()),
            (503, "service_unavailable"),
            "{}",
            refused.body
        );
        assert_eq!(
            refused.headers.get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let res = reqwest::get(&url)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(res.status().as_u16(), 503, "an output that cannot be read");
        assert!(res.headers().contains_key("retry-after"));
        assert_eq!(
            app.get("/v1/balance", &live).await.expect(200).body,
            balance,
            "nothing held or charged"
        );
        assert_eq!(
            generations(&app.get("/v1/generations", &live).await.expect(200).body["data"]),
            listed,
            "nothing queued"
        );

        // Back: the same request goes through, the output reads again.
        std::fs::remove_file(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&away, &dir).unwrap_or_else(|e| panic!("{e}"));
        create(&app, &live, body, None).await.expect(202);
        assert_eq!(download(&url).await.0, 200);
        app.stop().await;
    }
);
