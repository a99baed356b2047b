//! Sandbox videos: the procedural scene animated frame by frame, encoded to H.264 with
//! OpenH264 (bundled source, BSD) and muxed into a fast-start MP4 with muxide (pure Rust).
//!
//! The result plays in browsers (Constrained Baseline, yuv420p, `moov` before `mdat`). The
//! encoder runs single-threaded with frame skipping off, so every frame is kept and the same
//! request always gives the same bytes.

use muxide::api::{Metadata, MuxerBuilder, VideoCodec};
use openh264::OpenH264API;
use openh264::Timestamp;
use openh264::encoder::{
    Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode, VuiConfig,
};
use openh264::formats::{RgbSliceU8, YUVBuffer};
use tokio_util::sync::CancellationToken;

use super::canvas::Canvas;
use super::mark;
use super::render::{DEFAULT_DURATION_SECONDS, DEFAULT_FPS, MAX_VIDEO_FRAMES};
use super::scene::{OutputKey, Scene};
use crate::engine::{Artifact, CONTENT_TYPE_MP4, EngineError, GenerationRequest};

/// Title written into the MP4 metadata.
pub const TITLE: &str = "Easel sandbox: procedural placeholder, not AI";
/// Smallest side OpenH264 is asked to encode; below one macroblock it is not worth the risk.
const MIN_SIDE: u32 = 16;

fn fatal(what: &str, err: impl std::fmt::Display) -> EngineError {
    EngineError::permanent(format!("sandbox: {what}: {err}"))
}

/// Renders and encodes the single video output of `req`.
pub(super) fn generate(
    req: &GenerationRequest,
    cancel: &CancellationToken,
) -> Result<Artifact, EngineError> {
    let (width, height) = (req.width, req.height);
    if width % 2 != 0 || height % 2 != 0 {
        return Err(EngineError::permanent(format!(
            "sandbox: video size {width}x{height} must have even width and height"
        )));
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(EngineError::permanent(format!(
            "sandbox: video size {width}x{height} is below {MIN_SIDE} pixels per side"
        )));
    }
    let seconds = req.duration_seconds.unwrap_or(DEFAULT_DURATION_SECONDS);
    let fps = req.fps.unwrap_or(DEFAULT_FPS);
    let frames = u64::from(seconds) * u64::from(fps);
    if frames == 0 || frames > MAX_VIDEO_FRAMES {
        return Err(EngineError::permanent(format!(
            "sandbox: {seconds} s at {fps} fps gives {frames} frames; 1 to {MAX_VIDEO_FRAMES} are supported"
        )));
    }
    let bytes = encode(
        &Scene::new(&OutputKey::new(req, 0)),
        width,
        height,
        fps,
        frames,
        cancel,
    )?;
    Ok(Artifact {
        bytes,
        content_type: CONTENT_TYPE_MP4,
        width,
        height,
        duration_seconds: Some(f64::from(seconds)),
        seed: Some(req.seed),
    })
}

fn encoder(fps: u32) -> Result<Encoder, EngineError> {
    // Rate control off: constant quality, no frame ever skipped, and no OpenH264 warning on
    // stderr (its rate-controlled modes complain when frame skipping is disabled). Flat
    // shapes compress well, so a 2 s 512×512 clip stays around 150 kB.
    let config = EncoderConfig::new()
        .rate_control_mode(RateControlMode::Off)
        .skip_frames(false)
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        .num_threads(1)
        .intra_frame_period(IntraFramePeriod::from_num_frames(fps.max(1)))
        .vui(VuiConfig::bt601());
    Encoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| fatal("H.264 encoder setup failed", e))
}

fn encode(
    scene: &Scene,
    width: u32,
    height: u32,
    fps: u32,
    frames: u64,
    cancel: &CancellationToken,
) -> Result<Vec<u8>, EngineError> {
    let mut encoder = encoder(fps)?;
    let mut muxer = MuxerBuilder::new(Vec::new())
        .video(VideoCodec::H264, width, height, f64::from(fps))
        .with_metadata(Metadata::new().with_title(TITLE))
        .with_fast_start(true)
        .build()
        .map_err(|e| fatal("MP4 muxer setup failed", e))?;
    let mut canvas = Canvas::new(width, height);
    let mut annexb = Vec::new();
    let dims = (width as usize, height as usize);
    for i in 0..frames {
        if cancel.is_cancelled() {
            return Err(EngineError::Canceled);
        }
        scene.draw(&mut canvas, i as f64 / frames as f64);
        mark::draw(&mut canvas);
        let yuv = YUVBuffer::from_rgb8_source(RgbSliceU8::new(canvas.pixels(), dims));
        let stamp = Timestamp::from_millis(i * 1000 / u64::from(fps));
        let bitstream = encoder
            .encode_at(&yuv, stamp)
            .map_err(|e| fatal("H.264 encoding failed", e))?;
        let key = matches!(bitstream.frame_type(), FrameType::IDR | FrameType::I);
        annexb.clear();
        bitstream.write_vec(&mut annexb);
        if annexb.is_empty() {
            return Err(EngineError::permanent(format!(
                "sandbox: encoder dropped frame {i}"
            )));
        }
        let pts = i as f64 / f64::from(fps);
        muxer
            .write_video(pts, &annexb, key)
            .map_err(|e| fatal("MP4 muxing failed", e))?;
    }
    muxer
        .finish_in_place()
        .map_err(|e| fatal("MP4 finalisation failed", e))?;
    Ok(muxer.into_writer())
}
