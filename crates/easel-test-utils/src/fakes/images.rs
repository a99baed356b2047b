//! Test pictures every fake backend returns: real PNGs of a requested size.

use std::io::Cursor;

/// A `width`×`height` RGB PNG whose pixels depend on `seed`, so two outputs differ.
pub fn png(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(Cursor::new(&mut out), width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let Ok(mut writer) = encoder.write_header() else {
            return Vec::new();
        };
        let mut data = Vec::with_capacity((width * height * 3) as usize);
        for y in 0..height {
            for x in 0..width {
                let v = (u64::from(x) * 7 + u64::from(y) * 13 + seed * 31) % 256;
                data.extend_from_slice(&[v as u8, (v as u8).wrapping_mul(3), (seed % 256) as u8]);
            }
        }
        if writer.write_image_data(&data).is_err() {
            return Vec::new();
        }
    }
    out
}
