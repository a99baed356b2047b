//! Sandbox videos: determinism and a browser-playable H.264 MP4, checked with ffprobe.

use easel_engines::sandbox::MP4_TITLE;
use easel_engines::{CONTENT_TYPE_MP4, EngineError, GenerationRequest};

use crate::helpers::{ffmpeg_frame, ffprobe, run, run_one, top_level_boxes, video_request};

#[tokio::test]
async fn same_request_gives_identical_bytes() {
    let req = video_request("a spinning top");
    let first = run_one(&req).await;
    let second = run_one(&GenerationRequest {
        attempt: 2,
        ..req.clone()
    })
    .await;
    assert_eq!(first.bytes, second.bytes);
    let other = run_one(&GenerationRequest {
        prompt: "a falling leaf".to_owned(),
        ..req
    })
    .await;
    assert_ne!(first.bytes, other.bytes);
}

#[tokio::test]
async fn mp4_is_fast_start_h264_with_every_frame() {
    for (width, height, seconds, fps) in [(256, 144, 2, 24), (128, 96, 3, 10)] {
        let req = GenerationRequest {
            width,
            height,
            duration_seconds: Some(seconds),
            fps: Some(fps),
            n: 3, // ignored for videos: always one output
            ..video_request("ffprobe me")
        };
        let artifact = run_one(&req).await;
        assert_eq!(artifact.content_type, CONTENT_TYPE_MP4);
        assert_eq!((artifact.width, artifact.height), (width, height));
        assert_eq!(artifact.duration_seconds, Some(f64::from(seconds)));

        let boxes = top_level_boxes(&artifact.bytes);
        let moov = boxes.iter().position(|b| b == "moov").expect("moov box");
        let mdat = boxes.iter().position(|b| b == "mdat").expect("mdat box");
        assert!(
            moov < mdat,
            "moov must precede mdat (fast start): {boxes:?}"
        );

        let probe = ffprobe(&artifact.bytes);
        let streams = probe["streams"].as_array().expect("streams");
        assert_eq!(streams.len(), 1, "{probe}");
        let s = &streams[0];
        assert_eq!(s["codec_name"], "h264", "{s}");
        assert_eq!(s["pix_fmt"], "yuv420p", "{s}");
        assert_eq!(
            (s["width"].as_u64(), s["height"].as_u64()),
            (Some(width.into()), Some(height.into()))
        );
        let frames = (seconds * fps).to_string();
        assert_eq!(s["nb_frames"], frames.as_str(), "{s}");
        assert_eq!(
            s["nb_read_frames"],
            frames.as_str(),
            "every frame decodes: {s}"
        );
        assert_eq!(s["r_frame_rate"], format!("{fps}/1"), "{s}");
        let duration: f64 = probe["format"]["duration"]
            .as_str()
            .expect("duration")
            .parse()
            .expect("number");
        assert!(
            (duration - f64::from(seconds)).abs() < 0.05,
            "duration {duration}"
        );
        assert_eq!(probe["format"]["tags"]["title"], MP4_TITLE, "{probe}");
    }
}

/// Every frame carries the "SANDBOX" label: light letters on a dark box, bottom left.
#[tokio::test]
async fn every_frame_is_marked() {
    let (w, h) = (512u32, 288u32);
    let req = GenerationRequest {
        width: w,
        height: h,
        fps: Some(8),
        ..video_request("marked frames")
    };
    let mp4 = run_one(&req).await.bytes;
    for index in [0, 3, 7] {
        let rgb = ffmpeg_frame(&mp4, index);
        assert_eq!(rgb.len(), (w * h * 3) as usize, "frame {index}");
        let (mut ink, mut dark) = (0, 0);
        for y in (h * 3 / 4)..h {
            for x in 0..(w / 2) {
                let i = ((y * w + x) * 3) as usize;
                let px = &rgb[i..i + 3];
                ink += usize::from(px.iter().all(|&c| c > 220));
                dark += usize::from(px.iter().all(|&c| c < 45));
            }
        }
        assert!(
            ink >= 200 && dark > ink,
            "frame {index}: {ink} light and {dark} dark pixels"
        );
    }
}

#[tokio::test]
async fn defaults_to_two_seconds_at_24_fps() {
    let req = GenerationRequest {
        duration_seconds: None,
        fps: None,
        ..video_request("defaults")
    };
    let artifact = run_one(&req).await;
    assert_eq!(artifact.duration_seconds, Some(2.0));
    assert_eq!(ffprobe(&artifact.bytes)["streams"][0]["nb_frames"], "48");
}

#[tokio::test]
async fn odd_and_tiny_sizes_are_refused() {
    for (width, height) in [(129, 96), (128, 95), (14, 16)] {
        let req = GenerationRequest {
            width,
            height,
            ..video_request("odd")
        };
        let err = run(&req).await.expect_err("size refused");
        assert!(
            matches!(err, EngineError::Permanent { .. }),
            "{width}x{height}: {err:?}"
        );
    }
}
