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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = LedgerEntryType)]
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

/// What happens to the hold of a generation whose outputs output moderation blocked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockedOutputPolicy {
    /// Release it all: the customer pays nothing for a blocked output.
    #[default]
    Release,
    /// Capture it: the work was done, and the request asked for it.
    Charge,
}

impl BlockedOutputPolicy {
    /// The config spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            BlockedOutputPolicy::Release => "release",
            BlockedOutputPolicy::Charge => "charge",
        }
    }
}

/// The window a key's spend cap counts in (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapPeriod {
    Day,
    Month,
}

impl CapPeriod {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            CapPeriod::Day => "day",
            CapPeriod::Month => "month",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<CapPeriod> {
        match s {
            "day" => Some(CapPeriod::Day),
            "month" => Some(CapPeriod::Month),
            _ => None,
        }
    }

    /// When the period containing `now_ms` began (UTC midnight, or the first of the month).
    pub fn start(self, now_ms: i64) -> i64 {
        let day = now_ms.div_euclid(86_400_000);
        match self {
            CapPeriod::Day => day * 86_400_000,
            CapPeriod::Month => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1) * 86_400_000
            }
        }
    }
}

/// An optional limit on what one key may spend per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendCap {
    /// Credits per period, at least 1.
    pub credits: i64,
    pub period: CapPeriod,
}

/// (year, month, day) of a count of days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::{CapPeriod, LedgerType};

    #[test]
    fn periods_start_at_utc_midnight_and_the_first_of_the_month() {
        // 2026-11-24T09:15:00Z
        let now = 1_795_511_700_000;
        assert_eq!(CapPeriod::Day.start(now), 1_795_478_400_000); // 2026-11-24T00:00Z
        assert_eq!(CapPeriod::Month.start(now), 1_793_491_200_000); // 2026-11-01T00:00Z
        // 2024-03-01T00:00Z is its own month start; the day before belongs to February.
        assert_eq!(CapPeriod::Month.start(1_709_251_200_000), 1_709_251_200_000);
        assert_eq!(CapPeriod::Month.start(1_709_251_199_999), 1_706_745_600_000);
        assert_eq!(CapPeriod::parse("week"), None);
    }

    #[test]
    fn spellings_round_trip() {
        for t in LedgerType::ALL {
            assert_eq!(LedgerType::parse(t.as_str()), Some(t));
        }
        assert_eq!(LedgerType::parse("gift"), None);
    }
}
