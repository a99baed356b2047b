//! Sandbox settings: configured failures, delays and cancellation.

use std::time::{Duration, Instant};

use easel_engines::{Engine, EngineError, GenerationRequest, Sandbox, SandboxSettings};
use tokio_util::sync::CancellationToken;

use crate::helpers::{image_request, run_with, video_request};

#[test]
fn settings_parse_with_defaults_and_refuse_unknown_fields() {
    let empty: SandboxSettings = serde_json::from_str("{}").expect("empty settings");
    assert_eq!(empty, SandboxSettings::default());
    assert_eq!(
        (empty.delay_ms, empty.fail_first_attempts, empty.fail_always),
        (0, 0, false)
    );
    let full: SandboxSettings =
        serde_json::from_str(r#"{"delay_ms": 250, "fail_first_attempts": 2, "fail_always": true}"#)
            .expect("full");
    assert_eq!(
        (full.delay_ms, full.fail_first_attempts, full.fail_always),
        (250, 2, true)
    );
    let err =
        serde_json::from_str::<SandboxSettings>(r#"{"delay": 1}"#).expect_err("unknown field");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[tokio::test]
async fn fails_the_first_attempts_then_succeeds() {
    let settings = SandboxSettings {
        fail_first_attempts: 2,
        ..SandboxSettings::default()
    };
    for attempt in 1..=2 {
        let req = GenerationRequest {
            attempt,
            ..image_request("flaky")
        };
        let err = run_with(settings.clone(), &req)
            .await
            .expect_err("configured failure");
        assert_eq!(
            err,
            EngineError::transient(format!("sandbox: configured to fail attempt {attempt}"))
        );
        assert!(err.is_retryable());
    }
    let req = GenerationRequest {
        attempt: 3,
        ..image_request("flaky")
    };
    let outputs = run_with(settings, &req)
        .await
        .expect("third attempt succeeds");
    assert_eq!(outputs.len(), 1);
}

#[tokio::test]
async fn fail_always_is_fatal() {
    let settings = SandboxSettings {
        fail_always: true,
        ..SandboxSettings::default()
    };
    for attempt in [1, 2, 10] {
        let req = GenerationRequest {
            attempt,
            ..image_request("doomed")
        };
        let err = run_with(settings.clone(), &req)
            .await
            .expect_err("always fails");
        assert!(matches!(err, EngineError::Permanent { .. }), "{err:?}");
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn delay_is_honoured() {
    let settings = SandboxSettings {
        delay_ms: 300,
        ..SandboxSettings::default()
    };
    let started = Instant::now();
    run_with(settings, &image_request("slow"))
        .await
        .expect("slow success");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cancelling_during_the_delay_returns_promptly() {
    let sandbox = Sandbox::new(SandboxSettings {
        delay_ms: 5_000,
        ..SandboxSettings::default()
    });
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let result = sandbox
        .generate(
            &image_request("cancel me"),
            &easel_engines::Control::new(cancel.clone()),
        )
        .await;
    assert_eq!(result, Err(EngineError::Canceled));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_already_cancelled_token_does_no_work() {
    let cancel = CancellationToken::new();
    cancel.cancel();
    let result = Sandbox::default()
        .generate(
            &image_request("never"),
            &easel_engines::Control::new(cancel.clone()),
        )
        .await;
    assert_eq!(result, Err(EngineError::Canceled));
}

#[tokio::test]
async fn cancelling_while_encoding_a_video_returns_promptly() {
    // Long enough (60 s of 640×480) that it cannot finish before the cancel lands.
    let req = GenerationRequest {
        width: 640,
        height: 480,
        duration_seconds: Some(60),
        fps: Some(30),
        ..video_request("long")
    };
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let result = Sandbox::default()
        .generate(&req, &easel_engines::Control::new(cancel.clone()))
        .await;
    assert_eq!(result, Err(EngineError::Canceled));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn engine_name_is_sandbox() {
    assert_eq!(Sandbox::default().name(), "sandbox");
    assert_eq!(Sandbox::NAME, "sandbox");
}
