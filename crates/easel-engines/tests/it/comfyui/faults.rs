//! Every way a ComfyUI run can go wrong ends in the right `EngineError` class, never a
//! panic, and no public reason names the backend.

use std::time::{Duration, Instant};

use easel_engines::{Control, EngineError, ModelKind};
use easel_test_utils::fakes::comfyui::{Outcome, PromptAnswer, Script};
use tokio_util::sync::CancellationToken;

use super::{addr_of, assert_clean, fake, fake_with, request, run_err, with_image};

/// Runs the example SD1.5 model against a fake scripted by `change`; returns the error.
async fn sd15_fails(change: impl FnOnce(&mut Script)) -> EngineError {
    let (fake, engine) = fake("sd15").await;
    fake.script(change);
    let err = run_err(engine.as_ref(), &request(ModelKind::Image, (32, 32))).await;
    assert_clean(&err, addr_of(&fake));
    err
}

#[tokio::test]
async fn a_503_with_retry_after_is_transient_and_the_next_try_succeeds() {
    let (fake, engine) = fake("sd15").await;
    fake.script(|s| s.fail_prompts = 1);
    let req = request(ModelKind::Image, (32, 32));
    let err = run_err(engine.as_ref(), &req).await;
    let EngineError::Transient { retry_after, .. } = err else {
        panic!("transient expected, got {err:?}");
    };
    assert_eq!(retry_after, Some(Duration::from_secs(3)));
    let again = easel_engines::GenerationRequest { attempt: 2, ..req };
    let generated = engine
        .generate(&again, &Control::default())
        .await
        .expect("second try");
    assert_eq!(generated.outputs.len(), 1);
}

#[tokio::test]
async fn an_unreachable_backend_is_transient() {
    let (fake, engine) = fake("sd15").await;
    let addr = addr_of(&fake);
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = run_err(engine.as_ref(), &request(ModelKind::Image, (32, 32))).await;
    assert!(matches!(err, EngineError::Transient { .. }), "{err:?}");
    assert_clean(&err, addr);
}

#[tokio::test]
async fn a_validation_error_is_permanent_with_comfyuis_message() {
    let (fake, engine) = fake("sd15").await;
    let req = request(ModelKind::Image, (20_000, 32));
    let err = run_err(engine.as_ref(), &req).await;
    let EngineError::Permanent { ref reason, .. } = err else {
        panic!("permanent expected, got {err:?}");
    };
    assert!(reason.contains("bigger than max"), "{reason}");
    assert_clean(&err, addr_of(&fake));
    assert!(fake.pending().is_empty() && fake.running().is_none());
}

#[tokio::test]
async fn the_old_string_error_is_permanent() {
    let err = sd15_fails(|s| s.prompt_answer = PromptAnswer::OldNoPrompt).await;
    assert!(matches!(err, EngineError::Permanent { .. }), "{err:?}");
}

#[tokio::test]
async fn a_node_removed_on_the_server_is_misconfiguration() {
    let err = sd15_fails(|s| s.removed_classes = vec!["KSampler".to_owned()]).await;
    assert!(matches!(err, EngineError::Misconfigured { .. }), "{err:?}");
}

#[tokio::test]
async fn a_missing_checkpoint_is_misconfiguration() {
    let err = sd15_fails(|s| s.models.clear()).await;
    let EngineError::Misconfigured { detail } = &err else {
        panic!("misconfigured expected, got {err:?}");
    };
    assert!(detail.contains("value_not_in_list"), "{detail}");
}

#[tokio::test]
async fn a_proxy_refusing_us_is_misconfiguration() {
    let err = sd15_fails(|s| s.require_authorization = Some("Bearer x".to_owned())).await;
    assert!(matches!(err, EngineError::Misconfigured { .. }), "{err:?}");
}

#[tokio::test]
async fn a_node_exception_is_permanent_with_a_scrubbed_reason() {
    let err = sd15_fails(|s| {
        s.outcome = Outcome::Error {
            exception_type: "RuntimeError".to_owned(),
            exception_message:
                "mat1 and mat2 shapes cannot be multiplied in /home/gpu/ComfyUI/comfy/ops.py"
                    .to_owned(),
        };
    })
    .await;
    let EngineError::Permanent { reason, detail } = &err else {
        panic!("permanent expected, got {err:?}");
    };
    assert!(reason.contains("shapes cannot be multiplied"), "{reason}");
    assert!(!reason.contains("/home"), "{reason}");
    assert!(detail.contains("RuntimeError"), "{detail}");
}

#[tokio::test]
async fn running_out_of_gpu_memory_is_transient() {
    let err = sd15_fails(|s| {
        s.outcome = Outcome::Error {
            exception_type: "torch.OutOfMemoryError".to_owned(),
            exception_message: "Allocation on device".to_owned(),
        };
    })
    .await;
    assert!(matches!(err, EngineError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn an_interrupt_we_did_not_ask_for_is_transient() {
    let err = sd15_fails(|s| s.outcome = Outcome::InterruptedByOther).await;
    assert!(matches!(err, EngineError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn html_or_truncated_json_from_prompt_is_transient() {
    for answer in [PromptAnswer::Html, PromptAnswer::Truncated] {
        let err = sd15_fails(|s| s.prompt_answer = answer).await;
        assert!(
            matches!(err, EngineError::Transient { .. }),
            "{answer:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn bad_outputs_are_bad_output() {
    type Change = fn(&mut Script);
    let cases: [(&str, Change); 4] = [
        ("no images", |s| s.no_outputs = true),
        ("wrong size", |s| s.wrong_size = true),
        ("huge", |s| s.huge_output = Some(3 * 1024 * 1024)),
        ("html from /view", |s| s.view_html = true),
    ];
    for (case, change) in cases {
        let err = sd15_fails(change).await;
        assert!(
            matches!(err, EngineError::BadOutput { .. }),
            "{case}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_history_entry_that_never_appears_is_transient_in_bounded_time() {
    let started = Instant::now();
    let err = sd15_fails(|s| s.history_never = true).await;
    assert!(matches!(err, EngineError::Transient { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_prompt_lost_without_a_socket_is_transient() {
    let started = Instant::now();
    let err = sd15_fails(|s| {
        s.history_never = true;
        s.close_socket_mid_run = true;
    })
    .await;
    let EngineError::Transient { detail, .. } = &err else {
        panic!("transient expected, got {err:?}");
    };
    assert!(detail.contains("lost"), "{detail}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cancel_while_running_interrupts_our_prompt() {
    let (fake, engine) = fake("sd15").await;
    fake.script(|s| {
        s.steps = 200;
        s.step_ms = 50;
    });
    let cancel = CancellationToken::new();
    let control = Control::new(cancel.clone());
    let req = request(ModelKind::Image, (32, 32));
    let task = tokio::spawn({
        let (engine, control) = (engine.clone(), control.clone());
        async move { engine.generate(&req, &control).await }
    });
    let running = wait_for(|| fake.running()).await;
    wait_for(|| (control.progress.get() > 0.0).then_some(())).await;
    cancel.cancel();
    let result = task.await.expect("task");
    assert!(matches!(result, Err(EngineError::Canceled)), "{result:?}");
    let rec = fake.recorded();
    assert_eq!(rec.interrupts, [Some(running.clone())]);
    assert!(rec.queue_deletes.is_empty());
    wait_for(|| fake.recorded().interrupted.contains(&running).then_some(())).await;
}

#[tokio::test]
async fn cancel_while_pending_deletes_from_the_queue() {
    let (fake, engine) = fake("sd15").await;
    fake.script(|s| s.hold_queue = true);
    let cancel = CancellationToken::new();
    let req = request(ModelKind::Image, (32, 32));
    let task = tokio::spawn({
        let (engine, control) = (engine.clone(), Control::new(cancel.clone()));
        async move { engine.generate(&req, &control).await }
    });
    let pending = wait_for(|| fake.pending().first().cloned()).await;
    cancel.cancel();
    let result = task.await.expect("task");
    assert!(matches!(result, Err(EngineError::Canceled)), "{result:?}");
    let rec = fake.recorded();
    assert_eq!(rec.queue_deletes, [pending]);
    assert!(rec.interrupts.is_empty(), "nothing of ours was running");
    assert!(fake.pending().is_empty());
}

#[tokio::test]
async fn the_input_image_must_match_the_workflow() {
    let (fake, engine) = fake("sd15").await;
    let err = run_err(
        engine.as_ref(),
        &with_image(request(ModelKind::Image, (32, 32))),
    )
    .await;
    assert!(
        matches!(err, EngineError::Permanent { ref reason, .. } if reason.contains("does not take an input image")),
        "{err:?}"
    );
    let (fake2, img2img) = fake_with("sd15-img2img", |_| {}).await;
    let err = run_err(img2img.as_ref(), &request(ModelKind::Image, (32, 32))).await;
    assert!(
        matches!(err, EngineError::Permanent { ref reason, .. } if reason.contains("needs an input image")),
        "{err:?}"
    );
    assert!(fake.recorded().prompts.is_empty() && fake2.recorded().prompts.is_empty());
}

/// Polls `probe` every 10 ms for up to 5 s.
async fn wait_for<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
