//! A tiny RGB8 raster with the few primitives the sandbox draws: a two-colour linear
//! gradient, and alpha-blended rectangles, discs and stripe patterns.
//!
//! Hand-written instead of pulling in a 2D graphics crate: the needs are small, every
//! primitive clips to the canvas (no input can index out of bounds), and integer blending
//! keeps outputs bit-identical across runs.

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rgb(pub u8, pub u8, pub u8);

/// Direction of a stripe pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stripes {
    Horizontal,
    Vertical,
    /// Rising to the right (`/`).
    Rising,
    /// Falling to the right (`\`).
    Falling,
}

/// An axis-aligned rectangle in pixels, `[x0, x1) × [y0, y1)`, possibly off-canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rect {
    pub x0: i64,
    pub y0: i64,
    pub x1: i64,
    pub y1: i64,
}

/// Row-major RGB8 pixels.
pub(super) struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A black canvas. Callers bound the size (see `render::MAX_SIDE`).
    pub fn new(width: u32, height: u32) -> Self {
        let width = width as usize;
        let height = height as usize;
        Self {
            width,
            height,
            pixels: vec![0; width * height * 3],
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// The RGB8 bytes, row by row.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Fills the canvas with a linear gradient from `from` to `to` along `(dx, dy)`.
    pub fn gradient(&mut self, from: Rgb, to: Rgb, dx: f64, dy: f64) {
        let lut: Vec<Rgb> = (0..=255u16).map(|t| mix(from, to, t)).collect();
        let (w, h) = (self.width as f64, self.height as f64);
        // Project each pixel on the direction; scale so the projection spans 0..=255.
        let half_span = (dx.abs() * w + dy.abs() * h).max(1.0) / 2.0;
        let scale = 127.5 / half_span;
        for (y, row) in self.pixels.chunks_exact_mut(self.width * 3).enumerate() {
            let base = ((y as f64 - h / 2.0) * dy - (w / 2.0) * dx) * scale + 127.5;
            for (x, px) in row.chunks_exact_mut(3).enumerate() {
                let t = (base + x as f64 * dx * scale).clamp(0.0, 255.0) as usize;
                let c = lut.get(t).copied().unwrap_or(to);
                px.copy_from_slice(&[c.0, c.1, c.2]);
            }
        }
    }

    /// Blends `color` at opacity `alpha` (0–255) over `rect`.
    pub fn rect(&mut self, rect: Rect, color: Rgb, alpha: u8) {
        let Some((x0, y0, x1, y1)) = self.clip(rect) else {
            return;
        };
        for y in y0..y1 {
            self.blend_span(y, x0, x1, color, alpha);
        }
    }

    /// Blends a disc of radius `r` centred on `(cx, cy)`.
    pub fn disc(&mut self, cx: f64, cy: f64, r: f64, color: Rgb, alpha: u8) {
        if !(r > 0.0 && cx.is_finite() && cy.is_finite()) {
            return;
        }
        let rows = Rect {
            x0: 0,
            y0: (cy - r).floor() as i64,
            x1: self.width as i64,
            y1: (cy + r).ceil() as i64 + 1,
        };
        let Some((_, y0, _, y1)) = self.clip(rows) else {
            return;
        };
        for y in y0..y1 {
            let dy = y as f64 + 0.5 - cy;
            let half = r * r - dy * dy;
            if half <= 0.0 {
                continue;
            }
            let half = half.sqrt();
            let span = Rect {
                x0: (cx - half).round() as i64,
                y0: y as i64,
                x1: (cx + half).round() as i64,
                y1: y as i64 + 1,
            };
            if let Some((x0, _, x1, _)) = self.clip(span) {
                self.blend_span(y, x0, x1, color, alpha);
            }
        }
    }

    /// Blends stripes of width `period / 2` inside `rect`, shifted by `offset` pixels.
    pub fn stripes(
        &mut self,
        rect: Rect,
        dir: Stripes,
        period: i64,
        offset: i64,
        color: Rgb,
        alpha: u8,
    ) {
        let Some((x0, y0, x1, y1)) = self.clip(rect) else {
            return;
        };
        let period = period.max(2);
        for y in y0..y1 {
            for x in x0..x1 {
                let (xi, yi) = (x as i64, y as i64);
                let along = match dir {
                    Stripes::Horizontal => yi,
                    Stripes::Vertical => xi,
                    Stripes::Rising => xi + yi,
                    Stripes::Falling => xi - yi,
                };
                if (along + offset).rem_euclid(period) < period / 2 {
                    self.blend_span(y, x, x + 1, color, alpha);
                }
            }
        }
    }

    /// The part of `rect` on the canvas, as `usize` bounds, or `None` when nothing is left.
    fn clip(&self, rect: Rect) -> Option<(usize, usize, usize, usize)> {
        let x0 = rect.x0.clamp(0, self.width as i64) as usize;
        let x1 = rect.x1.clamp(0, self.width as i64) as usize;
        let y0 = rect.y0.clamp(0, self.height as i64) as usize;
        let y1 = rect.y1.clamp(0, self.height as i64) as usize;
        (x0 < x1 && y0 < y1).then_some((x0, y0, x1, y1))
    }

    fn blend_span(&mut self, y: usize, x0: usize, x1: usize, color: Rgb, alpha: u8) {
        let start = (y * self.width + x0) * 3;
        let end = (y * self.width + x1) * 3;
        let Some(span) = self.pixels.get_mut(start..end) else {
            return;
        };
        let a = u32::from(alpha);
        for px in span.chunks_exact_mut(3) {
            px[0] = blend(px[0], color.0, a);
            px[1] = blend(px[1], color.1, a);
            px[2] = blend(px[2], color.2, a);
        }
    }
}

/// `dst` moved toward `src` by `a / 255`, rounded.
fn blend(dst: u8, src: u8, a: u32) -> u8 {
    ((u32::from(src) * a + u32::from(dst) * (255 - a) + 127) / 255) as u8
}

/// `from` moved toward `to` by `t / 255`.
fn mix(from: Rgb, to: Rgb, t: u16) -> Rgb {
    let a = u32::from(t.min(255));
    Rgb(
        blend(from.0, to.0, a),
        blend(from.1, to.1, a),
        blend(from.2, to.2, a),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_clip_off_canvas_shapes() {
        let mut c = Canvas::new(8, 4);
        let far = Rect {
            x0: -100,
            y0: -100,
            x1: 200,
            y1: 200,
        };
        c.rect(far, Rgb(255, 0, 0), 255);
        c.disc(-50.0, 3.0, 1e9, Rgb(0, 255, 0), 128);
        c.disc(f64::NAN, 0.0, 3.0, Rgb(0, 0, 255), 255);
        c.stripes(far, Stripes::Falling, 0, i64::MAX / 4, Rgb(9, 9, 9), 255);
        assert_eq!(c.pixels().len(), 8 * 4 * 3);
    }

    #[test]
    fn opaque_rect_sets_exact_colour() {
        let mut c = Canvas::new(4, 4);
        c.rect(
            Rect {
                x0: 1,
                y0: 1,
                x1: 3,
                y1: 3,
            },
            Rgb(10, 20, 30),
            255,
        );
        let at = |x: usize, y: usize| &c.pixels()[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3];
        assert_eq!(at(1, 1), &[10, 20, 30]);
        assert_eq!(at(0, 0), &[0, 0, 0]);
        assert_eq!(at(3, 3), &[0, 0, 0]);
    }
}
