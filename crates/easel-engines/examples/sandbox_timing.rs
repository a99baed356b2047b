//! Times the sandbox engine on typical requests and optionally keeps the outputs.
//!
//! `cargo run --release -p easel-engines --example sandbox_timing [OUT_DIR]` prints how long
//! a 512×512 PNG and a 2 s, 24 fps, 512×512 MP4 take (best of a few runs), and writes them
//! to `OUT_DIR` when given, for looking at by eye.

use std::time::{Duration, Instant};

use easel_engines::{Artifact, Control, Engine, GenerationRequest, ModelKind, Sandbox};

const RUNS: usize = 5;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = std::env::args().nth(1);
    let image = GenerationRequest {
        id: "gen_timing".to_owned(),
        input_image: None,
        model: "sandbox-image".to_owned(),
        kind: ModelKind::Image,
        prompt: "a red fox in the snow".to_owned(),
        negative_prompt: None,
        width: 512,
        height: 512,
        n: 1,
        seed: 7,
        duration_seconds: None,
        fps: None,
        attempt: 1,
    };
    let video = GenerationRequest {
        model: "sandbox-video".to_owned(),
        kind: ModelKind::Video,
        duration_seconds: Some(2),
        fps: Some(24),
        ..image.clone()
    };
    for (label, req, file) in [
        ("512x512 PNG", &image, "sandbox.png"),
        ("512x512 2 s 24 fps MP4", &video, "sandbox.mp4"),
    ] {
        let (best, artifact) = best_of(req).await?;
        println!(
            "{label}: best of {RUNS} = {best:.2?} ({} bytes)",
            artifact.bytes.len()
        );
        if let Some(dir) = &out_dir {
            std::fs::write(std::path::Path::new(dir).join(file), &artifact.bytes)?;
        }
    }
    Ok(())
}

async fn best_of(
    req: &GenerationRequest,
) -> Result<(Duration, Artifact), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::default();
    let control = Control::default();
    let mut best = Duration::MAX;
    let mut last = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        last = sandbox.generate(req, &control).await?.outputs;
        best = best.min(started.elapsed());
    }
    let produced = last.pop().ok_or("no output")?;
    let artifact = easel_engines::check::inspect(req, produced, &Default::default())?;
    Ok((best, artifact))
}
