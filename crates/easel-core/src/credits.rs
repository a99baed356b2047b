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

/// Whether a change of the available balance from `before` to `after` crosses a
/// low-balance `threshold` downwards (`credits.low`): it was at or above it and is now
/// below. A threshold of 0 or less never fires. Every crossing fires once; the next can
/// only come after the balance went back to the threshold or above.
pub fn crosses_low(before: i64, after: i64, threshold: i64) -> bool {
    threshold > 0 && before >= threshold && after < threshold
}

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
    use super::{BlockedOutputPolicy, CapPeriod, LedgerType, civil_from_days, days_from_civil};

    #[test]
    fn a_low_balance_fires_on_the_way_down_only() {
        assert!(super::crosses_low(1000, 999, 1000));
        assert!(super::crosses_low(5000, 0, 1000));
        assert!(!super::crosses_low(999, 500, 1000), "already below");
        assert!(
            !super::crosses_low(1500, 1000, 1000),
            "at the threshold is not below"
        );
        assert!(!super::crosses_low(500, 1500, 1000), "upwards");
        assert!(!super::crosses_low(5, 0, 0), "0 is off");
    }

    const DAY_MS: i64 = 86_400_000;

    /// (year, month, days in it, its first millisecond, the next month's first), computed
    /// independently (Python's `datetime` and `calendar`), never with the code under test:
    /// every month of a leap year and of a common year, then February and March of 2100
    /// (divisible by 100: no 29 February) and 2000 (divisible by 400: one), December
    /// 1969 (before the epoch) and February 1900.
    const MONTHS: [(i64, i64, i64, i64, i64); 30] = [
        (2024, 1, 31, 1704067200000, 1706745600000),
        (2024, 2, 29, 1706745600000, 1709251200000),
        (2024, 3, 31, 1709251200000, 1711929600000),
        (2024, 4, 30, 1711929600000, 1714521600000),
        (2024, 5, 31, 1714521600000, 1717200000000),
        (2024, 6, 30, 1717200000000, 1719792000000),
        (2024, 7, 31, 1719792000000, 1722470400000),
        (2024, 8, 31, 1722470400000, 1725148800000),
        (2024, 9, 30, 1725148800000, 1727740800000),
        (2024, 10, 31, 1727740800000, 1730419200000),
        (2024, 11, 30, 1730419200000, 1733011200000),
        (2024, 12, 31, 1733011200000, 1735689600000),
        (2025, 1, 31, 1735689600000, 1738368000000),
        (2025, 2, 28, 1738368000000, 1740787200000),
        (2025, 3, 31, 1740787200000, 1743465600000),
        (2025, 4, 30, 1743465600000, 1746057600000),
        (2025, 5, 31, 1746057600000, 1748736000000),
        (2025, 6, 30, 1748736000000, 1751328000000),
        (2025, 7, 31, 1751328000000, 1754006400000),
        (2025, 8, 31, 1754006400000, 1756684800000),
        (2025, 9, 30, 1756684800000, 1759276800000),
        (2025, 10, 31, 1759276800000, 1761955200000),
        (2025, 11, 30, 1761955200000, 1764547200000),
        (2025, 12, 31, 1764547200000, 1767225600000),
        (2100, 2, 28, 4105123200000, 4107542400000),
        (2100, 3, 31, 4107542400000, 4110220800000),
        (2000, 2, 29, 949363200000, 951868800000),
        (2000, 3, 31, 951868800000, 954547200000),
        (1969, 12, 31, -2678400000, 0),
        (1900, 2, 28, -2206310400000, -2203891200000),
    ];

    /// Monthly spend caps, billing periods and usage ranges start where this says: the
    /// first and the last millisecond of every month belong to that month.
    #[test]
    fn every_month_starts_on_its_first_and_ends_on_its_last_millisecond() {
        for (year, month, days, first, next) in MONTHS {
            let last = next - 1;
            let at = format!("{year}-{month:02}");
            assert_eq!(CapPeriod::Month.start(first), first, "{at} first ms");
            assert_eq!(CapPeriod::Month.start(last), first, "{at} last ms");
            assert_eq!(
                CapPeriod::Month.start(first + 14 * DAY_MS),
                first,
                "{at} mid"
            );
            assert_ne!(CapPeriod::Month.start(first - 1), first, "{at} ms before");
            assert_eq!(next - first, days * DAY_MS, "{at}: the table is wrong");
            assert_eq!(CapPeriod::Day.start(first), first, "{at} day of the first");
            assert_eq!(CapPeriod::Day.start(last), next - DAY_MS, "{at} last day");
            assert_eq!(CapPeriod::Day.start(first - 1), first - DAY_MS, "{at} eve");
        }
    }

    /// The calendar helpers themselves, on the same table: the first and last day of
    /// each month, and the day count of each first.
    #[test]
    fn civil_dates_convert_both_ways_on_every_month_boundary() {
        for (year, month, days, first, next) in MONTHS {
            let first_day = first.div_euclid(DAY_MS);
            let last_day = next.div_euclid(DAY_MS) - 1;
            assert_eq!(
                civil_from_days(first_day),
                (year, month, 1),
                "day {first_day}"
            );
            assert_eq!(
                civil_from_days(last_day),
                (year, month, days),
                "day {last_day}"
            );
            assert_eq!(
                days_from_civil(year, month, 1),
                first_day,
                "{year}-{month}-01"
            );
            assert_eq!(
                days_from_civil(year, month, days),
                last_day,
                "{year}-{month}-{days}"
            );
        }
        // 2100-03-01 follows 2100-02-28: there is no 2100-02-29.
        let march_2100 = 4_107_542_400_000_i64.div_euclid(DAY_MS);
        assert_eq!(civil_from_days(march_2100 - 1), (2100, 2, 28));
        assert_eq!(civil_from_days(march_2100), (2100, 3, 1));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn cap_periods_and_blocked_output_policies_keep_their_wire_spellings() {
        for (period, spelling) in [(CapPeriod::Day, "day"), (CapPeriod::Month, "month")] {
            assert_eq!(period.as_str(), spelling);
            assert_eq!(CapPeriod::parse(spelling), Some(period));
            assert_eq!(crate::from_wire::<CapPeriod>(spelling), Some(period));
        }
        assert_eq!(CapPeriod::parse("Month"), None);
        assert_eq!(CapPeriod::parse(""), None);
        for (policy, spelling) in [
            (BlockedOutputPolicy::Release, "release"),
            (BlockedOutputPolicy::Charge, "charge"),
        ] {
            assert_eq!(policy.as_str(), spelling);
            assert_eq!(
                crate::from_wire::<BlockedOutputPolicy>(spelling),
                Some(policy)
            );
        }
        assert_eq!(crate::from_wire::<BlockedOutputPolicy>("Charge"), None);
        assert_eq!(BlockedOutputPolicy::default(), BlockedOutputPolicy::Release);
    }

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
            assert_eq!(crate::from_wire::<LedgerType>(t.as_str()), Some(t));
        }
        assert_eq!(LedgerType::parse("gift"), None);
    }
}
