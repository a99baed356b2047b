//! When a failed delivery is tried again: exponential backoff with jitter, about three
//! days in all (REFERENCE.md §2's example schedule, which Svix and Stripe resemble).

use std::time::Duration;

/// Seconds to wait after the 1st, 2nd, … failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h, 14 h, 20 h, 24 h (about 75.6 hours from the first attempt to the last).
pub const DEFAULT_SECONDS: [u64; 9] =
    [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400];

/// How much a delay varies either way, so endpoints that failed together (an outage) are
/// not all retried in the same second.
const JITTER: f64 = 0.1;

/// The waits between attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::from_seconds(&DEFAULT_SECONDS)
    }
}

impl RetrySchedule {
    /// A schedule from seconds (the config's form); an empty one never retries.
    pub fn from_seconds(seconds: &[u64]) -> RetrySchedule {
        RetrySchedule {
            delays: seconds.iter().map(|s| Duration::from_secs(*s)).collect(),
        }
    }

    /// Attempts in all: the first and one per delay.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.delays.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The wait after `failed` attempts have failed (1 = the first), with `unit` in
    /// [0, 1) choosing the jitter; `None` once the schedule is exhausted.
    pub fn next(&self, failed: u32, unit: f64) -> Option<Duration> {
        let base = self
            .delays
            .get(usize::try_from(failed.checked_sub(1)?).ok()?)?;
        let factor = 1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0);
        Some(base.mul_f64(factor))
    }

    /// The time from the first attempt to the last, without jitter.
    pub fn span(&self) -> Duration {
        self.delays.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_spans_about_three_days() {
        let s = RetrySchedule::default();
        assert_eq!(s.attempts(), 10);
        let hours = s.span().as_secs_f64() / 3600.0;
        assert!((75.0..76.0).contains(&hours), "{hours} h");
        assert_eq!(s.next(0, 0.5), None, "nothing has failed yet");
        assert_eq!(s.next(1, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(s.next(9, 0.5), Some(Duration::from_secs(86_400)));
        assert_eq!(s.next(10, 0.5), None, "exhausted");
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_grows_with_the_attempt() {
        let s = RetrySchedule::default();
        for failed in 1..=9 {
            let low = s.next(failed, 0.0).unwrap_or_default();
            let high = s.next(failed, 0.999_999).unwrap_or_default();
            let base = Duration::from_secs(DEFAULT_SECONDS[failed as usize - 1]);
            assert!(
                low >= base.mul_f64(0.9) && high <= base.mul_f64(1.1),
                "{failed}"
            );
            assert!(low < high);
            if failed > 1 {
                assert!(
                    s.next(failed, 0.5) > s.next(failed - 1, 0.5),
                    "backoff grows"
                );
            }
        }
        assert_eq!(RetrySchedule::from_seconds(&[]).next(1, 0.5), None);
    }
}
