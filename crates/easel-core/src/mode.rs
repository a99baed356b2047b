//! Test mode and live mode: two worlds that never see each other's data.

use serde::{Deserialize, Serialize};

/// Which world a key, and everything it creates, lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Test,
    Live,
}

impl Mode {
    /// The spelling used in keys, the database and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }

    /// Parses the stored or typed spelling.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "test" => Some(Mode::Test),
            "live" => Some(Mode::Live),
            _ => None,
        }
    }

    /// `livemode` as Stripe spells it on every object.
    pub const fn is_live(self) -> bool {
        matches!(self, Mode::Live)
    }
}

#[cfg(test)]
mod tests {
    use super::Mode;

    #[test]
    fn modes_keep_their_wire_spellings_and_only_live_is_live() {
        for (mode, spelling, live) in [(Mode::Test, "test", false), (Mode::Live, "live", true)] {
            assert_eq!(mode.as_str(), spelling);
            assert_eq!(Mode::parse(spelling), Some(mode));
            assert_eq!(crate::from_wire::<Mode>(spelling), Some(mode));
            assert_eq!(mode.is_live(), live, "{spelling}");
        }
        for bad in ["Live", "prod", ""] {
            assert_eq!(Mode::parse(bad), None, "{bad:?}");
        }
    }
}
