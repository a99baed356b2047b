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
