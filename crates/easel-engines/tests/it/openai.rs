//! The `openai` engine through the public API (`registry::build`, `Engine`), against the
//! fake OpenAI images API of `easel-test-utils`, and against a real one when
//! `EASEL_TEST_OPENAI_URL` (+ `EASEL_TEST_OPENAI_KEY`, optional `EASEL_TEST_OPENAI_MODEL`)
//! is set.
//!
//! The key is read from an environment variable named in the settings. Tests cannot set
//! one (edition 2024 makes `set_var` unsafe and the workspace forbids unsafe code), so the
//! fake is given the value of a variable every process has, `PATH`, as its key.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use easel_engines::check::{self, Limits};
use easel_engines::openai::{OpenAi, OpenAiSettings};
use easel_engines::registry::{self, BuildContext, Fetch, ModelRef};
use easel_engines::{
    Artifact, Control, Engine, EngineError, Generated, GenerationRequest, InputImage, ModelKind,
    RefusalStage,
};
use easel_test_utils::fakes::images;
use easel_test_utils::fakes::openai::{self as fake, FakeOpenAi, FakeOpenAiConfig, Fault};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::image_request;

/// The variable whose value stands in for an API key (see the module comment).
const KEY_VAR: &str = "PATH";

fn key() -> String {
    std::env::var(KEY_VAR).expect("PATH is set")
}

/// A fake that requires the key.
async fn fake_with_key() -> FakeOpenAi {
    fake::start(FakeOpenAiConfig::with_key(&key()))
        .await
        .expect("fake starts")
        .1
}

/// Settings for `fake` with the key and `extra` merged in.
fn settings(fake: &FakeOpenAi, extra: Value) -> Value {
    let mut s =
        json!({"base_url": fake.base_url(), "api_key_env": KEY_VAR, "model": "gpt-image-1"});
    if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
        s.extend(extra.clone());
    }
    s
}

fn context(fetch: Option<Arc<dyn Fetch>>) -> BuildContext {
    BuildContext {
        fetch,
        max_output_bytes: 4 * 1024 * 1024,
        ..BuildContext::default()
    }
}

fn build_with(settings: &Value, ctx: &BuildContext) -> Result<Arc<dyn Engine>, String> {
    let model = ModelRef {
        id: "openai-image",
        kind: ModelKind::Image,
    };
    registry::build("openai", model, settings, ctx)
}

fn build(settings: &Value) -> Arc<dyn Engine> {
    build_with(settings, &context(None)).expect("engine builds")
}

fn request(prompt: &str) -> GenerationRequest {
    GenerationRequest {
        id: "gen_01openaitest".to_owned(),
        model: "openai-image".to_owned(),
        negative_prompt: Some("blurry".to_owned()),
        ..image_request(prompt)
    }
}

fn with_input(mut req: GenerationRequest, content_type: &str) -> GenerationRequest {
    req.input_image = Some(InputImage {
        bytes: images::png(req.width, req.height, 99).into(),
        content_type: content_type.to_owned(),
    });
    req
}

async fn generate(
    engine: &Arc<dyn Engine>,
    req: &GenerationRequest,
) -> Result<Generated, EngineError> {
    engine.generate(req, &Control::default()).await
}

/// Runs `req` and puts the outputs through the server's checks, as the server does.
async fn generate_checked(
    engine: &Arc<dyn Engine>,
    req: &GenerationRequest,
) -> Result<(Vec<Artifact>, Option<Value>), EngineError> {
    let generated = generate(engine, req).await?;
    let artifacts = check::inspect_all(req, generated.outputs, &Limits::default())?;
    Ok((artifacts, generated.usage))
}

/// Downloads without a guard; the server's own `Fetch` adds the SSRF checks.
#[derive(Default)]
struct PlainFetch {
    calls: AtomicUsize,
}

#[async_trait]
impl Fetch for PlainFetch {
    async fn get(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, EngineError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let response = reqwest::get(url)
            .await
            .map_err(|e| EngineError::transient(e.to_string()))?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| EngineError::transient(e.to_string()))?;
        if bytes.len() > max_bytes {
            return Err(EngineError::bad_output("too big"));
        }
        Ok(bytes.to_vec())
    }
}

/// A real OpenAI-compatible API to run the happy paths against too, when configured.
fn real_backend(test: &str) -> Option<(Arc<dyn Engine>, GenerationRequest)> {
    let Ok(url) = std::env::var("EASEL_TEST_OPENAI_URL") else {
        eprintln!(
            "openai::{test}: EASEL_TEST_OPENAI_URL is not set; running against the fake only"
        );
        return None;
    };
    let model = std::env::var("EASEL_TEST_OPENAI_MODEL").unwrap_or_else(|_| "gpt-image-1".into());
    let mut settings = json!({"base_url": url, "model": model, "quality": "low"});
    // A local gateway may need no key; OpenAI itself answers 401 without one.
    if std::env::var_os("EASEL_TEST_OPENAI_KEY").is_some() {
        settings["api_key_env"] = json!("EASEL_TEST_OPENAI_KEY");
    }
    let ctx = context(Some(Arc::new(PlainFetch::default())));
    let engine = build_with(&settings, &ctx).expect("the real backend's engine builds");
    let req = GenerationRequest {
        width: 1024,
        height: 1024,
        ..request("a small red fox in the snow, watercolour")
    };
    Some((engine, req))
}

#[tokio::test]
async fn text_to_image_posts_openai_json_and_returns_checked_images() {
    let fake = fake_with_key().await;
    let engine = build(&settings(
        &fake,
        json!({"quality": "low", "output_format": "png", "moderation": "low"}),
    ));
    let req = request("a lighthouse at dusk");
    let (artifacts, usage) = generate_checked(&engine, &req).await.expect("generates");
    assert_eq!(artifacts.len(), 1);
    assert_eq!((artifacts[0].width, artifacts[0].height), (64, 64));
    assert_eq!(artifacts[0].seed, None, "OpenAI has no seeds");
    let usage = usage.expect("GPT image answers carry usage");
    assert_eq!(usage["total_tokens"], 322);

    let got = fake.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].endpoint, "generations");
    assert_eq!(
        got[0].authorization.as_deref(),
        Some(format!("Bearer {}", key()).as_str())
    );
    assert_eq!(
        got[0].client_request_id.as_deref(),
        Some("gen_01openaitest")
    );
    assert_eq!(
        got[0].json,
        Some(
            json!({"model": "gpt-image-1", "prompt": "a lighthouse at dusk", "n": 1, "size": "64x64",
                    "quality": "low", "output_format": "png", "moderation": "low"})
        ),
        "no negative prompt, no seed, nothing unset"
    );

    if let Some((engine, req)) = real_backend("text_to_image") {
        let (artifacts, _) = generate_checked(&engine, &req)
            .await
            .expect("the real backend generates");
        assert_eq!(artifacts.len(), 1);
    }
}

#[tokio::test]
async fn image_to_image_uploads_the_input_as_multipart() {
    let fake = fake_with_key().await;
    // `moderation` is a generations-only parameter: the fake, like OpenAI, refuses it on edits.
    let engine = build(&settings(
        &fake,
        json!({"quality": "medium", "moderation": "low"}),
    ));
    for (content_type, filename) in [
        ("image/png", "image.png"),
        ("image/jpeg", "image.jpg"),
        ("image/webp", "image.webp"),
    ] {
        let req = with_input(request("make it autumn"), content_type);
        let (artifacts, _) = generate_checked(&engine, &req).await.expect("edits");
        assert_eq!(artifacts.len(), 1);
        let got = fake.received().pop().expect("a request");
        assert_eq!(got.endpoint, "edits");
        let image = got.image.expect("the fake received the input image");
        let sent = req.input_image.as_ref().expect("input");
        assert_eq!(image.bytes, sent.bytes.to_vec());
        assert_eq!(image.filename.as_deref(), Some(filename));
        assert_eq!(image.content_type.as_deref(), Some(content_type));
        let fields: Vec<(&str, &str)> = got
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("model", "gpt-image-1"),
                ("n", "1"),
                ("prompt", "make it autumn"),
                ("quality", "medium"),
                ("size", "64x64")
            ]
        );
        assert_eq!(
            got.authorization.as_deref(),
            Some(format!("Bearer {}", key()).as_str())
        );
    }

    if let Some((engine, req)) = real_backend("image_to_image") {
        let req = with_input(req, "image/png");
        let (artifacts, _) = generate_checked(&engine, &req)
            .await
            .expect("the real backend edits");
        assert_eq!(artifacts.len(), 1);
    }
}

#[tokio::test]
async fn n_images_come_back_distinct_and_without_seeds() {
    let fake = fake_with_key().await;
    let engine = build(&settings(&fake, json!({})));
    let req = GenerationRequest {
        n: 3,
        ..request("three cats")
    };
    let (artifacts, _) = generate_checked(&engine, &req).await.expect("generates");
    assert_eq!(artifacts.len(), 3);
    assert!(artifacts.iter().all(|a| a.seed.is_none()));
    assert_ne!(artifacts[0].bytes, artifacts[1].bytes);
    assert_ne!(artifacts[1].bytes, artifacts[2].bytes);
    assert_eq!(
        fake.received()[0].json.as_ref().map(|j| j["n"].clone()),
        Some(json!(3))
    );

    let none = GenerationRequest {
        n: 0,
        ..request("nothing")
    };
    let generated = generate(&engine, &none)
        .await
        .expect("n = 0 is not an error");
    assert!(generated.outputs.is_empty());
    assert_eq!(fake.requests(), 1, "n = 0 never reaches the backend");
}

#[tokio::test]
async fn url_answers_are_downloaded_through_the_servers_fetch() {
    let fake = fake_with_key().await;
    let fetch = Arc::new(PlainFetch::default());
    let ctx = context(Some(fetch.clone()));
    // DALL·E answers with URLs unless told otherwise.
    let engine = build_with(&settings(&fake, json!({"model": "dall-e-2"})), &ctx).expect("builds");
    let req = GenerationRequest {
        n: 2,
        ..request("a kite")
    };
    let (artifacts, usage) = generate_checked(&engine, &req).await.expect("generates");
    assert_eq!(artifacts.len(), 2);
    assert_eq!(fetch.calls.load(Ordering::SeqCst), 2);
    assert_eq!(usage, None, "DALL·E answers carry no usage");

    let explicit = build_with(
        &settings(
            &fake,
            json!({"model": "dall-e-3", "response_format": "url"}),
        ),
        &ctx,
    )
    .expect("builds");
    generate_checked(&explicit, &request("a kite"))
        .await
        .expect("generates");
    assert_eq!(
        fake.received()
            .last()
            .and_then(|r| r.json.clone())
            .map(|j| j["response_format"].clone()),
        Some(json!("url"))
    );

    // A gateway that answers with a URL when this node has no downloader: the operator's to fix.
    let no_fetch = build(&settings(&fake, json!({})));
    fake.push(Fault::UrlAnswer);
    let err = generate(&no_fetch, &request("a kite"))
        .await
        .expect_err("cannot download");
    assert!(matches!(err, EngineError::Misconfigured { .. }), "{err:?}");
    let err = build_with(
        &settings(&fake, json!({"response_format": "url"})),
        &context(None),
    )
    .err()
    .expect("needs fetch");
    assert!(err.contains("response_format"), "{err}");
}

#[tokio::test]
async fn cancel_drops_the_request_and_the_fake_sees_it() {
    let fake = fake_with_key().await;
    let engine = build(&settings(&fake, json!({})));
    fake.push(Fault::Hang);
    let cancel = CancellationToken::new();
    let control = Control::new(cancel.clone());
    let req = request("a slow picture");
    let run = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.generate(&req, &control).await })
    };
    assert!(
        fake.wait_until(Duration::from_secs(5), 1, FakeOpenAi::requests)
            .await,
        "the request arrived"
    );
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(2), run)
        .await
        .expect("stops promptly")
        .expect("joins");
    assert_eq!(result.expect_err("canceled"), EngineError::Canceled);
    assert!(
        fake.wait_until(Duration::from_secs(5), 1, FakeOpenAi::aborted)
            .await,
        "the fake saw the client go away"
    );

    let already = CancellationToken::new();
    already.cancel();
    let err = engine
        .generate(&request("x"), &Control::new(already))
        .await
        .expect_err("canceled");
    assert_eq!(err, EngineError::Canceled);
    assert_eq!(fake.requests(), 1, "a canceled run sends nothing");
}

#[tokio::test]
async fn transient_failures_carry_retry_after() {
    let fake = fake_with_key().await;
    let engine = build(&settings(&fake, json!({})));
    let cases = [
        (
            Fault::Unavailable {
                retry_after_secs: 7,
            },
            Some(Duration::from_secs(7)),
        ),
        (
            Fault::RateLimited {
                retry_after_ms: 1500,
            },
            Some(Duration::from_millis(1500)),
        ),
        (Fault::BadGatewayHtml, None),
        (Fault::Html, None),
        (Fault::TruncatedJson, None),
        (Fault::OkWithError, None),
        (
            Fault::Error {
                status: 400,
                kind: "invalid_request_error".into(),
                code: None,
                param: None,
                message: "try again".into(),
                headers: vec![
                    ("x-should-retry".into(), "true".into()),
                    ("retry-after".into(), "3".into()),
                ],
            },
            Some(Duration::from_secs(3)),
        ),
    ];
    for (fault, want) in cases {
        fake.push(fault.clone());
        match generate(&engine, &request("x")).await {
            Err(EngineError::Transient { retry_after, .. }) => {
                assert_eq!(retry_after, want, "{fault:?}")
            }
            other => panic!("{fault:?}: {other:?}"),
        }
    }
    // Failing twice, then answering: what the job queue's retries rely on.
    fake.push_n(
        2,
        Fault::Unavailable {
            retry_after_secs: 1,
        },
    );
    assert!(generate(&engine, &request("x")).await.is_err());
    assert!(generate(&engine, &request("x")).await.is_err());
    generate_checked(&engine, &request("x"))
        .await
        .expect("third time lucky");
}

#[tokio::test]
async fn permanent_failures_keep_openais_message_without_addresses() {
    let fake = fake_with_key().await;
    let engine = build(&settings(&fake, json!({})));
    let message = format!(
        "Invalid size: see http://{}/docs and {} for details.",
        fake.addr(),
        fake.addr()
    );
    fake.push(Fault::Error {
        status: 400,
        kind: "invalid_request_error".into(),
        code: Some("invalid_value".into()),
        param: Some("size".into()),
        message,
        headers: vec![],
    });
    match generate(&engine, &request("x")).await {
        Err(EngineError::Permanent { reason, .. }) => {
            assert!(reason.contains("Invalid size"), "{reason}");
            assert_no_leak(&reason, &fake);
        }
        other => panic!("{other:?}"),
    }
    // The backend asked not to retry a 500.
    fake.push(Fault::Error {
        status: 500,
        kind: "server_error".into(),
        code: None,
        param: None,
        message: "boom".into(),
        headers: vec![("x-should-retry".into(), "false".into())],
    });
    assert!(matches!(
        generate(&engine, &request("x")).await,
        Err(EngineError::Permanent { .. })
    ));
    // The fake, like OpenAI, refuses sizes it does not make.
    let odd = GenerationRequest {
        width: 5000,
        ..request("x")
    };
    assert!(matches!(
        generate(&engine, &odd).await,
        Err(EngineError::Permanent { .. })
    ));
}

#[tokio::test]
async fn content_refusals_are_refused_with_stage_and_categories() {
    let fake = fake_with_key().await;
    let engine = build(&settings(&fake, json!({})));
    let cases = [
        (
            Fault::Moderation {
                stage: Some("input".into()),
                categories: vec!["sexual".into()],
            },
            RefusalStage::Input,
            vec!["sexual"],
        ),
        (
            Fault::Moderation {
                stage: Some("output".into()),
                categories: vec!["violence".into(), "self-harm".into()],
            },
            RefusalStage::Output,
            vec!["violence", "self-harm"],
        ),
        // No details: categories from the message, and no strike without evidence.
        (
            Fault::Moderation {
                stage: None,
                categories: vec!["sexual".into()],
            },
            RefusalStage::Output,
            vec!["sexual"],
        ),
        (Fault::ContentPolicy, RefusalStage::Input, vec![]),
    ];
    for (fault, want_stage, want_categories) in cases {
        fake.push(fault.clone());
        match generate(&engine, &request("x")).await {
            Err(EngineError::Refused {
                stage, categories, ..
            }) => {
                assert_eq!(stage, want_stage, "{fault:?}");
                assert_eq!(categories, want_categories, "{fault:?}");
            }
            other => panic!("{fault:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn misconfiguration_is_reported_as_such() {
    let fake = fake::start(FakeOpenAiConfig::with_key("sk-the-right-key-0123456789"))
        .await
        .expect("fake")
        .1;
    let wrong_key = build(&settings(&fake, json!({})));
    let no_key = build(&json!({"base_url": fake.base_url(), "model": "gpt-image-1"}));
    for engine in [&wrong_key, &no_key] {
        let err = generate(engine, &request("x")).await.expect_err("401");
        assert!(matches!(err, EngineError::Misconfigured { .. }), "{err:?}");
        assert!(!err.detail().contains(&key()), "the key is not even logged");
    }
    assert!(
        fake.received()[1].authorization.is_none(),
        "no key, no Authorization header"
    );

    let open = fake_with_key().await;
    let unknown_model = build(&settings(&open, json!({"model": "gpt-image-9"})));
    assert!(matches!(
        generate(&unknown_model, &request("x")).await,
        Err(EngineError::Misconfigured { .. })
    ));
    let bad_quality = build(&settings(&open, json!({})));
    open.push(Fault::Error {
        status: 400,
        kind: "invalid_request_error".into(),
        code: Some("invalid_value".into()),
        param: Some("quality".into()),
        message: "Invalid value: 'ultra'.".into(),
        headers: vec![],
    });
    assert!(matches!(
        generate(&bad_quality, &request("x")).await,
        Err(EngineError::Misconfigured { .. })
    ));
    let wrong_path = build(
        &json!({"base_url": format!("http://{}", open.addr()), "api_key_env": KEY_VAR, "model": "gpt-image-1"}),
    );
    assert!(
        matches!(
            generate(&wrong_path, &request("x")).await,
            Err(EngineError::Misconfigured { .. })
        ),
        "a base URL without /v1 answers 404"
    );
}

#[tokio::test]
async fn bad_outputs_fail_the_attempt_and_never_panic() {
    let fake = fake_with_key().await;
    let engine = build(&settings(&fake, json!({})));
    let cases = [
        Fault::NoImages,
        Fault::WrongSize {
            width: 32,
            height: 48,
        },
        Fault::Huge {
            bytes: 5 * 1024 * 1024,
        },
        Fault::NotAnImage,
        Fault::BadBase64,
    ];
    for fault in cases {
        fake.push(fault.clone());
        match generate_checked(&engine, &request("x")).await {
            Err(EngineError::BadOutput { reason, .. }) => assert_no_leak(&reason, &fake),
            other => panic!("{fault:?}: {other:?}"),
        }
    }
    // With n = 2 the answer may be twice as big, so it is read; the one image is still refused.
    fake.push(Fault::Huge {
        bytes: 5 * 1024 * 1024,
    });
    let two = GenerationRequest {
        n: 2,
        ..request("x")
    };
    match generate(&engine, &two).await {
        Err(EngineError::BadOutput { reason, .. }) => {
            assert!(reason.contains("image 0"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    fake.push(Fault::Slow(Duration::from_millis(300)));
    generate_checked(&engine, &request("x"))
        .await
        .expect("a slow answer is still an answer");
}

#[tokio::test]
async fn a_50_mb_image_is_refused_under_the_default_cap() {
    let fake = fake_with_key().await;
    let engine = build_with(&settings(&fake, json!({})), &BuildContext::default()).expect("builds");
    fake.push(Fault::Huge {
        bytes: 51 * 1024 * 1024,
    });
    let err = generate(&engine, &request("x")).await.expect_err("too big");
    assert!(matches!(err, EngineError::BadOutput { .. }), "{err:?}");
}

#[tokio::test]
async fn probe_reports_the_model_and_the_backend_going_down() {
    let fake = fake_with_key().await;
    let report = build(&settings(&fake, json!({})))
        .probe()
        .await
        .expect("up");
    assert!(report.problems.is_empty(), "{report:?}");
    assert!(
        report.facts.iter().any(|f| f.contains("gpt-image-1")),
        "{report:?}"
    );
    assert_eq!(report.version.as_deref(), Some("2020-10-01"));
    assert_eq!(
        fake.received()[0].authorization.as_deref(),
        Some(format!("Bearer {}", key()).as_str())
    );

    let missing = build(&settings(&fake, json!({"model": "my-fine-tune"})))
        .probe()
        .await
        .expect("up");
    assert!(
        missing.problems.iter().any(|p| p.contains("my-fine-tune")),
        "{missing:?}"
    );

    fake.push_models(Fault::InvalidApiKey);
    let engine = build(&settings(&fake, json!({})));
    assert!(matches!(
        engine.probe().await,
        Err(EngineError::Misconfigured { .. })
    ));
    fake.push_models(Fault::Html);
    assert!(matches!(
        engine.probe().await,
        Err(EngineError::Transient { .. })
    ));

    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        matches!(engine.probe().await, Err(EngineError::Transient { .. })),
        "down"
    );
}

#[tokio::test]
async fn settings_are_checked_at_build() {
    let fake = fake_with_key().await;
    let err = |s: Value| build_with(&s, &context(None)).err().expect("refused");
    let missing = err(settings(
        &fake,
        json!({"api_key_env": "EASEL_TEST_OPENAI_SURELY_UNSET_VAR"}),
    ));
    assert!(
        missing.contains("EASEL_TEST_OPENAI_SURELY_UNSET_VAR"),
        "{missing}"
    );
    assert!(err(settings(&fake, json!({"temperature": 1}))).contains("temperature"));
    assert!(err(settings(&fake, json!({"output_format": "gif"}))).contains("gif"));
    assert!(err(settings(&fake, json!({"base_url": "ftp://x"}))).contains("base_url"));
    assert!(
        err(settings(
            &fake,
            json!({"base_url": "https://user:pw@api.example/v1"})
        ))
        .contains("credentials")
    );
    assert!(err(settings(&fake, json!({"model": " "}))).contains("model"));
    assert!(err(json!({"base_url": fake.base_url()})).contains("model"));
    let video = registry::build(
        "openai",
        ModelRef {
            id: "v",
            kind: ModelKind::Video,
        },
        &settings(&fake, json!({})),
        &context(None),
    );
    assert!(video.is_err());
}

#[tokio::test]
async fn neither_reasons_nor_debug_show_the_address_or_the_key() {
    let fake = fake_with_key().await;
    let typed: OpenAiSettings =
        serde_json::from_value(settings(&fake, json!({}))).expect("settings");
    let model = ModelRef {
        id: "openai-image",
        kind: ModelKind::Image,
    };
    let concrete = OpenAi::new(model, typed, &context(None)).expect("builds");
    assert_no_leak(&format!("{concrete:?}"), &fake);
    let engine = build(&settings(&fake, json!({})));
    let faults = [
        Fault::Error {
            status: 400,
            kind: "invalid_request_error".into(),
            code: None,
            param: Some("prompt".into()),
            message: format!("Prompt rejected by {} (key {})", fake.base_url(), key()),
            headers: vec![],
        },
        Fault::Error {
            status: 422,
            kind: "invalid_request_error".into(),
            code: None,
            param: None,
            message: format!("bad request at {}", fake.addr()),
            headers: vec![],
        },
        Fault::NotAnImage,
    ];
    for fault in faults {
        fake.push(fault.clone());
        match generate_checked(&engine, &request("x")).await {
            Err(EngineError::Permanent { reason, .. } | EngineError::BadOutput { reason, .. }) => {
                assert_no_leak(&reason, &fake)
            }
            other => panic!("{fault:?}: {other:?}"),
        }
    }
}

/// Fails when `text` shows the fake's address, its port or the key.
fn assert_no_leak(text: &str, fake: &FakeOpenAi) {
    let port = fake.addr().port().to_string();
    assert!(
        !text.contains(&fake.addr().to_string()),
        "address in {text}"
    );
    // As a number of its own: "4194304 bytes" may contain the port's digits by chance.
    let mut numbers = text.split(|c: char| !c.is_ascii_digit());
    assert!(!numbers.any(|n| n == port), "port in {text}");
    assert!(!text.contains("127.0.0.1"), "host in {text}");
    assert!(!text.contains(&key()), "key in {text}");
}
