//! Shared helpers: request builders, running the sandbox, decoding PNGs and probing MP4s.

use std::io::Cursor;
use std::process::Command;

use easel_engines::check::{self, Limits};
use easel_engines::{
    Artifact, Control, Engine, EngineError, GenerationRequest, ModelKind, Sandbox, SandboxSettings,
};

/// A 64×64 single-image request; tests override what they need.
pub fn image_request(prompt: &str) -> GenerationRequest {
    GenerationRequest {
        id: "gen_test".to_owned(),
        model: "sandbox-image".to_owned(),
        kind: ModelKind::Image,
        prompt: prompt.to_owned(),
        negative_prompt: None,
        width: 64,
        height: 64,
        n: 1,
        seed: 42,
        duration_seconds: None,
        fps: None,
        input_image: None,
        attempt: 1,
    }
}

/// A small 1 s, 12 fps video request.
pub fn video_request(prompt: &str) -> GenerationRequest {
    GenerationRequest {
        model: "sandbox-video".to_owned(),
        kind: ModelKind::Video,
        width: 128,
        height: 96,
        duration_seconds: Some(1),
        fps: Some(12),
        ..image_request(prompt)
    }
}

/// Runs a default sandbox on `req`.
pub async fn run(req: &GenerationRequest) -> Result<Vec<Artifact>, EngineError> {
    run_with(SandboxSettings::default(), req).await
}

/// Runs a sandbox with `settings` on `req`.
pub async fn run_with(
    settings: SandboxSettings,
    req: &GenerationRequest,
) -> Result<Vec<Artifact>, EngineError> {
    let generated = Sandbox::new(settings)
        .generate(req, &Control::default())
        .await?;
    // Every engine's outputs go through the shared checks; the sandbox's must pass them.
    check::inspect_all(req, generated.outputs, &Limits::default())
}

/// Runs `req` and returns its only output.
pub async fn run_one(req: &GenerationRequest) -> Artifact {
    let mut outputs = run(req).await.expect("generation succeeds");
    assert_eq!(outputs.len(), 1, "one output expected");
    outputs.remove(0)
}

/// A decoded PNG: size, RGB8 pixels and its tEXt chunks as (keyword, text).
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    pub text: Vec<(String, String)>,
}

pub fn decode_png(bytes: &[u8]) -> Decoded {
    let mut reader = png::Decoder::new(Cursor::new(bytes))
        .read_info()
        .expect("PNG header");
    let mut rgb = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut rgb).expect("PNG data");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    rgb.truncate(info.buffer_size());
    let text = reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .map(|c| (c.keyword.clone(), c.text.clone()))
        .collect();
    Decoded {
        width: info.width,
        height: info.height,
        rgb,
        text,
    }
}

/// Share of pixels (0.0–1.0) that differ between two same-sized RGB8 buffers.
pub fn differing_share(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images of different sizes");
    let differ = a
        .chunks_exact(3)
        .zip(b.chunks_exact(3))
        .filter(|(p, q)| p != q)
        .count();
    differ as f64 / (a.len() / 3) as f64
}

/// `ffprobe -show_streams -show_format` (plus decoded frame count) on an MP4, as JSON.
///
/// Fails the test loudly when ffprobe is missing: video checks are never skipped silently.
pub fn ffprobe(mp4: &[u8]) -> serde_json::Value {
    let file = tempfile::Builder::new()
        .suffix(".mp4")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), mp4).expect("write MP4");
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(file.path())
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "ffprobe is required for the video tests and could not be run ({err}). \
                 Install it with `apt-get install -y ffmpeg`, or run scripts/test, which does."
            )
        });
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "ffprobe reported problems: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("ffprobe JSON")
}

/// Top-level MP4 box types in file order.
pub fn top_level_boxes(mp4: &[u8]) -> Vec<String> {
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= mp4.len() {
        let size = u32::from_be_bytes(mp4[at..at + 4].try_into().expect("4 bytes")) as usize;
        boxes.push(String::from_utf8_lossy(&mp4[at + 4..at + 8]).into_owned());
        let size = match size {
            0 => mp4.len() - at,
            1 => u64::from_be_bytes(mp4[at + 8..at + 16].try_into().expect("8 bytes")) as usize,
            n => n,
        };
        assert!(size >= 8, "bad box size at {at}");
        at += size;
    }
    boxes
}

/// Frame `index` of an MP4 decoded by ffmpeg (same Debian package as ffprobe) as RGB8.
pub fn ffmpeg_frame(mp4: &[u8], index: u32) -> Vec<u8> {
    let file = tempfile::Builder::new()
        .suffix(".mp4")
        .tempfile()
        .expect("temp file");
    std::fs::write(file.path(), mp4).expect("write MP4");
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file.path())
        .args(["-vf", &format!("select=eq(n\\,{index})"), "-frames:v", "1"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap_or_else(|err| {
            panic!("ffmpeg is required for the video tests ({err}); apt-get install -y ffmpeg")
        });
    assert!(
        output.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
