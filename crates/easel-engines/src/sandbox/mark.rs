//! The visible "SANDBOX" label stamped on every sandbox image and video frame, so nobody
//! mistakes a placeholder for a real model's output.
//!
//! A 5×7 bitmap font holds just the letters needed; the label is scaled with the image and
//! drawn in white on an opaque near-black box in the bottom-left corner, readable over any
//! background.

use super::canvas::{Canvas, Rect, Rgb};

/// The label text; every letter must have a glyph in [`glyph`].
const TEXT: &str = "SANDBOX";
const GLYPH_W: i64 = 5;
const GLYPH_H: i64 = 7;
/// Box padding around the text, in font pixels.
const PAD: i64 = 2;
/// Colour of the box behind the text.
pub(super) const BOX: Rgb = Rgb(16, 16, 16);
/// Colour of the letters.
pub(super) const INK: Rgb = Rgb(255, 255, 255);

/// Rows of a glyph, top to bottom; bit 4 is the leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c {
        'S' => [
            0b01110, 0b10001, 0b10000, 0b01110, 0b00001, 0b10001, 0b01110,
        ],
        'A' => [
            0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
        ],
        'N' => [
            0b10001, 0b11001, 0b11001, 0b10101, 0b10011, 0b10011, 0b10001,
        ],
        'D' => [
            0b11110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11110,
        ],
        'B' => [
            0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110,
        ],
        'O' => [
            0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
        ],
        'X' => [
            0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001,
        ],
        _ => [0; 7],
    }
}

/// Where the mark goes on a `width × height` image: its box and the font scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    pub bbox: Rect,
    pub scale: i64,
}

/// The mark's layout for an image of this size: about a third of the width, at most a
/// seventh of the height, never smaller than one pixel per font pixel.
pub(super) fn layout(width: usize, height: usize) -> Layout {
    let letters = TEXT.chars().count() as i64;
    let text_w = letters * (GLYPH_W + 1) - 1;
    let box_w = text_w + 2 * PAD;
    let box_h = GLYPH_H + 2 * PAD;
    let by_width = (width as i64 / 3) / box_w;
    let by_height = (height as i64 / 7) / box_h;
    let scale = by_width.min(by_height).max(1);
    let margin = scale * PAD;
    let y1 = height as i64 - margin;
    Layout {
        bbox: Rect {
            x0: margin,
            y0: y1 - box_h * scale,
            x1: margin + box_w * scale,
            y1,
        },
        scale,
    }
}

/// Stamps the mark onto `canvas` (clipped on tiny images).
pub(super) fn draw(canvas: &mut Canvas) {
    let Layout { bbox, scale } = layout(canvas.width(), canvas.height());
    canvas.rect(bbox, BOX, 255);
    let mut left = bbox.x0 + PAD * scale;
    let top = bbox.y0 + PAD * scale;
    for c in TEXT.chars() {
        for (row, bits) in (0i64..).zip(glyph(c)) {
            for col in 0..GLYPH_W {
                if bits & (1 << (GLYPH_W - 1 - col)) != 0 {
                    let x0 = left + col * scale;
                    let y0 = top + row * scale;
                    let cell = Rect {
                        x0,
                        y0,
                        x1: x0 + scale,
                        y1: y0 + scale,
                    };
                    canvas.rect(cell, INK, 255);
                }
            }
        }
        left += (GLYPH_W + 1) * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_letter_has_a_glyph() {
        for c in TEXT.chars() {
            assert_ne!(glyph(c), [0; 7], "missing glyph for {c}");
        }
    }

    #[test]
    fn mark_scales_with_the_image_and_stays_inside() {
        for (w, h) in [(64, 64), (512, 512), (1024, 256), (256, 1024), (4096, 4096)] {
            let Layout { bbox, scale } = layout(w, h);
            assert!(scale >= 1);
            assert!(bbox.x0 >= 0 && bbox.y0 >= 0, "{w}x{h}: {bbox:?}");
            assert!(
                bbox.x1 <= w as i64 && bbox.y1 <= h as i64,
                "{w}x{h}: {bbox:?}"
            );
        }
        assert!(layout(1024, 1024).scale > layout(256, 256).scale);
    }

    #[test]
    fn mark_draws_only_box_and_ink() {
        let mut c = Canvas::new(512, 512);
        draw(&mut c);
        let Layout { bbox, .. } = layout(512, 512);
        let (mut ink, mut boxed) = (0, 0);
        for y in bbox.y0..bbox.y1 {
            for x in bbox.x0..bbox.x1 {
                let i = ((y * 512 + x) * 3) as usize;
                match Rgb(c.pixels()[i], c.pixels()[i + 1], c.pixels()[i + 2]) {
                    INK => ink += 1,
                    BOX => boxed += 1,
                    other => panic!("unexpected {other:?} at {x},{y}"),
                }
            }
        }
        assert!(ink > 100 && boxed > ink, "ink {ink}, box {boxed}");
    }
}
