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
