//! The credit ledger's vocabulary.
//!
//! Credits are whole integers (1 credit = €0.001), never floats. Every movement is an
//! append-only ledger entry with two effects: on the balance (`amount`) and on the total
//! held by open holds (`held_change`). A hold moves nothing but reserves; a capture spends
//! what it reserved; a release frees it. So the entries' `amount`s always sum to the
//! balance, their `held_change`s to what is held, and available = balance − held.

use serde::{Deserialize, Serialize};

/// Largest single grant or purchase accepted (a billion euros), far from `i64` overflow.
pub const MAX_MOVEMENT: i64 = 1_000_000_000_000;

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerType {
    /// Credits given by the operator.
    Grant,
    /// Credits bought through the payment provider.
    Purchase,
    /// A plan's monthly credits.
    PlanAllowance,
    /// Credits reserved for a generation (moves no balance).
    Hold,
    /// A generation's cost, taken from what its hold reserved.
    Capture,
    /// What a hold reserved and no longer needs.
    Release,
    /// The configured fee for a request refused as invalid.
    InvalidInputFee,
    /// Credits given back.
    Refund,
    /// An operator's correction.
    Adjustment,
}

impl LedgerType {
    pub const ALL: [LedgerType; 9] = [
        LedgerType::Grant,
        LedgerType::Purchase,
        LedgerType::PlanAllowance,
        LedgerType::Hold,
        LedgerType::Capture,
        LedgerType::Release,
        LedgerType::InvalidInputFee,
        LedgerType::Refund,
        LedgerType::Adjustment,
    ];

    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            LedgerType::Grant => "grant",
            LedgerType::Purchase => "purchase",
            LedgerType::PlanAllowance => "plan_allowance",
            LedgerType::Hold => "hold",
            LedgerType::Capture => "capture",
            LedgerType::Release => "release",
            LedgerType::InvalidInputFee => "invalid_input_fee",
            LedgerType::Refund => "refund",
            LedgerType::Adjustment => "adjustment",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<LedgerType> {
        LedgerType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::LedgerType;

    #[test]
    fn spellings_round_trip() {
        for t in LedgerType::ALL {
            assert_eq!(LedgerType::parse(t.as_str()), Some(t));
        }
        assert_eq!(LedgerType::parse("gift"), None);
    }
}
