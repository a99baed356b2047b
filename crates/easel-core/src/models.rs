//! Models as the operator declares them: kinds, sizes, and what a call costs.
//!
//! Money is whole credits (1 credit = €0.001) computed with integer arithmetic only: a web
//! price in credits per megapixel (images) or per megapixel-second (video), times the
//! megapixels, the count or seconds, and the markup (a decimal kept as a fraction), rounded
//! up once at the end. No float ever touches a price.

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// What a model makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Image,
    Video,
}

impl ModelKind {
    /// The wire and stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ModelKind::Image => "image",
            ModelKind::Video => "video",
        }
    }
}

/// A size `WIDTHxHEIGHT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    /// Largest side accepted anywhere.
    pub const MAX_SIDE: u32 = 8192;

    /// Parses `512x512` (also `512X512`); each side 1..=8192.
    pub fn parse(s: &str) -> Option<Size> {
        let (w, h) = s.trim().split_once(['x', 'X'])?;
        let (width, height) = (w.parse().ok()?, h.parse().ok()?);
        let ok = |v: u32| (1..=Size::MAX_SIDE).contains(&v);
        (ok(width) && ok(height)).then_some(Size { width, height })
    }

    /// Pixels.
    pub fn pixels(self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// A price multiplier kept exact: `numerator / denominator` (1.5 is 15/10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Markup {
    numerator: u64,
    denominator: u64,
}

impl Markup {
    /// The spec's default markup, 1.5.
    pub const DEFAULT: Markup = Markup {
        numerator: 15,
        denominator: 10,
    };

    /// No markup: the web price itself.
    pub const NONE: Markup = Markup {
        numerator: 1,
        denominator: 1,
    };

    /// Parses a decimal such as `1.5`, `2`, `1.25` (at most 6 decimals, 1 to 100).
    pub fn parse(s: &str) -> Result<Markup, DomainError> {
        let bad = || {
            DomainError::invalid(
                "markup",
                "markup_invalid",
                format!("`{s}` is not a decimal between 1 and 100 with at most 6 decimals"),
            )
        };
        let (whole, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
        if whole.is_empty()
            || frac.len() > 6
            || !whole
                .bytes()
                .chain(frac.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let denominator = 10_u64.pow(frac.len() as u32);
        let numerator: u64 = format!("{whole}{frac}").parse().map_err(|_| bad())?;
        if numerator < denominator || numerator > 100 * denominator {
            return Err(bad());
        }
        Ok(Markup {
            numerator,
            denominator,
        })
    }
}

/// The API price in credits: ceil(web × pixel_units / 10^6 × markup), where `pixel_units` is
/// pixels times images or seconds.
fn price(web_price: u64, pixel_units: u128, markup: Markup) -> i64 {
    let den = 1_000_000_u128 * u128::from(markup.denominator);
    u128::from(web_price)
        .checked_mul(pixel_units)
        .and_then(|v| v.checked_mul(u128::from(markup.numerator)))
        .and_then(|num| i64::try_from(num.div_ceil(den)).ok())
        // Beyond i64 credits is no price anyone can pay; saturate rather than wrap.
        .unwrap_or(i64::MAX)
}

/// Credits for `n` images of `size` at `web_per_megapixel` credits per megapixel.
pub fn image_price(web_per_megapixel: u64, size: Size, n: u32, markup: Markup) -> i64 {
    price(
        web_per_megapixel,
        u128::from(size.pixels()) * u128::from(n),
        markup,
    )
}

/// Credits for a video of `size` lasting `seconds` at `web_per_megapixel_second`.
pub fn video_price(web_per_megapixel_second: u64, size: Size, seconds: u32, markup: Markup) -> i64 {
    price(
        web_per_megapixel_second,
        u128::from(size.pixels()) * u128::from(seconds),
        markup,
    )
}

/// Credits as euros, exactly (`15` → `"0.015"`).
pub fn credits_to_eur(credits: i64) -> String {
    let sign = if credits < 0 { "-" } else { "" };
    let c = credits.unsigned_abs();
    format!("{sign}{}.{:03}", c / 1000, c % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Markup {
        Markup::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn sizes_parse_strictly() {
        assert_eq!(
            Size::parse("512x768"),
            Some(Size {
                width: 512,
                height: 768
            })
        );
        assert_eq!(
            Size::parse(" 1024X1024 "),
            Some(Size {
                width: 1024,
                height: 1024
            })
        );
        for bad in [
            "512", "x512", "512x", "0x512", "512x-1", "99999x1", "5.5x2", "axb", "",
        ] {
            assert_eq!(Size::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Size {
                width: 3,
                height: 4
            }
            .to_string(),
            "3x4"
        );
    }

    #[test]
    fn markups_are_exact_fractions() {
        assert_eq!(
            m("1.5"),
            Markup {
                numerator: 15,
                denominator: 10
            }
        );
        assert_eq!(
            m("2"),
            Markup {
                numerator: 2,
                denominator: 1
            }
        );
        for bad in [
            "0.5",
            "abc",
            "1.1234567",
            "-1.5",
            "",
            "101",
            "1e3",
            "1.5.1",
            ".5",
        ] {
            assert!(Markup::parse(bad).is_err(), "{bad}");
        }
    }

    /// The bounds are inclusive: exactly 1 and exactly 100, with exactly 6 decimals.
    #[test]
    fn markups_accept_their_bounds_and_six_decimals_exactly() {
        for (text, numerator, denominator) in [
            ("1", 1, 1),
            ("1.0", 10, 10),
            ("1.000000", 1_000_000, 1_000_000),
            ("1.000001", 1_000_001, 1_000_000),
            ("1.234567", 1_234_567, 1_000_000),
            ("100", 100, 1),
            ("100.000000", 100_000_000, 1_000_000),
            (" 2.5 ", 25, 10),
        ] {
            assert_eq!(
                Markup::parse(text),
                Ok(Markup {
                    numerator,
                    denominator
                }),
                "{text:?}"
            );
        }
        for bad in ["0.999999", "100.000001", "1.0000000", "100.1", "0", "1,5"] {
            assert!(Markup::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn model_kinds_keep_their_wire_spellings() {
        for (kind, spelling) in [(ModelKind::Image, "image"), (ModelKind::Video, "video")] {
            assert_eq!(kind.as_str(), spelling);
            assert_eq!(crate::from_wire::<ModelKind>(spelling), Some(kind));
        }
        assert_eq!(crate::from_wire::<ModelKind>("Image"), None);
    }

    #[test]
    fn sizes_accept_the_largest_side_and_count_pixels() {
        let largest = Size::parse("8192x8192");
        assert_eq!(largest.map(Size::pixels), Some(8192 * 8192));
        assert_eq!(Size::parse("8193x1"), None);
        assert_eq!(Size::parse("1x8193"), None);
        assert_eq!(Size::parse("1x1").map(Size::pixels), Some(1));
        assert_eq!(Size::parse("3x5").map(Size::pixels), Some(15));
    }

    #[test]
    fn prices_round_up_once_and_exactly() {
        // 10 credits/MP at 512x512 (0.262144 MP) × 1.5 = 3.93216 → 4 credits per image.
        let s512 = Size {
            width: 512,
            height: 512,
        };
        assert_eq!(image_price(10, s512, 1, m("1.5")), 4);
        // Four images: 15.72864 → 16, not 4 × 4 (one rounding for the whole call).
        assert_eq!(image_price(10, s512, 4, m("1.5")), 16);
        // 1024x1024 is 1.048576 MP: 10 × 1.048576 × 1.5 = 15.72864 → 16.
        assert_eq!(
            image_price(
                10,
                Size {
                    width: 1024,
                    height: 1024
                },
                1,
                m("1.5")
            ),
            16
        );
        // Exact products are not rounded up: 1000x1000 at 10/MP × 1.5 = 15.
        assert_eq!(
            image_price(
                10,
                Size {
                    width: 1000,
                    height: 1000
                },
                1,
                m("1.5")
            ),
            15
        );
        // Video: 20 credits per MP-second, 640x360 (0.2304 MP), 4 s, × 1.5 = 27.648 → 28.
        assert_eq!(
            video_price(
                20,
                Size {
                    width: 640,
                    height: 360
                },
                4,
                m("1.5")
            ),
            28
        );
        assert_eq!(image_price(0, s512, 4, m("1.5")), 0);
        assert_eq!(
            image_price(
                u64::MAX,
                Size {
                    width: 8192,
                    height: 8192
                },
                u32::MAX,
                m("100")
            ),
            i64::MAX
        );
    }

    #[test]
    fn euros_are_exact() {
        assert_eq!(credits_to_eur(15), "0.015");
        assert_eq!(credits_to_eur(12_345), "12.345");
        assert_eq!(credits_to_eur(0), "0.000");
        assert_eq!(credits_to_eur(-1), "-0.001");
    }
}
