//! The job state machine shared by the queue and everything built on it.
//!
//! `queued → running → succeeded | failed | canceled`, `running → queued` (a retry, or a
//! lease that expired because its worker died), `queued → canceled | expired`.

use serde::{Deserialize, Serialize};

/// Where a job, and so the generation it runs, stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = GenerationStatus)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
    Expired,
}

impl JobStatus {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
            JobStatus::Expired => "expired",
        }
    }

    /// Every status, in the order of a job's life.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Canceled,
        JobStatus::Expired,
    ];

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
    }

    /// Whether the job has ended for good.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled | JobStatus::Expired
        )
    }
}

/// Delay before retry number `attempt` (1-based: the delay after the first failure is
/// `attempt = 1`): exponential from `base_ms`, capped at `max_ms`, with up to 20% jitter
/// drawn from `jitter` (0.0–1.0) so that failures of many jobs do not retry in lockstep.
pub fn backoff_ms(attempt: u32, base_ms: i64, max_ms: i64, jitter: f64) -> i64 {
    let exp = base_ms.saturating_mul(1_i64 << attempt.saturating_sub(1).min(30));
    let capped = exp.min(max_ms);
    // The jitter only lengthens the delay; the float is bounded to [0, 0.2 * capped].
    let extra = (capped as f64 * 0.2 * jitter.clamp(0.0, 1.0)) as i64;
    capped + extra
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_terminality() {
        for s in [
            "queued",
            "running",
            "succeeded",
            "failed",
            "canceled",
            "expired",
        ] {
            assert_eq!(JobStatus::parse(s).map(JobStatus::as_str), Some(s));
        }
        assert_eq!(JobStatus::parse("done"), None);
        assert!(!JobStatus::Queued.is_terminal() && !JobStatus::Running.is_terminal());
        for status in [
            JobStatus::Succeeded,
            JobStatus::Failed,
            JobStatus::Canceled,
            JobStatus::Expired,
        ] {
            assert!(status.is_terminal(), "{status:?}");
        }
    }

    #[test]
    fn backoff_grows_caps_and_jitters_upwards() {
        assert_eq!(backoff_ms(1, 1_000, 60_000, 0.0), 1_000);
        assert_eq!(backoff_ms(2, 1_000, 60_000, 0.0), 2_000);
        assert_eq!(backoff_ms(4, 1_000, 60_000, 0.0), 8_000);
        assert_eq!(backoff_ms(30, 1_000, 60_000, 0.0), 60_000);
        assert_eq!(backoff_ms(u32::MAX, 1_000, 60_000, 0.0), 60_000);
        assert_eq!(backoff_ms(1, 1_000, 60_000, 1.0), 1_200);
        assert_eq!(backoff_ms(0, 1_000, 60_000, 0.0), 1_000);
    }
}
