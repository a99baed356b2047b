//! The `automatic1111` engine through its public API, against the fake AUTOMATIC1111/Forge
//! server (`easel_test_utils::fakes::automatic1111`), and the happy paths also against a
//! real server when `EASEL_TEST_A1111_URL` (and optionally `EASEL_TEST_A1111_CHECKPOINT`)
//! is set.

use std::time::{Duration, Instant};

use easel_engines::automatic1111::Automatic1111;
use easel_engines::check::{self, Limits};
use easel_engines::registry::{self, BuildContext, ModelRef};
use easel_engines::{
    Control, Engine, EngineError, Generated, GenerationRequest, InputImage, ModelKind,
};
use easel_test_utils::fakes::automatic1111::{self as fake, FakeA1111, Fault, Flavour, Options};
use easel_test_utils::fakes::images::png;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const MODEL: ModelRef<'static> = ModelRef {
    id: "sd15",
    kind: ModelKind::Image,
};
/// The engine's output cap in these tests: small, so a "huge" image is cheap to make.
const MAX_OUTPUT: usize = 2 * 1024 * 1024;
const PASSWORD: &str = "correct-horse-battery-staple-9";
const OUR_TASK: &str = "task(easel-gen_a1111test-a1)";

fn request(n: u32, size: u32) -> GenerationRequest {
    GenerationRequest {
        id: "gen_a1111test".to_owned(),
        model: "sd15".to_owned(),
        kind: ModelKind::Image,
        prompt: "a lighthouse at dusk".to_owned(),
        negative_prompt: Some("blurry".to_owned()),
        width: size,
        height: size,
        n,
        seed: 1000,
        duration_seconds: None,
        fps: None,
        input_image: None,
        attempt: 1,
    }
}

/// Builds the engine for `url` with `settings` added; `A1111_TEST_PASSWORD` resolves to
/// [`PASSWORD`].
fn build_engine(url: &str, settings: Value) -> Result<Automatic1111, String> {
    let mut all = json!({ "base_url": url });
    if let (Some(all), Value::Object(more)) = (all.as_object_mut(), settings) {
        all.extend(more);
    }
    let ctx = BuildContext {
        max_output_bytes: MAX_OUTPUT,
        ..BuildContext::default()
    };
    Automatic1111::with_env(MODEL, &all, &ctx, |name| {
        (name == "A1111_TEST_PASSWORD").then(|| PASSWORD.to_owned())
    })
}

async fn start(options: Options) -> FakeA1111 {
    fake::start(options).await.1
}

async fn fake_and_engine(options: Options, settings: Value) -> (FakeA1111, Automatic1111) {
    let fake = start(options).await;
    let engine = build_engine(&fake.url(), settings).expect("valid settings");
    (fake, engine)
}

async fn generate(
    engine: &Automatic1111,
    req: &GenerationRequest,
) -> Result<Generated, EngineError> {
    engine.generate(req, &Control::default()).await
}

/// The real server of `EASEL_TEST_A1111_URL`, or a printed notice that there is none.
fn real_server(test: &str) -> Option<Automatic1111> {
    let Ok(url) = std::env::var("EASEL_TEST_A1111_URL") else {
        eprintln!("{test}: EASEL_TEST_A1111_URL is not set; running against the fake only");
        return None;
    };
    let mut settings = json!({ "steps": 4 });
    if let Ok(checkpoint) = std::env::var("EASEL_TEST_A1111_CHECKPOINT") {
        settings["checkpoint"] = json!(checkpoint);
    }
    Some(build_engine(&url, settings).expect("EASEL_TEST_A1111_URL is a usable base URL"))
}

/// Runs the server's own output checks, as the job runner does after `generate`.
fn inspected(req: &GenerationRequest, generated: Generated) -> Vec<easel_engines::Artifact> {
    check::inspect_all(req, generated.outputs, &Limits::default()).expect("outputs pass the checks")
}

async fn text_to_image_on(engine: &Automatic1111, size: u32) {
    let req = request(1, size);
    let control = Control::default();
    let generated = engine
        .generate(&req, &control)
        .await
        .expect("generation succeeds");
    let artifacts = inspected(&req, generated);
    assert_eq!(artifacts.len(), 1);
    assert_eq!((artifacts[0].width, artifacts[0].height), (size, size));
    assert_eq!(artifacts[0].seed, Some(req.seed));
    assert_eq!(control.progress.get(), 1.0);
}

#[tokio::test]
async fn text_to_image_sends_what_easel_chose_and_returns_the_image() {
    let settings = json!({
        "checkpoint": "v1-5-pruned-emaonly.safetensors", "sampler": "Euler a",
        "scheduler": "Karras", "steps": 3, "cfg_scale": 6.5,
        "extra": {"eta": 0.5, "override_settings": {"CLIP_stop_at_last_layers": 2}},
    });
    let (fake, engine) = fake_and_engine(Options::default(), settings).await;
    text_to_image_on(&engine, 64).await;
    let received = fake.received();
    assert_eq!(received.len(), 1);
    let (route, body) = (received[0].route, &received[0].body);
    assert_eq!(route, "txt2img");
    let expected = json!({
        "prompt": "a lighthouse at dusk", "negative_prompt": "blurry", "seed": 1000,
        "width": 64, "height": 64, "batch_size": 1, "n_iter": 1, "send_images": true,
        "save_images": false, "force_task_id": OUR_TASK, "sampler_name": "Euler a",
        "scheduler": "Karras", "steps": 3, "cfg_scale": 6.5, "eta": 0.5,
        "override_settings": {"CLIP_stop_at_last_layers": 2,
                              "sd_model_checkpoint": "v1-5-pruned-emaonly.safetensors"},
        "override_settings_restore_afterwards": true,
    });
    assert_eq!(body, &expected);
    assert_eq!(fake.started(), vec![OUR_TASK.to_owned()]);
    if let Some(real) = real_server("text_to_image") {
        text_to_image_on(&real, 256).await;
    }
}

async fn image_to_image_on(engine: &Automatic1111, size: u32) -> Vec<u8> {
    let input = png(size, size, 77);
    let req = GenerationRequest {
        input_image: Some(InputImage {
            bytes: input.clone().into(),
            content_type: "image/png".to_owned(),
        }),
        ..request(1, size)
    };
    let generated = generate(engine, &req)
        .await
        .expect("image-to-image succeeds");
    assert_eq!(inspected(&req, generated).len(), 1);
    input
}

#[tokio::test]
async fn image_to_image_sends_the_input_image() {
    let (fake, engine) = fake_and_engine(Options::default(), json!({})).await;
    let input = image_to_image_on(&engine, 64).await;
    let received = fake.received();
    assert_eq!(received[0].route, "img2img");
    assert_eq!(received[0].init_images, vec![input]);
    assert_eq!(received[0].body["denoising_strength"], json!(0.75));
    let (fake, engine) =
        fake_and_engine(Options::default(), json!({"denoising_strength": 0.4})).await;
    image_to_image_on(&engine, 64).await;
    assert_eq!(fake.received()[0].body["denoising_strength"], json!(0.4));
    if let Some(real) = real_server("image_to_image") {
        image_to_image_on(&real, 256).await;
    }
}

async fn batch_on(engine: &Automatic1111, n: u32, size: u32) {
    let req = request(n, size);
    let artifacts = inspected(&req, generate(engine, &req).await.expect("a batch"));
    assert_eq!(artifacts.len(), n as usize);
    let seeds: Vec<Option<u64>> = artifacts.iter().map(|a| a.seed).collect();
    let expected: Vec<Option<u64>> = (0..u64::from(n)).map(|i| Some(req.seed + i)).collect();
    assert_eq!(seeds, expected);
    assert_ne!(artifacts[0].bytes, artifacts[1].bytes);
}

#[tokio::test]
async fn a_batch_skips_the_grid_and_gives_each_image_its_seed() {
    let options = Options {
        grid: true,
        ..Options::default()
    };
    let (fake, engine) = fake_and_engine(options, json!({})).await;
    // The grid is 3 images wide: taking it would fail the size check.
    batch_on(&engine, 3, 64).await;
    assert_eq!(fake.received()[0].body["batch_size"], json!(3));
    assert_eq!(fake.received()[0].body["n_iter"], json!(1));
    if let Some(real) = real_server("batch") {
        batch_on(&real, 2, 256).await;
    }
}

/// A fake whose jobs take `steps` × 50 ms.
fn slow(steps: u32) -> Options {
    Options {
        steps,
        step_delay: Duration::from_millis(50),
        ..Options::default()
    }
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn progress_follows_our_task_and_not_another_clients() {
    let fake = start(slow(60)).await;
    let engine = build_engine(&fake.url(), json!({})).expect("engine");
    let theirs = fake.run_foreign_job("task(webui-user)", 40);
    wait_for("their job", Duration::from_secs(2), || {
        fake.running().is_some()
    })
    .await;
    let control = Control::default();
    let req = request(1, 64);
    let run = engine.generate(&req, &control);
    tokio::pin!(run);
    let watch = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let while_theirs = control.progress.get();
        wait_for("our job", Duration::from_secs(3), || {
            fake.running().as_deref() == Some(OUR_TASK)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        (while_theirs, control.progress.get())
    };
    let (while_theirs, while_ours) = tokio::select! {
        seen = watch => seen,
        _ = &mut run => panic!("the generation ended before its progress was seen"),
    };
    run.await.expect("our generation succeeds");
    assert_eq!(theirs.await.expect("their job"), Some(40));
    assert_eq!(
        while_theirs, 0.0,
        "another client's progress was taken as ours"
    );
    assert!(while_ours > 0.0 && while_ours < 1.0, "{while_ours}");
    assert_eq!(control.progress.get(), 1.0);
}

#[tokio::test]
async fn cancel_interrupts_our_running_task_at_once() {
    let (fake, engine) = fake_and_engine(slow(200), json!({})).await;
    let cancel = CancellationToken::new();
    let control = Control::new(cancel.clone());
    let req = request(1, 64);
    let canceled_at = async {
        wait_for("our job", Duration::from_secs(3), || {
            fake.running().is_some()
        })
        .await;
        cancel.cancel();
        Instant::now()
    };
    let (result, canceled_at) = tokio::join!(engine.generate(&req, &control), canceled_at);
    assert_eq!(result, Err(EngineError::Canceled));
    assert!(
        canceled_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        canceled_at.elapsed()
    );
    assert_eq!(fake.interrupts(), vec![Some(OUR_TASK.to_owned())]);
    wait_for("the job to stop", Duration::from_secs(2), || {
        fake.running().is_none()
    })
    .await;
}

#[tokio::test]
async fn cancel_never_interrupts_another_clients_job_and_stops_ours_when_it_starts() {
    let fake = start(slow(40)).await;
    let engine = build_engine(&fake.url(), json!({})).expect("engine");
    let theirs = fake.run_foreign_job("task(webui-user)", 40);
    wait_for("their job", Duration::from_secs(2), || {
        fake.running().is_some()
    })
    .await;
    let cancel = CancellationToken::new();
    let control = Control::new(cancel.clone());
    let req = request(1, 64);
    let cancel_when_queued = async {
        wait_for("our request", Duration::from_secs(2), || {
            !fake.received().is_empty()
        })
        .await;
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(engine.generate(&req, &control), cancel_when_queued);
    assert_eq!(result, Err(EngineError::Canceled));
    assert_eq!(fake.interrupts(), Vec::<Option<String>>::new());
    assert_eq!(
        theirs.await.expect("their job"),
        Some(40),
        "their job was cut short"
    );
    // Ours still starts (the server never forgets a queued request) and is stopped then.
    wait_for("our task's interrupt", Duration::from_secs(5), || {
        !fake.interrupts().is_empty()
    })
    .await;
    assert_eq!(fake.interrupts(), vec![Some(OUR_TASK.to_owned())]);
    assert_eq!(
        fake.started(),
        vec!["task(webui-user)".to_owned(), OUR_TASK.to_owned()]
    );
}

#[tokio::test]
async fn a_dropped_generation_still_stops_its_task() {
    let (fake, engine) = fake_and_engine(slow(200), json!({})).await;
    let req = request(1, 64);
    let outcome = tokio::time::timeout(Duration::from_millis(400), generate(&engine, &req)).await;
    assert!(outcome.is_err(), "the job should outlast the timeout");
    wait_for("the interrupt", Duration::from_secs(3), || {
        !fake.interrupts().is_empty()
    })
    .await;
    assert_eq!(fake.interrupts(), vec![Some(OUR_TASK.to_owned())]);
    // Dropped before the server started it: it is watched for and stopped once it starts.
    let (fake, engine) = fake_and_engine(slow(200), json!({})).await;
    fake.push_fault(Fault::Slow(Duration::from_millis(1500)));
    let outcome = tokio::time::timeout(Duration::from_millis(400), generate(&engine, &req)).await;
    assert!(outcome.is_err(), "the answer should outlast the timeout");
    assert_eq!(fake.started(), Vec::<String>::new());
    wait_for("the late interrupt", Duration::from_secs(5), || {
        !fake.interrupts().is_empty()
    })
    .await;
    assert_eq!(fake.interrupts(), vec![Some(OUR_TASK.to_owned())]);
}

#[tokio::test]
async fn unavailable_is_transient_with_retry_after_then_succeeds() {
    let (fake, engine) = fake_and_engine(Options::default(), json!({})).await;
    for _ in 0..2 {
        fake.push_fault(Fault::Unavailable {
            retry_after_seconds: 7,
        });
    }
    for attempt in 1..=2 {
        let req = GenerationRequest {
            attempt,
            ..request(1, 64)
        };
        match generate(&engine, &req).await {
            Err(EngineError::Transient { retry_after, .. }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
            }
            other => panic!("attempt {attempt}: expected Transient, got {other:?}"),
        }
    }
    let req = GenerationRequest {
        attempt: 3,
        ..request(1, 64)
    };
    let generated = generate(&engine, &req)
        .await
        .expect("the third attempt succeeds");
    assert_eq!(inspected(&req, generated).len(), 1);
    assert_eq!(
        fake.received()[2].body["force_task_id"],
        json!("task(easel-gen_a1111test-a3)")
    );
}

/// The error of one generation of `req` against a fresh fake.
async fn failure(options: Options, settings: Value, fault: Option<Fault>) -> EngineError {
    let (fake, engine) = fake_and_engine(options, settings).await;
    if let Some(fault) = fault {
        fake.push_fault(fault);
    }
    generate(&engine, &request(1, 64))
        .await
        .expect_err("the generation fails")
}

fn flavour(flavour: Flavour) -> Options {
    Options {
        flavour,
        ..Options::default()
    }
}

#[tokio::test]
async fn backend_errors_are_classified_in_both_flavours() {
    for f in [Flavour::Automatic1111, Flavour::Forge] {
        let sampler = failure(flavour(f), json!({"sampler": "Nope"}), None).await;
        assert!(
            matches!(sampler, EngineError::Misconfigured { .. }),
            "{f:?}: {sampler:?}"
        );
        let oom = failure(flavour(f), json!({}), Some(Fault::OutOfMemory)).await;
        assert!(
            matches!(oom, EngineError::Transient { .. }),
            "{f:?}: {oom:?}"
        );
        let invalid = failure(flavour(f), json!({"extra": {"subseed": "abc"}}), None).await;
        match invalid {
            EngineError::Permanent { reason, .. } => {
                assert!(reason.contains("subseed"), "{reason}")
            }
            other => panic!("{f:?}: expected Permanent, got {other:?}"),
        }
    }
    let model = failure(
        flavour(Flavour::Automatic1111),
        json!({}),
        Some(Fault::ModelNotFound),
    )
    .await;
    assert!(
        matches!(model, EngineError::Misconfigured { .. }),
        "{model:?}"
    );
    // Forge answers an unhandled exception with a bare 500: it cannot be told from a crash.
    let model = failure(
        flavour(Flavour::Forge),
        json!({}),
        Some(Fault::ModelNotFound),
    )
    .await;
    assert!(matches!(model, EngineError::Transient { .. }), "{model:?}");
}

#[tokio::test]
async fn a_checkpoint_the_server_lacks_is_misconfigured_not_silently_replaced() {
    let settings = json!({"checkpoint": "dreamshaper_8.safetensors"});
    let (fake, engine) = fake_and_engine(Options::default(), settings).await;
    let err = generate(&engine, &request(1, 64))
        .await
        .expect_err("a fallback is refused");
    assert!(matches!(err, EngineError::Misconfigured { .. }), "{err:?}");
    assert!(
        err.detail().contains("v1-5-pruned-emaonly"),
        "{}",
        err.detail()
    );
    assert_eq!(fake.received().len(), 1);
    // The same setting naming a checkpoint the server has runs.
    let settings = json!({"checkpoint": "SDXL/sd_xl_base_1.0.safetensors [31e35c80fc]"});
    let (_fake, engine) = fake_and_engine(Options::default(), settings).await;
    generate(&engine, &request(1, 64))
        .await
        .expect("the configured checkpoint ran");
}

#[tokio::test]
async fn a_server_without_the_api_is_misconfigured() {
    let options = Options {
        api: false,
        ..Options::default()
    };
    let err = failure(options, json!({}), None).await;
    assert!(matches!(err, EngineError::Misconfigured { .. }), "{err:?}");
    assert!(err.detail().contains("--api"), "{}", err.detail());
}

fn with_auth(f: Flavour) -> Options {
    Options {
        flavour: f,
        auth: Some(("easel".to_owned(), PASSWORD.to_owned())),
        ..Options::default()
    }
}

#[tokio::test]
async fn basic_auth_is_sent_and_a_refusal_is_misconfigured() {
    let credentials = json!({"username": "easel", "password_env": "A1111_TEST_PASSWORD"});
    let (fake, engine) = fake_and_engine(with_auth(Flavour::Automatic1111), credentials).await;
    generate(&engine, &request(1, 64))
        .await
        .expect("the right password is accepted");
    let sent = fake.received()[0]
        .authorization
        .clone()
        .expect("an Authorization header");
    assert!(sent.starts_with("Basic "), "{sent}");
    for f in [Flavour::Automatic1111, Flavour::Forge] {
        let wrong = Options {
            auth: Some(("easel".to_owned(), "another-password".to_owned())),
            ..flavour(f)
        };
        let credentials = json!({"username": "easel", "password_env": "A1111_TEST_PASSWORD"});
        let err = failure(wrong, credentials, None).await;
        assert!(
            matches!(err, EngineError::Misconfigured { .. }),
            "{f:?}: {err:?}"
        );
        let none = failure(with_auth(f), json!({}), None).await;
        assert!(
            matches!(none, EngineError::Misconfigured { .. }),
            "{f:?}: {none:?}"
        );
    }
}

#[tokio::test]
async fn nasty_answers_end_in_their_class() {
    let transient = [Fault::Html, Fault::TruncatedJson];
    for fault in transient {
        let err = failure(Options::default(), json!({}), Some(fault.clone())).await;
        assert!(
            matches!(err, EngineError::Transient { .. }),
            "{fault:?}: {err:?}"
        );
    }
    let bad_output = [
        Fault::NoImages,
        Fault::BadInfo,
        Fault::HugeImage {
            bytes: 4 * MAX_OUTPUT,
        },
    ];
    for fault in bad_output {
        let err = failure(Options::default(), json!({}), Some(fault.clone())).await;
        assert!(
            matches!(err, EngineError::BadOutput { .. }),
            "{fault:?}: {err:?}"
        );
    }
    // Within the answer's cap but not a picture of the requested size: the engine hands
    // them over, the server's checks refuse them.
    for fault in [
        Fault::WrongSize,
        Fault::HugeImage {
            bytes: MAX_OUTPUT + 1,
        },
    ] {
        let (fake, engine) = fake_and_engine(Options::default(), json!({})).await;
        fake.push_fault(fault.clone());
        let req = request(1, 64);
        let generated = generate(&engine, &req)
            .await
            .expect("the engine passes it on");
        let limits = Limits {
            max_bytes: MAX_OUTPUT,
            ..Limits::default()
        };
        let err = check::inspect_all(&req, generated.outputs, &limits).expect_err("refused");
        assert!(
            matches!(err, EngineError::BadOutput { .. }),
            "{fault:?}: {err:?}"
        );
    }
    let closed = closed_port_url().await;
    let err = generate(
        &build_engine(&closed, json!({})).expect("engine"),
        &request(1, 64),
    )
    .await
    .expect_err("nobody listens");
    assert!(matches!(err, EngineError::Transient { .. }), "{err:?}");
}

/// A loopback URL where nothing listens.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn probe_reports_the_checkpoint_the_sampler_and_a_server_that_is_down() {
    let good = json!({"checkpoint": "v1-5-pruned-emaonly.safetensors", "sampler": "Euler a"});
    let (_fake, engine) = fake_and_engine(Options::default(), good).await;
    let report = engine.probe().await.expect("up");
    assert_eq!(report.problems, Vec::<String>::new());
    assert!(
        report
            .facts
            .iter()
            .any(|f| f.contains("checkpoint present")),
        "{:?}",
        report.facts
    );
    assert!(
        report.facts.iter().any(|f| f.contains("sampler present")),
        "{:?}",
        report.facts
    );
    let bad = json!({"checkpoint": "nope.safetensors", "sampler": "Nope"});
    let (_fake, engine) = fake_and_engine(Options::default(), bad).await;
    let report = engine.probe().await.expect("up, set up wrong");
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    let down = build_engine(&closed_port_url().await, json!({})).expect("engine");
    assert!(matches!(
        down.probe().await,
        Err(EngineError::Transient { .. })
    ));
    // Forge answers /progress without credentials: a wrong password is told from "down".
    let wrong = json!({"username": "other", "password_env": "A1111_TEST_PASSWORD"});
    let (_fake, engine) = fake_and_engine(with_auth(Flavour::Forge), wrong).await;
    match engine.probe().await {
        Err(EngineError::Misconfigured { detail }) => {
            assert!(detail.contains("server is up"), "{detail}")
        }
        other => panic!("expected Misconfigured, got {other:?}"),
    }
}

#[tokio::test]
async fn reasons_details_and_debug_never_show_the_address_or_the_password() {
    let credentials = json!({"username": "easel", "password_env": "A1111_TEST_PASSWORD",
                             "checkpoint": "v1-5-pruned-emaonly.safetensors"});
    let mut errors = Vec::new();
    let mut leaks = vec![PASSWORD.to_owned()];
    let faults = [
        None,
        Some(Fault::Html),
        Some(Fault::TruncatedJson),
        Some(Fault::NoImages),
        Some(Fault::BadInfo),
        Some(Fault::OutOfMemory),
        Some(Fault::ModelNotFound),
        Some(Fault::HugeImage {
            bytes: 4 * MAX_OUTPUT,
        }),
        Some(Fault::Unavailable {
            retry_after_seconds: 1,
        }),
    ];
    for f in [Flavour::Automatic1111, Flavour::Forge] {
        for fault in faults.clone() {
            let settings = if fault.is_none() {
                json!({"sampler": "Nope", "extra": {"eta": "x"}})
            } else {
                credentials.clone()
            };
            let (fake, engine) = fake_and_engine(with_auth(f), settings).await;
            leaks.push(fake.url());
            leaks.push(fake.url().rsplit(':').next().unwrap_or_default().to_owned());
            let debug = format!("{engine:?}");
            assert!(!leaks.iter().any(|l| debug.contains(l.as_str())), "{debug}");
            if let Some(fault) = fault {
                fake.push_fault(fault);
            }
            errors.push(generate(&engine, &request(1, 64)).await.expect_err("fails"));
        }
    }
    for err in &errors {
        let reason = match err {
            EngineError::Permanent { reason, .. } | EngineError::BadOutput { reason, .. } => {
                reason.as_str()
            }
            _ => "",
        };
        for leak in &leaks {
            assert!(!reason.contains(leak.as_str()), "{leak} in {reason}");
        }
        assert!(!err.detail().contains(PASSWORD), "{}", err.detail());
        assert!(!format!("{err:?}").contains(PASSWORD));
    }
}

#[test]
fn building_refuses_bad_settings_and_video_models() {
    let ctx = BuildContext::default();
    let build =
        |settings: Value| registry::build("automatic1111", MODEL, &settings, &ctx).map(|_| ());
    build(json!({"base_url": "http://gpu:7860"})).expect("minimal settings");
    let missing_var = build(json!({"base_url": "http://gpu:7860", "username": "u",
                                   "password_env": "EASEL_TEST_A1111_UNSET_PASSWORD_VAR"}));
    assert!(
        missing_var
            .expect_err("unset")
            .contains("EASEL_TEST_A1111_UNSET_PASSWORD_VAR")
    );
    let overriding = build(json!({"base_url": "http://gpu:7860", "extra": {"seed": 1}}));
    assert!(overriding.expect_err("refused").contains("extra.seed"));
    let unknown = build(json!({"base_url": "http://gpu:7860", "sampler_name": "Euler"}));
    assert!(unknown.expect_err("refused").contains("sampler_name"));
    let video = registry::build(
        "automatic1111",
        ModelRef {
            id: "v",
            kind: ModelKind::Video,
        },
        &json!({"base_url": "http://gpu:7860"}),
        &ctx,
    );
    assert!(
        video
            .map(|_| ())
            .expect_err("images only")
            .contains("images only")
    );
}
