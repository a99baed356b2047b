//! Time as the store keeps it: Unix milliseconds in an `i64`, the same in both dialects.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Milliseconds to whole seconds, as the API shows timestamps (Stripe style).
pub fn ms_to_secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::{ms_to_secs, now_ms};

    #[test]
    fn now_is_the_wall_clock_in_milliseconds() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .expect("the clock is after 1970");
        let now = i128::from(now_ms());
        // After 2026-01-01 and within a second of the system clock, in milliseconds.
        assert!(now > 1_767_225_600_000, "{now}");
        assert!((now - before as i128).abs() < 1_000, "{now} vs {before}");
    }

    #[test]
    fn milliseconds_round_down_to_seconds_even_before_the_epoch() {
        assert_eq!(ms_to_secs(1_999), 1);
        assert_eq!(ms_to_secs(2_000), 2);
        assert_eq!(ms_to_secs(0), 0);
        assert_eq!(ms_to_secs(-1), -1);
    }
}
