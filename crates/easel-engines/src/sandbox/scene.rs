//! Turns a request into a picture description: a SHA-256 of the inputs seeds a small PRNG
//! that picks the background gradient and a handful of shapes, with their colours, sizes and
//! motion paths.
//!
//! Positions and sizes are fractions of the frame, so one request looks alike at any size.
//! Only integer maths and basic IEEE arithmetic (no `sin`, no platform `libm`) feed the
//! pixels, so the same inputs give the same bytes on every machine.

use sha2::{Digest, Sha256};

use super::canvas::{Canvas, Rect, Rgb, Stripes};
use crate::engine::GenerationRequest;

/// The inputs that decide one output's picture, hashed. Note what is *not* here: `attempt`
/// (a retry must give the same bytes) and `n` (output 0 is the same whatever `n` is).
pub(super) struct OutputKey([u8; 32]);

impl OutputKey {
    /// The key of output `index` of `req`.
    pub fn new(req: &GenerationRequest, index: u32) -> Self {
        let mut h = Sha256::new();
        h.update(b"easel-sandbox-v1");
        // Length-prefix the strings so ("ab", "c") and ("a", "bc") hash differently.
        for part in [
            Some(&req.model),
            Some(&req.prompt),
            req.negative_prompt.as_ref(),
        ] {
            match part {
                Some(s) => {
                    h.update([1]);
                    h.update((s.len() as u64).to_le_bytes());
                    h.update(s.as_bytes());
                }
                None => h.update([0]),
            }
        }
        h.update(req.seed.to_le_bytes());
        h.update(req.width.to_le_bytes());
        h.update(req.height.to_le_bytes());
        h.update(index.to_le_bytes());
        Self(h.finalize().into())
    }
}

/// SplitMix64: tiny, fast and with no bad seeds; plenty for picking shapes.
struct Rng(u64);

impl Rng {
    fn new(key: &OutputKey) -> Self {
        let seed = key
            .0
            .chunks_exact(8)
            .map(|c| c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
            .fold(0u64, |acc, word| acc.rotate_left(17) ^ word);
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + unit * (hi - lo)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A vivid colour: hue anywhere, saturation and value in the given ranges.
    fn colour(&mut self, sat: (f64, f64), val: (f64, f64)) -> Rgb {
        let hue = self.range(0.0, 6.0);
        hsv(hue, self.range(sat.0, sat.1), self.range(val.0, val.1))
    }
}

/// HSV (hue in sextants, `0.0..6.0`) to RGB.
fn hsv(h: f64, s: f64, v: f64) -> Rgb {
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    let to8 = |f: f64| ((f + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    Rgb(to8(r), to8(g), to8(b))
}

#[derive(Debug, Clone, Copy)]
enum Form {
    /// Radius as a fraction of the shorter side.
    Disc { r: f64 },
    /// Width and height as fractions of the frame.
    Block { w: f64, h: f64 },
    /// A striped block; `period` is a fraction of the shorter side.
    Striped {
        w: f64,
        h: f64,
        dir: Stripes,
        period: f64,
    },
}

/// One shape and its motion over a clip (`t` from 0 to 1).
#[derive(Debug, Clone, Copy)]
struct Shape {
    form: Form,
    cx: f64,
    cy: f64,
    /// Amplitude of the motion, as fractions of the frame.
    ax: f64,
    ay: f64,
    /// Back-and-forth cycles per clip and starting point in the cycle, per axis.
    cycles: f64,
    phase_x: f64,
    phase_y: f64,
    color: Rgb,
    alpha: u8,
}

/// Everything needed to draw any frame of one output.
pub(super) struct Scene {
    from: Rgb,
    to: Rgb,
    dir: (f64, f64),
    shapes: Vec<Shape>,
}

impl Scene {
    /// The scene for `key`.
    pub fn new(key: &OutputKey) -> Self {
        let mut rng = Rng::new(key);
        let from = rng.colour((0.4, 0.9), (0.25, 0.6));
        let to = rng.colour((0.4, 0.9), (0.55, 0.95));
        // A direction on the unit square's border: varied angles without trigonometry.
        let (dx, dy) = match rng.below(4) {
            0 => (1.0, rng.range(-1.0, 1.0)),
            1 => (-1.0, rng.range(-1.0, 1.0)),
            2 => (rng.range(-1.0, 1.0), 1.0),
            _ => (rng.range(-1.0, 1.0), -1.0),
        };
        let count = 5 + rng.below(5);
        let shapes = (0..count).map(|_| shape(&mut rng)).collect();
        Self {
            from,
            to,
            dir: (dx, dy),
            shapes,
        }
    }

    /// Draws the frame at clip position `t` (0.0 for still images).
    pub fn draw(&self, canvas: &mut Canvas, t: f64) {
        canvas.gradient(self.from, self.to, self.dir.0, self.dir.1);
        let (w, h) = (canvas.width() as f64, canvas.height() as f64);
        let short = w.min(h);
        for s in &self.shapes {
            let x = (s.cx + s.ax * wave(s.cycles * t + s.phase_x)) * w;
            let y = (s.cy + s.ay * wave(s.cycles * t + s.phase_y)) * h;
            match s.form {
                Form::Disc { r } => canvas.disc(x, y, r * short, s.color, s.alpha),
                Form::Block { w: bw, h: bh } => {
                    canvas.rect(centred(x, y, bw * w, bh * h), s.color, s.alpha);
                }
                Form::Striped {
                    w: bw,
                    h: bh,
                    dir,
                    period,
                } => {
                    let period = (period * short).round().max(2.0);
                    // Stripes also scroll by one period per cycle.
                    let offset = (s.cycles * t * period).round() as i64;
                    let rect = centred(x, y, bw * w, bh * h);
                    canvas.stripes(rect, dir, period as i64, offset, s.color, s.alpha);
                }
            }
        }
    }
}

fn shape(rng: &mut Rng) -> Shape {
    let form = match rng.below(10) {
        0..=3 => Form::Disc {
            r: rng.range(0.06, 0.22),
        },
        4..=6 => Form::Block {
            w: rng.range(0.1, 0.4),
            h: rng.range(0.1, 0.4),
        },
        _ => Form::Striped {
            w: rng.range(0.25, 0.7),
            h: rng.range(0.2, 0.6),
            dir: [
                Stripes::Horizontal,
                Stripes::Vertical,
                Stripes::Rising,
                Stripes::Falling,
            ][rng.below(4) as usize],
            period: rng.range(0.03, 0.08),
        },
    };
    Shape {
        form,
        cx: rng.range(0.1, 0.9),
        cy: rng.range(0.1, 0.9),
        ax: rng.range(-0.2, 0.2),
        ay: rng.range(-0.2, 0.2),
        cycles: 1.0 + rng.below(2) as f64,
        phase_x: rng.range(0.0, 1.0),
        phase_y: rng.range(0.0, 1.0),
        color: rng.colour((0.5, 1.0), (0.6, 1.0)),
        alpha: 150 + rng.below(91) as u8,
    }
}

/// A smooth back-and-forth in `[-1, 1]` with period 1: a triangle wave eased at the turns.
fn wave(p: f64) -> f64 {
    let tri = 4.0 * (p - p.floor() - 0.5).abs() - 1.0;
    tri * (1.5 - 0.5 * tri * tri)
}

fn centred(x: f64, y: f64, w: f64, h: f64) -> Rect {
    Rect {
        x0: (x - w / 2.0).round() as i64,
        y0: (y - h / 2.0).round() as i64,
        x1: (x + w / 2.0).round() as i64,
        y1: (y + h / 2.0).round() as i64,
    }
}
