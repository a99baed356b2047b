//! The `openai` engine through Easel's API, against the fake OpenAI images API.

use std::time::Duration;

use easel_test_utils::fakes::openai::{self as fake, FakeOpenAi, FakeOpenAiConfig, Fault};
use easel_test_utils::{TestDb, both_backends};
use serde_json::json;

use super::support::{audit_actions, balance, image_model, input_png, metric, quick, run, stored};
use crate::generations::{create, download, funded, until};
use crate::support::{TestApp, eventually, logs};

const MODEL: &str = "gpt-test";
/// The fake checks this variable's value as the bearer key. Tests cannot set variables
/// (edition 2024 makes that unsafe, and unsafe code is forbidden), so they use one that is
/// always set; what matters is that its value never shows anywhere.
const KEY_VAR: &str = "PATH";

fn backend_key() -> String {
    std::env::var(KEY_VAR).unwrap_or_else(|_| panic!("{KEY_VAR} is set"))
}

async fn backend() -> FakeOpenAi {
    let (_, fake) = fake::start(FakeOpenAiConfig::with_key(&backend_key()))
        .await
        .unwrap_or_else(|e| panic!("fake OpenAI: {e}"));
    fake
}

/// A server whose `gpt-test` model runs on `fake`, with `tweak` on top.
async fn serve(
    db: &TestDb,
    fake: &FakeOpenAi,
    tweak: impl FnOnce(&mut easel_server::config::Config),
) -> TestApp {
    let base_url = fake.base_url();
    TestApp::start_with(db, move |c| {
        quick(c);
        let model = image_model(
            c,
            "openai",
            json!({"base_url": base_url, "api_key_env": KEY_VAR, "model": "gpt-image-1"}),
        );
        c.models.insert(MODEL.into(), model);
        tweak(c);
    })
    .await
}

both_backends!(
    openai_text_to_image_succeeds_with_decoded_outputs_and_usage,
    |db: TestDb| async move {
        let fake = backend().await;
        let app = serve(&db, &fake, |_| {}).await;
        let (account_id, key) = funded(&app, "openai-t2i@example.com").await;
        let before = balance(&app, &key).await;
        let g = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "a red fox", "width": 96, "height": 64, "n": 2}),
        )
        .await;
        assert_eq!(g["status"], "succeeded", "{g}");
        let outputs = g["outputs"].as_array().cloned().unwrap_or_default();
        assert_eq!(outputs.len(), 2, "{g}");
        let mut seen = Vec::new();
        for o in &outputs {
            assert_eq!(
                (o["width"].as_u64(), o["height"].as_u64()),
                (Some(96), Some(64))
            );
            let (status, content_type, bytes) =
                download(o["url"].as_str().unwrap_or_default()).await;
            assert_eq!((status, content_type.as_str()), (200, "image/png"));
            let decoded = image_size(&bytes);
            assert_eq!(decoded, (96, 64), "the stored bytes are the picture");
            seen.push(bytes);
        }
        assert_ne!(seen[0], seen[1], "two different pictures");
        // The fake got what OpenAI expects: the upstream model, WxH and n.
        let sent = fake.received();
        let body = sent.iter().find_map(|r| r.json.clone()).unwrap_or_default();
        assert_eq!(
            (
                body["model"].as_str(),
                body["size"].as_str(),
                body["n"].as_u64()
            ),
            (Some("gpt-image-1"), Some("96x64"), Some(2)),
            "{body}"
        );
        assert_eq!(
            sent[0].authorization.as_deref(),
            Some(format!("Bearer {}", backend_key()).as_str())
        );
        // Charged once, what was quoted; the upstream usage is kept for the operator.
        let after = balance(&app, &key).await;
        let charged = g["credits"]["charged"].as_i64().unwrap_or(-1);
        assert!(charged > 0);
        assert_eq!((after.0, after.1), (before.0 - charged, 0));
        let usage = stored(&app, &account_id, g["id"].as_str().unwrap_or_default())
            .await
            .engine_usage;
        assert!(
            usage
                .as_ref()
                .is_some_and(|u| u["total_tokens"].as_i64().is_some()),
            "{usage:?}"
        );
        app.stop().await;
    }
);

both_backends!(
    openai_image_to_image_sends_the_input_image_to_edits,
    |db: TestDb| async move {
        let fake = backend().await;
        let app = serve(&db, &fake, |_| {}).await;
        let (_, key) = funded(&app, "openai-i2i@example.com").await;
        let (bytes, encoded) = input_png(20, 10);
        let g = run(&app, &key, json!({"model": MODEL, "prompt": "make it blue", "width": 64, "height": 64, "input_image": encoded})).await;
        assert_eq!(g["status"], "succeeded", "{g}");
        let edits: Vec<_> = fake
            .received()
            .into_iter()
            .filter(|r| r.endpoint == "edits")
            .collect();
        assert_eq!(edits.len(), 1, "the edits endpoint was used once");
        let image = edits[0].image.clone().unwrap_or_default();
        assert_eq!(
            image.bytes, bytes,
            "the very input image reached the backend"
        );
        assert_eq!(
            edits[0].fields.get("prompt").map(String::as_str),
            Some("make it blue")
        );
        app.stop().await;
    }
);

both_backends!(
    openai_transient_failures_are_retried_after_retry_after,
    |db: TestDb| async move {
        let fake = backend().await;
        let app = serve(&db, &fake, |_| {}).await;
        let (_, key) = funded(&app, "openai-retry@example.com").await;
        fake.push(Fault::Unavailable {
            retry_after_secs: 1,
        });
        let started = std::time::Instant::now();
        let g = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(g["status"], "succeeded", "{g}");
        assert_eq!(fake.image_requests(), 2, "one failure, one success");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "Retry-After: 1 was honoured ({:?})",
            started.elapsed()
        );
        app.stop().await;
    }
);

both_backends!(
    openai_permanent_failures_are_not_retried_and_cost_nothing,
    |db: TestDb| async move {
        let fake = backend().await;
        let app = serve(&db, &fake, |_| {}).await;
        let (_, key) = funded(&app, "openai-permanent@example.com").await;
        let before = balance(&app, &key).await;
        let port = fake.addr().port().to_string();
        fake.push(Fault::Error {
            status: 400,
            kind: "invalid_request_error".into(),
            code: Some("invalid_value".into()),
            param: Some("size".into()),
            message: format!("Invalid size; see http://127.0.0.1:{port}/docs for sizes."),
            headers: vec![],
        });
        let g = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(
            (g["status"].as_str(), g["error"]["code"].as_str()),
            (Some("failed"), Some("engine_error")),
            "{g}"
        );
        assert_eq!(fake.image_requests(), 1, "not retried");
        let message = g["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("Invalid size"), "{message}");
        assert!(
            !message.contains("127.0.0.1") && !message.contains(&port),
            "no backend address: {message}"
        );
        assert_eq!(balance(&app, &key).await, before, "the hold was released");
        assert_eq!(g["credits"]["charged"].as_i64().unwrap_or(0), 0);
        app.stop().await;
    }
);

both_backends!(
    openai_refusals_cost_nothing_and_strike_only_for_the_prompt,
    |db: TestDb| async move {
        let fake = backend().await;
        let app = serve(&db, &fake, |_| {}).await;
        let (account_id, key) = funded(&app, "openai-refused@example.com").await;
        let before = balance(&app, &key).await;
        fake.push(Fault::Moderation {
            stage: Some("output".into()),
            categories: vec!["sexual".into()],
        });
        let out = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(
            (out["status"].as_str(), out["error"]["code"].as_str()),
            (Some("failed"), Some("backend_content_refused")),
            "{out}"
        );
        let actions = audit_actions(&app, &account_id).await;
        assert!(
            actions
                .iter()
                .any(|a| a == "generation.backend_refused_output"),
            "{actions:?}"
        );
        assert!(
            !actions.iter().any(|a| a == "moderation.strike"),
            "an output refusal is no strike: {actions:?}"
        );

        fake.push(Fault::Moderation {
            stage: Some("input".into()),
            categories: vec!["violence".into()],
        });
        let input = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "y", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(input["error"]["code"], "backend_content_refused", "{input}");
        assert!(
            input["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("violence")
        );
        let actions = audit_actions(&app, &account_id).await;
        assert_eq!(
            actions.iter().filter(|a| *a == "moderation.strike").count(),
            1,
            "{actions:?}"
        );

        fake.push(Fault::ContentPolicy);
        let dalle = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "z", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(dalle["error"]["code"], "backend_content_refused", "{dalle}");
        assert_eq!(fake.image_requests(), 3, "refusals are not retried");
        assert_eq!(balance(&app, &key).await, before, "nothing charged");
        app.stop().await;
    }
);

both_backends!(
    openai_misconfiguration_fails_at_once_and_is_counted,
    |db: TestDb| async move {
        let fake = backend().await;
        let app = serve(&db, &fake, |_| {}).await;
        let (_, key) = funded(&app, "openai-misconfig@example.com").await;
        fake.push(Fault::InvalidApiKey);
        let g = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(g["error"]["code"], "engine_misconfigured", "{g}");
        assert_eq!(fake.image_requests(), 1, "not retried");
        assert_eq!(
            metric(&app, "easel_engine_misconfigured_total", MODEL).await,
            Some(1.0)
        );
        app.stop().await;
    }
);

both_backends!(
    openai_bad_outputs_fail_the_attempt_and_never_reach_storage,
    |db: TestDb| async move {
        let fake = backend().await;
        let app = serve(&db, &fake, |_| {}).await;
        let (_, key) = funded(&app, "openai-bad@example.com").await;
        let before = balance(&app, &key).await;
        // Every attempt gets something unusable: wrong size, no image, HTML.
        fake.push(Fault::WrongSize {
            width: 32,
            height: 32,
        });
        fake.push(Fault::NotAnImage);
        fake.push(Fault::Html);
        let g = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(g["status"], "failed", "{g}");
        assert_eq!(fake.image_requests(), 3, "each was an attempt");
        let code = g["error"]["code"].as_str().unwrap_or_default();
        assert!(
            ["engine_bad_output", "engine_unavailable"].contains(&code),
            "{g}"
        );
        assert!(g["outputs"].as_array().is_none_or(Vec::is_empty), "{g}");
        assert_eq!(balance(&app, &key).await, before);

        fake.push(Fault::Huge {
            bytes: 3 * 1024 * 1024,
        });
        fake.push_n(2, Fault::NoImages);
        let big = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "y", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(
            (big["status"].as_str(), big["error"]["code"].as_str()),
            (Some("failed"), Some("engine_bad_output")),
            "{big}"
        );
        app.stop().await;
    }
);

both_backends!(
    openai_url_answers_go_through_the_ssrf_guard,
    |db: TestDb| async move {
        let fake = backend().await;
        // The fake serves its URLs on loopback: refused unless the operator allows it.
        let app = serve(&db, &fake, |c| {
            c.models.get_mut(MODEL).map_or((), |m| m.max_attempts = 1)
        })
        .await;
        let (_, key) = funded(&app, "openai-ssrf@example.com").await;
        fake.push(Fault::UrlAnswer);
        let refused = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(refused["status"], "failed", "{refused}");
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("127.0.0.1"), "{message}");
        app.stop().await;

        let allowed = serve(&db, &fake, |c| c.webhooks.allow = vec!["127.0.0.1".into()]).await;
        let (_, key) = funded(&allowed, "openai-ssrf-ok@example.com").await;
        fake.push(Fault::UrlAnswer);
        let ok = run(
            &allowed,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(ok["status"], "succeeded", "{ok}");
        allowed.stop().await;
    }
);

both_backends!(
    openai_cancel_while_running_drops_the_backend_request,
    |db: TestDb| async move {
        let fake = backend().await;
        let app = serve(&db, &fake, |_| {}).await;
        let (_, key) = funded(&app, "openai-cancel@example.com").await;
        let before = balance(&app, &key).await;
        fake.push(Fault::Hang);
        let created = create(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
            None,
        )
        .await
        .expect(202)
        .body;
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        assert!(
            fake.wait_until(Duration::from_secs(10), 1, FakeOpenAi::image_requests)
                .await,
            "the request reached the backend"
        );
        until(&app, &key, &id, &["running"]).await;
        app.post(&format!("/v1/generations/{id}/cancel"), &key, json!({}))
            .await
            .expect(200);
        let g = until(&app, &key, &id, &["canceled"]).await;
        assert_eq!(g["status"], "canceled");
        assert!(
            fake.wait_until(Duration::from_secs(10), 1, FakeOpenAi::aborted)
                .await,
            "the backend saw the client go away"
        );
        assert_eq!(balance(&app, &key).await, before);
        app.stop().await;
    }
);

both_backends!(
    openai_a_down_backend_opens_the_breaker_and_jobs_wait,
    |db: TestDb| async move {
        logs::capture();
        let fake = backend().await;
        let app = serve(&db, &fake, |c| {
            // Long enough to ask for a quote while it is open.
            c.engines.breaker_cooldown_seconds = 2;
            c.engines.breaker_max_cooldown_seconds = 3;
            if let Some(m) = c.models.get_mut(MODEL) {
                m.max_attempts = 10;
                m.concurrency = 1;
            }
        })
        .await;
        let (_, key) = funded(&app, "openai-breaker@example.com").await;
        // Three failures in a row open the breaker (faults hit image requests only, not
        // the probe); the job then waits instead of spending its attempts.
        fake.push_n(
            3,
            Fault::Unavailable {
                retry_after_secs: 0,
            },
        );
        let created = create(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
            None,
        )
        .await
        .expect(202)
        .body;
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        let opened = eventually(10_000, || async {
            metric(&app, "easel_engine_breaker_open", MODEL).await == Some(1.0)
                && metric(&app, "easel_engine_up", MODEL).await == Some(0.0)
        })
        .await;
        assert!(opened, "the breaker opened and the backend counts as down");
        let quote = app
            .post(
                "/v1/generations/quote",
                &key,
                json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(quote["backend"], "paused", "{quote}");
        assert!(
            !logs::lines_with(&["engine breaker opened", MODEL]).is_empty(),
            "a log line says so"
        );
        // The backend recovers: a probe half-opens the breaker, the job runs and succeeds.
        let g = until(&app, &key, &id, &["succeeded", "failed"]).await;
        assert_eq!(g["status"], "succeeded", "{g}");
        let attempts_used = fake
            .received()
            .iter()
            .filter(|r| r.endpoint == "generations")
            .count();
        assert_eq!(
            attempts_used, 4,
            "the open breaker held the job instead of burning its attempts ({attempts_used})"
        );
        let closed = eventually(5_000, || async {
            metric(&app, "easel_engine_breaker_open", MODEL).await == Some(0.0)
                && metric(&app, "easel_engine_up", MODEL).await == Some(1.0)
        })
        .await;
        assert!(closed, "the breaker closed");
        assert!(metric(&app, "easel_engine_breaker_opened_total", MODEL).await >= Some(1.0));
        app.stop().await;
    }
);

both_backends!(
    openai_secrets_and_addresses_stay_out_of_answers_and_logs,
    |db: TestDb| async move {
        logs::capture();
        let fake = backend().await;
        let app = serve(&db, &fake, |c| {
            c.models.get_mut(MODEL).map_or((), |m| m.max_attempts = 1)
        })
        .await;
        let (_, key) = funded(&app, "openai-secrets@example.com").await;
        let secret = backend_key();
        fake.push(Fault::BadGatewayHtml);
        let g = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(g["status"], "failed", "{g}");
        let shown = g.to_string();
        let port = fake.addr().port().to_string();
        assert!(
            !shown.contains(&port) && !shown.contains("127.0.0.1"),
            "{shown}"
        );
        assert!(!shown.contains(&secret), "the key is not in the answer");
        let models = app
            .get("/v1/models", &key)
            .await
            .expect(200)
            .body
            .to_string();
        assert!(
            !models.contains(&port) && !models.contains(&secret),
            "{models}"
        );
        // The log has the detail for the operator, never the key.
        let logged = logs::lines_with(&[g["id"].as_str().unwrap_or_default()]);
        assert!(!logged.is_empty(), "the failure was logged");
        assert!(logged.iter().all(|l| !l.contains(&secret)), "{logged:?}");
        app.stop().await;
    }
);

/// Width and height of an encoded image.
fn image_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let reader = decoder.read_info().unwrap_or_else(|e| panic!("PNG: {e}"));
    (reader.info().width, reader.info().height)
}

both_backends!(
    openai_a_backend_slower_than_the_timeout_ends_engine_timeout,
    |db: TestDb| async move {
        let fake = backend().await;
        let app = serve(&db, &fake, |c| {
            if let Some(m) = c.models.get_mut(MODEL) {
                m.timeout_seconds = 1;
                m.max_attempts = 1;
            }
        })
        .await;
        let (_, key) = funded(&app, "openai-timeout@example.com").await;
        let before = balance(&app, &key).await;
        fake.push(Fault::Slow(Duration::from_secs(10)));
        let g = run(
            &app,
            &key,
            json!({"model": MODEL, "prompt": "x", "width": 64, "height": 64}),
        )
        .await;
        assert_eq!(
            (g["status"].as_str(), g["error"]["code"].as_str()),
            (Some("failed"), Some("engine_timeout")),
            "{g}"
        );
        assert!(
            fake.wait_until(Duration::from_secs(5), 1, FakeOpenAi::aborted)
                .await,
            "the backend request was dropped"
        );
        assert_eq!(balance(&app, &key).await, before, "nothing held or charged");
        app.stop().await;
    }
);
