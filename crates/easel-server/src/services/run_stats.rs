//! Recent run times per model, for the ETAs of queued generations and quotes.
//!
//! Each node keeps an exponentially weighted mean of the run times it observes: recent runs
//! count most, one slow outlier does not swing the estimate, and nothing is written per job.
//! Until a model has run on this node there is no estimate (`eta_seconds` is null), which is
//! more honest than a guess.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Weight of the newest observation.
const ALPHA: f64 = 0.2;

/// Mean run time per model.
#[derive(Default)]
pub struct RunStats {
    mean_ms: Mutex<HashMap<String, f64>>,
}

impl RunStats {
    /// Records one finished run of `model`.
    pub fn record(&self, model: &str, took: Duration) {
        let ms = took.as_secs_f64() * 1000.0;
        let mut map = match self.mean_ms.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(model.to_string())
            .and_modify(|mean| *mean += ALPHA * (ms - *mean))
            .or_insert(ms);
    }

    /// The mean run time of `model`, if it has run here.
    pub fn mean(&self, model: &str) -> Option<Duration> {
        let map = match self.mean_ms.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(model)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
    }

    /// Seconds until a job with `ahead` jobs before it finishes, with `slots` running at
    /// once: the jobs ahead run in waves of `slots`, then this one runs. Rounded up.
    pub fn eta_seconds(&self, model: &str, ahead: i64, slots: u32) -> Option<i64> {
        let mean = self.mean(model)?.as_secs_f64();
        let waves = (ahead.max(0) / i64::from(slots.max(1))) + 1;
        Some((mean * waves as f64).ceil() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_counts_waves_of_slots_and_follows_recent_runs() {
        let stats = RunStats::default();
        assert_eq!(
            stats.eta_seconds("m", 0, 2),
            None,
            "no runs yet: no estimate"
        );
        stats.record("m", Duration::from_millis(1500));
        assert_eq!(stats.eta_seconds("m", 0, 2), Some(2));
        assert_eq!(
            stats.eta_seconds("m", 1, 2),
            Some(2),
            "runs beside the one ahead"
        );
        assert_eq!(stats.eta_seconds("m", 2, 2), Some(3), "waits one wave");
        stats.record("m", Duration::from_millis(3500));
        assert_eq!(stats.mean("m"), Some(Duration::from_millis(1900)));
    }
}
