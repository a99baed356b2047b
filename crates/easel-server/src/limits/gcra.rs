//! GCRA, the generic cell rate algorithm, in whole microseconds.
//!
//! A quota of `q` requests per `w` seconds becomes an emission interval `T = w / q` and a
//! burst tolerance of `q · T`. Each bucket stores one number, its theoretical arrival time
//! (TAT): the moment it would be empty again. A request is admitted if advancing the TAT
//! by `T` keeps it within the tolerance of now. So a full quota may arrive at once (exactly
//! `q` admitted, never `q + 1`), and after that one request comes back every `T`: no window
//! edge where 2q slip through in a moment, as fixed windows allow. Over any span of `w`
//! seconds a client can get at most `2q − 1` (a full bucket, then the steady refill), which
//! is the price of letting idle clients burst; the draft RateLimit fields describe it
//! truthfully because remaining and the time to the next unit are exact.
//!
//! Why GCRA over a sliding-window log: one integer per bucket (a log keeps up to `q`
//! timestamps, 10,000 for a pro day) and the same arithmetic in Rust and in Redis's Lua,
//! whose numbers are doubles: every value here stays an integer below 2^53.

/// One quota as GCRA parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per window.
    pub quota: u32,
    /// The window, in seconds.
    pub window_secs: u64,
    /// `T`: microseconds between two units coming back.
    pub interval_us: i64,
}

impl Rate {
    /// `quota` requests per `window_secs` (both at least 1; quotas above a million per
    /// window are refused by the config).
    pub fn new(quota: u32, window_secs: u64) -> Rate {
        let quota = quota.max(1);
        let window_us = i64::try_from(window_secs.max(1))
            .unwrap_or(i64::MAX / 1_000_000)
            .saturating_mul(1_000_000);
        Rate {
            quota,
            window_secs,
            // Rounded down, so `quota` requests at once always fit the tolerance exactly.
            interval_us: (window_us / i64::from(quota)).max(1),
        }
    }

    /// The burst tolerance: `q · T`.
    pub fn tolerance_us(&self) -> i64 {
        self.interval_us.saturating_mul(i64::from(self.quota))
    }

    /// Whether one more request fits at `now` given the bucket's TAT (`None`: full).
    pub fn admits(&self, tat: Option<i64>, now: i64) -> bool {
        let tat = tat.unwrap_or(now).max(now);
        tat + self.interval_us - now <= self.tolerance_us()
    }

    /// The TAT after admitting one request at `now`.
    pub fn advance(&self, tat: Option<i64>, now: i64) -> i64 {
        tat.unwrap_or(now).max(now) + self.interval_us
    }

    /// Requests that would be admitted now, one after another.
    pub fn remaining(&self, tat: Option<i64>, now: i64) -> u32 {
        let used = tat.unwrap_or(now).max(now) - now;
        let left = (self.tolerance_us() - used).max(0) / self.interval_us;
        u32::try_from(left).unwrap_or(u32::MAX).min(self.quota)
    }

    /// Whole seconds until one more request would be admitted than now (0 when the bucket
    /// is full). Rounded up, so a client that waits this long gets through.
    pub fn seconds_to_next(&self, tat: Option<i64>, now: i64) -> u64 {
        let used = tat.unwrap_or(now).max(now) - now;
        if used == 0 {
            return 0;
        }
        let remaining = i64::from(self.remaining(tat, now));
        // The next unit is back when `used` has shrunk to `tolerance − (remaining + 1) · T`.
        let wait_us = used - (self.tolerance_us() - (remaining + 1) * self.interval_us);
        u64::try_from(wait_us.max(0))
            .unwrap_or(0)
            .div_ceil(1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::Rate;

    const NOW: i64 = 1_800_000_000_000_000;

    /// Admits requests at `now` until refused; returns how many and the TAT.
    fn burst(rate: &Rate, mut tat: Option<i64>, now: i64) -> (u32, Option<i64>) {
        let mut n = 0;
        while rate.admits(tat, now) {
            tat = Some(rate.advance(tat, now));
            n += 1;
            assert!(n <= rate.quota, "never more than the quota at once");
        }
        (n, tat)
    }

    #[test]
    fn exactly_the_quota_is_admitted_at_once() {
        for (q, w) in [
            (10, 60),
            (60, 60),
            (7, 60),
            (100, 86_400),
            (10_000, 86_400),
            (1_000_000, 60),
            (1, 1),
        ] {
            let rate = Rate::new(q, w);
            let (n, tat) = burst(&rate, None, NOW);
            assert_eq!(n, q, "{q}/{w}s");
            assert_eq!(rate.remaining(tat, NOW), 0);
        }
    }

    #[test]
    fn the_advertised_wait_is_enough_and_not_more() {
        for (q, w) in [(10, 60), (60, 60), (7, 60), (100, 86_400), (3, 10)] {
            let rate = Rate::new(q, w);
            let (_, tat) = burst(&rate, None, NOW);
            let wait = rate.seconds_to_next(tat, NOW);
            assert!(wait >= 1);
            let later = NOW + i64::try_from(wait).unwrap_or(0) * 1_000_000;
            assert!(rate.admits(tat, later), "{q}/{w}s: admitted after {wait} s");
            let just_before = later - 1_000_000;
            assert!(
                !rate.admits(tat, just_before),
                "{q}/{w}s: not a second earlier"
            );
        }
    }

    #[test]
    fn quota_comes_back_steadily_and_fully() {
        let rate = Rate::new(60, 60);
        let (_, tat) = burst(&rate, None, NOW);
        // One per second comes back.
        assert_eq!(rate.remaining(tat, NOW + 1_000_000), 1);
        assert_eq!(rate.remaining(tat, NOW + 30_000_000), 30);
        // After a whole window the bucket is full (and can be forgotten).
        assert_eq!(rate.remaining(tat, NOW + 60_000_000), 60);
        assert_eq!(rate.seconds_to_next(tat, NOW + 60_000_000), 0);
    }

    #[test]
    fn a_fresh_bucket_is_full() {
        let rate = Rate::new(100, 86_400);
        assert_eq!(rate.remaining(None, NOW), 100);
        assert_eq!(rate.seconds_to_next(None, NOW), 0);
        let tat = Some(rate.advance(None, NOW));
        assert_eq!(rate.remaining(tat, NOW), 99);
        assert_eq!(rate.seconds_to_next(tat, NOW), 864, "a day / 100");
    }

    #[test]
    fn values_stay_exact_in_doubles() {
        // Redis's Lua computes with doubles: every value must be an integer below 2^53.
        let rate = Rate::new(1, 86_400 * 366);
        let tat = rate.advance(None, NOW);
        assert!(tat < (1_i64 << 53));
    }
}
