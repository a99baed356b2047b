//! Checking what a backend returned before it is stored, the same way for every engine:
//! the content type, width, height and length come from decoding the bytes, never from
//! what the backend claims. Empty, oversized, undecodable, wrongly sized or wrongly typed
//! outputs are a failed attempt ([`EngineError::BadOutput`]).
//!
//! Images are fully decoded (a truncated PNG has a valid header), with the decoder's
//! allocation capped so a "decompression bomb" cannot take the node's memory. Videos are
//! probed: their boxes are parsed by `mp4parse` (the parser Firefox uses on hostile files),
//! which gives the size of the video track and the length; frames are not decoded.

use std::io::Cursor;

use crate::engine::{
    Artifact, CONTENT_TYPE_JPEG, CONTENT_TYPE_MP4, CONTENT_TYPE_PNG, CONTENT_TYPE_WEBP,
    EngineError, GenerationRequest, ModelKind, Produced,
};

/// What an output may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted file, in bytes.
    pub max_bytes: usize,
    /// Whether the output must have exactly the requested width and height.
    pub exact_size: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 50 * 1024 * 1024,
            exact_size: true,
        }
    }
}

/// Largest side a decoded image may claim; bigger headers are refused before decoding.
const MAX_DECODE_SIDE: u32 = 16_384;
/// Most memory the image decoder may allocate.
const MAX_DECODE_ALLOC: u64 = 1024 * 1024 * 1024;

/// Checks every output of a run for `req`. CPU-bound: call it from a blocking task.
pub fn inspect_all(
    req: &GenerationRequest,
    produced: Vec<Produced>,
    limits: &Limits,
) -> Result<Vec<Artifact>, EngineError> {
    if produced.is_empty() && req.n > 0 {
        return Err(EngineError::bad_output("the backend returned no outputs"));
    }
    produced
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            inspect(req, p, limits).map_err(|e| match e {
                EngineError::BadOutput { detail, reason } => EngineError::BadOutput {
                    detail: format!("output {i}: {detail}"),
                    reason: format!("output {i}: {reason}"),
                },
                other => other,
            })
        })
        .collect()
}

/// Checks one output.
pub fn inspect(
    req: &GenerationRequest,
    produced: Produced,
    limits: &Limits,
) -> Result<Artifact, EngineError> {
    let size = produced.bytes.len();
    if size == 0 {
        return Err(EngineError::bad_output("the output is empty"));
    }
    if size > limits.max_bytes {
        return Err(EngineError::bad_output(format!(
            "the output is {size} bytes, more than the {} allowed",
            limits.max_bytes
        )));
    }
    let (content_type, width, height, duration_seconds) = match req.kind {
        ModelKind::Image => {
            let (content_type, width, height) = decode_image(&produced.bytes)?;
            (content_type, width, height, None)
        }
        ModelKind::Video => {
            let (width, height, seconds) = probe_mp4(&produced.bytes)?;
            (CONTENT_TYPE_MP4, width, height, Some(seconds))
        }
    };
    if limits.exact_size && (width != req.width || height != req.height) {
        return Err(EngineError::bad_output(format!(
            "the output is {width}x{height}, not the {}x{} requested",
            req.width, req.height
        )));
    }
    Ok(Artifact {
        bytes: produced.bytes,
        content_type,
        width,
        height,
        duration_seconds,
        seed: produced.seed,
    })
}

/// Decodes an image fully; returns its type and size.
fn decode_image(bytes: &[u8]) -> Result<(&'static str, u32, u32), EngineError> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| EngineError::bad_output(format!("the output could not be read: {e}")))?;
    let content_type = match reader.format() {
        Some(image::ImageFormat::Png) => CONTENT_TYPE_PNG,
        Some(image::ImageFormat::Jpeg) => CONTENT_TYPE_JPEG,
        Some(image::ImageFormat::WebP) => CONTENT_TYPE_WEBP,
        _ => {
            return Err(EngineError::bad_output(
                "the output is not a PNG, JPEG or WebP image",
            ));
        }
    };
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = reader;
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| {
        EngineError::bad_output(format!("the output is not a decodable image: {e}"))
    })?;
    if decoded.width() == 0 || decoded.height() == 0 {
        return Err(EngineError::bad_output("the output image has no pixels"));
    }
    Ok((content_type, decoded.width(), decoded.height()))
}

/// Reads an MP4's video track size and the file's length from its boxes.
fn probe_mp4(bytes: &[u8]) -> Result<(u32, u32, f64), EngineError> {
    let bad =
        |why: &str| EngineError::bad_output(format!("the output is not a playable MP4: {why}"));
    let context =
        mp4parse::read_mp4(&mut Cursor::new(bytes)).map_err(|e| EngineError::BadOutput {
            detail: format!("the output is not a playable MP4: {e:?}"),
            reason: "the output is not a playable MP4".to_owned(),
        })?;
    let track = context
        .tracks
        .iter()
        .find(|t| t.track_type == mp4parse::TrackType::Video)
        .ok_or_else(|| bad("it has no video track"))?;
    let (width, height) = track
        .stsd
        .as_ref()
        .and_then(|stsd| {
            stsd.descriptions.iter().find_map(|d| match d {
                mp4parse::SampleEntry::Video(v) => Some((u32::from(v.width), u32::from(v.height))),
                _ => None,
            })
        })
        .or_else(|| track.tkhd.as_ref().map(|t| (t.width >> 16, t.height >> 16)))
        .ok_or_else(|| bad("its video track has no size"))?;
    if width == 0 || height == 0 {
        return Err(bad("its video track has no pixels"));
    }
    let seconds = match (&track.duration, &track.timescale) {
        (Some(d), Some(ts)) if ts.0 > 0 => d.0 as f64 / ts.0 as f64,
        _ => return Err(bad("its video track has no length")),
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(bad("its video track has no length"));
    }
    Ok((width, height, seconds))
}
