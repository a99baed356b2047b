//! When to try the server again after it did not answer: exponential backoff from 0.5 s
//! to 30 s with jitter, so a fleet of workers that lost the server at the same moment does
//! not come back in step; and an [`Outage`] that is logged once when it starts and once
//! when it ends, not once per try (a worker left running over a server restart would
//! otherwise fill its log).

use std::time::{Duration, Instant};

/// The pause after the first failure.
pub const FIRST: Duration = Duration::from_millis(500);
/// The longest pause.
pub const MAX: Duration = Duration::from_secs(30);

/// The pause after `failures` failures in a row (1 for the first), with `unit` in
/// `0.0..1.0` choosing where in the upper half of the step it falls ("equal jitter":
/// never less than half the step, so the schedule still backs off).
#[must_use]
pub fn delay(failures: u32, unit: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let step = FIRST.saturating_mul(1 << exponent).min(MAX);
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    step.div_f64(2.0).mul_f64(1.0 + unit)
}

/// [`delay`] with a random jitter.
#[must_use]
pub fn jittered(failures: u32) -> Duration {
    delay(failures, rand::random::<f64>())
}

/// One run of failures of the same call, from the first to the next success.
#[derive(Debug, Default)]
pub struct Outage {
    since: Option<Instant>,
    failures: u32,
}

/// What a failure means for the log and the pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// True on the first failure of an outage: the one to log as a warning.
    pub started: bool,
    /// How many failures in a row, this one included.
    pub failures: u32,
    /// How long to wait before the next try.
    pub pause: Duration,
}

impl Outage {
    /// Records a failure; `retry_after` (the server's own request) replaces the backoff
    /// when it asks for longer, up to [`MAX`].
    pub fn failed(&mut self, retry_after: Option<Duration>) -> Failure {
        let started = self.since.is_none();
        if started {
            self.since = Some(Instant::now());
        }
        self.failures = self.failures.saturating_add(1);
        let backoff = jittered(self.failures);
        let pause = retry_after.map_or(backoff, |after| backoff.max(after.min(MAX)));
        Failure {
            started,
            failures: self.failures,
            pause,
        }
    }

    /// Records a success; returns how long the outage lasted and how many tries failed,
    /// when there was one (the line to log that it ended).
    pub fn recovered(&mut self) -> Option<(Duration, u32)> {
        let since = self.since.take()?;
        let failures = std::mem::take(&mut self.failures);
        Some((since.elapsed(), failures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_doubles_from_half_a_second_to_thirty() {
        let top: Vec<u64> = (1..=9).map(|n| delay(n, 1.0).as_millis() as u64).collect();
        assert_eq!(
            top,
            [
                500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000
            ]
        );
        // Jitter stays within the upper half of each step.
        assert_eq!(delay(1, 0.0), Duration::from_millis(250));
        assert_eq!(delay(7, 0.0), Duration::from_secs(15));
        assert_eq!(delay(3, 0.5), Duration::from_millis(1_500));
        // Zero failures, huge counts and bad jitter never panic nor leave the range.
        assert_eq!(delay(0, 1.0), FIRST);
        assert_eq!(delay(u32::MAX, 1.0), MAX);
        assert_eq!(delay(2, f64::NAN), Duration::from_millis(500));
        assert_eq!(delay(2, 7.0), Duration::from_secs(1));
        for n in 1..50 {
            let d = jittered(n);
            assert!(d >= FIRST / 2 && d <= MAX, "{n}: {d:?}");
        }
    }

    #[test]
    fn an_outage_is_reported_once_and_its_end_once() {
        let mut outage = Outage::default();
        assert_eq!(outage.recovered(), None, "no outage, nothing to report");
        let first = outage.failed(None);
        assert!(first.started);
        let second = outage.failed(None);
        let third = outage.failed(None);
        assert!(!second.started && !third.started);
        assert_eq!(third.failures, 3);
        let (_, failures) = outage.recovered().unwrap_or_else(|| panic!("it ended"));
        assert_eq!(failures, 3);
        assert_eq!(outage.recovered(), None, "reported once");
        // The next outage starts over, from the short pause.
        let again = outage.failed(None);
        assert!(again.started);
        assert_eq!(again.failures, 1);
        assert!(again.pause <= FIRST);
    }

    #[test]
    fn the_servers_retry_after_lengthens_the_pause_but_not_past_the_cap() {
        let mut outage = Outage::default();
        let asked = outage.failed(Some(Duration::from_secs(5)));
        assert_eq!(asked.pause, Duration::from_secs(5));
        let greedy = outage.failed(Some(Duration::from_secs(3_600)));
        assert_eq!(greedy.pause, MAX);
        let short = outage.failed(Some(Duration::from_millis(1)));
        assert!(short.pause >= Duration::from_secs(1), "{:?}", short.pause);
    }
}
