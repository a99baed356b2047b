//! Edge inputs: nothing the server could pass makes the sandbox panic. Each case ends in
//! outputs or a clean `Fatal`.

use easel_engines::sandbox::MAX_SIDE;
use easel_engines::{EngineError, GenerationRequest, ModelKind};

use crate::helpers::{decode_png, image_request, run, video_request};

fn assert_fatal(result: Result<Vec<easel_engines::Artifact>, EngineError>, what: &str) {
    match result {
        Err(EngineError::Permanent {
            detail: message, ..
        }) => {
            assert!(message.starts_with("sandbox: "), "{what}: {message}")
        }
        other => panic!("{what}: expected Fatal, got {other:?}"),
    }
}

#[tokio::test]
async fn empty_or_oversized_images_are_fatal() {
    for (w, h) in [
        (0, 64),
        (64, 0),
        (0, 0),
        (MAX_SIDE + 1, 8),
        (8, MAX_SIDE + 1),
        (u32::MAX, u32::MAX),
    ] {
        let req = GenerationRequest {
            width: w,
            height: h,
            ..image_request("size")
        };
        assert_fatal(run(&req).await, &format!("image {w}x{h}"));
        let req = GenerationRequest {
            width: w,
            height: h,
            ..video_request("size")
        };
        assert_fatal(run(&req).await, &format!("video {w}x{h}"));
    }
}

#[tokio::test]
async fn extreme_but_valid_image_sizes_render() {
    for (w, h) in [(1, 1), (1, MAX_SIDE), (MAX_SIDE, 1), (3, 7), (MAX_SIDE, 16)] {
        let req = GenerationRequest {
            width: w,
            height: h,
            ..image_request("thin")
        };
        let outputs = run(&req).await.unwrap_or_else(|e| panic!("{w}x{h}: {e}"));
        let png = decode_png(&outputs[0].bytes);
        assert_eq!((png.width, png.height), (w, h));
    }
}

#[tokio::test]
async fn zero_outputs_is_an_empty_success() {
    let req = GenerationRequest {
        n: 0,
        ..image_request("nothing")
    };
    assert_eq!(run(&req).await, Ok(Vec::new()));
}

#[tokio::test]
async fn any_prompt_text_renders() {
    let long = "word ".repeat(20_000);
    let prompts = [
        "",
        " ",
        "\0\u{7f}\n\t",
        "🦊🐳 €—ü",
        "مرحبا بالعالم",
        "漢字かな交じり文",
        long.as_str(),
    ];
    for prompt in prompts {
        let req = GenerationRequest {
            negative_prompt: Some(prompt.to_owned()),
            model: prompt.to_owned(),
            seed: u64::MAX,
            attempt: 0,
            ..image_request(prompt)
        };
        let outputs = run(&req)
            .await
            .unwrap_or_else(|e| panic!("{prompt:?}: {e}"));
        assert_eq!(outputs.len(), 1);
    }
}

#[tokio::test]
async fn impossible_video_timings_are_fatal() {
    let cases = [
        (Some(0), Some(24)),
        (Some(2), Some(0)),
        (Some(u32::MAX), Some(u32::MAX)),
        (Some(3_600), Some(60)),
    ];
    for (duration_seconds, fps) in cases {
        let req = GenerationRequest {
            duration_seconds,
            fps,
            ..video_request("timing")
        };
        assert_fatal(
            run(&req).await,
            &format!("{duration_seconds:?} s at {fps:?} fps"),
        );
    }
}

#[tokio::test]
async fn video_fields_on_an_image_request_are_ignored() {
    let req = GenerationRequest {
        duration_seconds: Some(0),
        fps: Some(u32::MAX),
        ..image_request("still")
    };
    let outputs = run(&req).await.expect("image renders");
    assert_eq!(outputs[0].duration_seconds, None);
    assert_eq!(req.kind, ModelKind::Image);
}

#[tokio::test]
async fn smallest_and_largest_video_sizes() {
    // Below the encoder's limits (3840×2160 either way) it must work; beyond, a clean Fatal.
    let req = GenerationRequest {
        width: 16,
        height: 16,
        ..video_request("tiny")
    };
    assert_eq!(run(&req).await.expect("16x16 video").len(), 1);
    let req = GenerationRequest {
        width: 4096,
        height: 2304,
        duration_seconds: Some(1),
        fps: Some(1),
        ..video_request("huge")
    };
    assert_fatal(run(&req).await, "4096x2304 video");
}

#[tokio::test]
async fn extreme_frame_rates_render() {
    for (duration_seconds, fps) in [(1, 1), (1, 7_200), (7_200, 1)] {
        let req = GenerationRequest {
            width: 16,
            height: 16,
            duration_seconds: Some(duration_seconds),
            fps: Some(fps),
            ..video_request("fast")
        };
        let outputs = run(&req)
            .await
            .unwrap_or_else(|e| panic!("{duration_seconds} s at {fps} fps: {e}"));
        let measured = outputs[0].duration_seconds.expect("a video has a length");
        if u64::from(duration_seconds) * u64::from(fps) == 1 {
            // One frame: muxide gives a lone sample one tick, and the length is read from
            // the file (never taken from the request), so it is that tick, not a second.
            assert!(measured > 0.0 && measured < 0.001, "{measured}");
        } else {
            // Frame times are rounded to the 90 kHz clock: within a thousandth.
            let want = f64::from(duration_seconds);
            assert!(
                (measured - want).abs() <= want / 1000.0,
                "{measured} vs {want}"
            );
        }
    }
}
