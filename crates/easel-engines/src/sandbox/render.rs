//! Synchronous entry point of the sandbox: checks the few limits the encoders need, then
//! renders the requested images or the video. Runs inside `spawn_blocking`.
//!
//! Business rules (allowed sizes, `n` limits) belong to the server; the limits here only
//! keep the sandbox from panicking or exhausting memory on absurd input.

use tokio_util::sync::CancellationToken;

use super::canvas::Canvas;
use super::scene::{OutputKey, Scene};
use super::{mark, png_out, video};
use crate::engine::{Artifact, CONTENT_TYPE_PNG, EngineError, GenerationRequest, ModelKind};

/// Largest accepted width or height, in pixels.
pub const MAX_SIDE: u32 = 4096;
/// Most frames a sandbox video may have (`duration_seconds × fps`).
pub const MAX_VIDEO_FRAMES: u64 = 7_200;
/// Video length used when the request leaves `duration_seconds` out.
pub const DEFAULT_DURATION_SECONDS: u32 = 2;
/// Frame rate used when the request leaves `fps` out.
pub const DEFAULT_FPS: u32 = 24;

/// Renders every output of `req`, stopping early with `Canceled` when `cancel` fires.
pub(super) fn generate(
    req: &GenerationRequest,
    cancel: &CancellationToken,
) -> Result<Vec<Artifact>, EngineError> {
    check_size(req.width, req.height)?;
    match req.kind {
        ModelKind::Image => images(req, cancel),
        ModelKind::Video => video::generate(req, cancel).map(|artifact| vec![artifact]),
    }
}

fn check_size(width: u32, height: u32) -> Result<(), EngineError> {
    if width == 0 || height == 0 {
        return Err(EngineError::permanent(format!(
            "sandbox: size {width}x{height} is empty"
        )));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(EngineError::permanent(format!(
            "sandbox: size {width}x{height} exceeds {MAX_SIDE} pixels per side"
        )));
    }
    Ok(())
}

fn images(
    req: &GenerationRequest,
    cancel: &CancellationToken,
) -> Result<Vec<Artifact>, EngineError> {
    let mut out = Vec::new();
    for index in 0..req.n {
        if cancel.is_cancelled() {
            return Err(EngineError::Canceled);
        }
        let bytes = render_png(req, index, true)?;
        out.push(Artifact {
            bytes,
            content_type: CONTENT_TYPE_PNG,
            width: req.width,
            height: req.height,
            duration_seconds: None,
            seed: Some(req.seed),
        });
    }
    Ok(out)
}

/// Draws output `index` of `req` (optionally without the mark, for tests) and encodes it.
pub(super) fn render_png(
    req: &GenerationRequest,
    index: u32,
    with_mark: bool,
) -> Result<Vec<u8>, EngineError> {
    let scene = Scene::new(&OutputKey::new(req, index));
    let mut canvas = Canvas::new(req.width, req.height);
    scene.draw(&mut canvas, 0.0);
    if with_mark {
        mark::draw(&mut canvas);
    }
    png_out::encode(&canvas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::mark;

    fn request(kind: ModelKind, n: u32) -> GenerationRequest {
        GenerationRequest {
            id: "gen_1".to_owned(),
            model: "m".to_owned(),
            input_image: None,
            kind,
            prompt: "p".to_owned(),
            negative_prompt: None,
            width: 256,
            height: 160,
            n,
            seed: 1,
            duration_seconds: Some(1),
            fps: Some(8),
            attempt: 1,
        }
    }

    fn decode(bytes: &[u8]) -> Vec<u8> {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .expect("header");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        buf.truncate(info.buffer_size());
        buf
    }

    /// Rendering with and without the mark differs exactly inside the mark's box, and there
    /// by a lot: the mark is drawn, and drawn nowhere else.
    #[test]
    fn mark_changes_only_its_box() {
        let req = request(ModelKind::Image, 1);
        let marked = decode(&render_png(&req, 0, true).expect("marked"));
        let plain = decode(&render_png(&req, 0, false).expect("plain"));
        let bbox = mark::layout(256, 160).bbox;
        let (mut inside, mut outside, mut area) = (0, 0, 0);
        for (i, (a, b)) in marked
            .chunks_exact(3)
            .zip(plain.chunks_exact(3))
            .enumerate()
        {
            let (x, y) = ((i % 256) as i64, (i / 256) as i64);
            let within = x >= bbox.x0 && x < bbox.x1 && y >= bbox.y0 && y < bbox.y1;
            area += usize::from(within);
            if a != b {
                if within { inside += 1 } else { outside += 1 }
            }
        }
        assert_eq!(outside, 0);
        assert!(
            inside * 10 > area * 9,
            "{inside} of {area} box pixels changed"
        );
    }

    #[test]
    fn a_cancelled_token_stops_the_blocking_work() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        for kind in [ModelKind::Image, ModelKind::Video] {
            assert_eq!(
                generate(&request(kind, 3), &cancel),
                Err(EngineError::Canceled)
            );
        }
    }
}
