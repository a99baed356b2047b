//! Retrying one lease's calls (input download, uploads, completion, failure report) until
//! the lease's deadline: a finished output is never dropped because the server blipped,
//! and a call the server refuses for good (a 4xx) stops at once.

use std::future::Future;
use std::time::Duration;

use easel_engines::StopToken;
use tokio::time::Instant;

use super::backoff::Outage;
use super::client::{CallError, Problem};

/// Why a retried call gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaveUp {
    /// The server refused it, and would again.
    Rejected(Problem),
    /// The deadline came while the server was away; the last failure.
    Deadline(String),
    /// The stop token fired (the lease ended or the worker is stopping).
    Stopped,
}

impl GaveUp {
    /// The lease ended on the server (see [`CallError::lease_gone`]).
    pub fn lease_gone(&self) -> bool {
        matches!(self, GaveUp::Rejected(problem) if problem.lease_gone())
    }
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GaveUp::Rejected(problem) => write!(f, "{problem}"),
            GaveUp::Deadline(last) => write!(f, "gave up at the lease's deadline; last: {last}"),
            GaveUp::Stopped => f.write_str("stopped"),
        }
    }
}

/// Runs `call` until it succeeds, is refused, `deadline` passes or `stop` fires; each try
/// is itself cut at the deadline. Logs the first failure of a run of them as a warning
/// and its end, like the claim loop's outages.
pub async fn until<T, F, Fut>(
    what: &str,
    lease_id: &str,
    deadline: Instant,
    stop: &StopToken,
    mut call: F,
) -> Result<T, GaveUp>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut outage = Outage::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(GaveUp::Deadline("no time left".to_owned()));
        }
        let attempt = tokio::select! {
            () = stop.cancelled() => return Err(GaveUp::Stopped),
            answer = tokio::time::timeout(left, call(left)) => answer,
        };
        let error = match attempt {
            Ok(Ok(value)) => {
                if let Some((lasted, failures)) = outage.recovered() {
                    tracing::info!(lease.id = %lease_id, call = %what, failures, lasted_ms = lasted.as_millis() as u64, "the call went through after retrying");
                }
                return Ok(value);
            }
            Ok(Err(CallError::Rejected { problem, .. })) => return Err(GaveUp::Rejected(problem)),
            Ok(Err(e)) => e,
            Err(_) => return Err(GaveUp::Deadline(format!("{what}: timed out"))),
        };
        let failure = outage.failed(error.retry_after());
        if failure.started {
            tracing::warn!(lease.id = %lease_id, call = %what, error = %error, "the server did not take the call; retrying until the lease's deadline");
        } else {
            tracing::debug!(lease.id = %lease_id, call = %what, error = %error, failures = failure.failures, "retrying");
        }
        if Instant::now() + failure.pause >= deadline {
            return Err(GaveUp::Deadline(error.to_string()));
        }
        tokio::select! {
            () = stop.cancelled() => return Err(GaveUp::Stopped),
            () = tokio::time::sleep(failure.pause) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn down() -> CallError {
        CallError::Unavailable {
            what: "x".to_owned(),
            detail: "refused".to_owned(),
            retry_after: None,
        }
    }

    fn rejected(status: u16) -> CallError {
        CallError::Rejected {
            what: "x".to_owned(),
            problem: Problem {
                status,
                code: "lease_lost".to_owned(),
                message: String::new(),
                request_id: None,
                retry_after: None,
                by_server: true,
            },
        }
    }

    // Real time, kept short: the first pauses of the schedule are a quarter to half a
    // second.
    #[tokio::test]
    async fn outages_are_retried_until_the_call_goes_through() {
        let tries = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&tries);
        let deadline = Instant::now() + Duration::from_secs(60);
        let got = until(
            "complete",
            "lease_1",
            deadline,
            &StopToken::new(),
            move |_| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move { if n < 2 { Err(down()) } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!(got, Ok(2));
        assert_eq!(tries.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_refusal_stops_at_once_and_the_deadline_ends_an_outage() {
        let tries = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&tries);
        let deadline = Instant::now() + Duration::from_secs(60);
        let got: Result<(), _> = until("complete", "l", deadline, &StopToken::new(), move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Err(rejected(409)) }
        })
        .await;
        assert!(matches!(&got, Err(e) if e.lease_gone()), "{got:?}");
        assert_eq!(tries.load(Ordering::SeqCst), 1);

        let tries = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&tries);
        let deadline = Instant::now() + Duration::from_millis(1_500);
        let got: Result<(), _> = until("upload", "l", deadline, &StopToken::new(), move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Err(down()) }
        })
        .await;
        assert!(matches!(got, Err(GaveUp::Deadline(_))), "{got:?}");
        assert!(
            Instant::now() <= deadline + Duration::from_millis(200),
            "it must not sleep past the deadline"
        );
        assert!(tries.load(Ordering::SeqCst) >= 2, "it retried");
    }

    #[tokio::test]
    async fn a_hung_call_is_cut_at_the_deadline_and_stop_ends_the_wait() {
        let deadline = Instant::now() + Duration::from_millis(300);
        let got: Result<(), _> = until("upload", "l", deadline, &StopToken::new(), |_| {
            std::future::pending::<Result<(), CallError>>()
        })
        .await;
        assert!(matches!(got, Err(GaveUp::Deadline(_))), "{got:?}");

        // The server asks for 30 s; the stop (a lost lease) must not wait for them.
        let stop = StopToken::new();
        let fire = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            fire.cancel();
        });
        let started = Instant::now();
        let deadline = started + Duration::from_secs(120);
        let got: Result<(), _> = until("upload", "l", deadline, &stop, |_| async {
            Err(CallError::Unavailable {
                what: "x".to_owned(),
                detail: "HTTP 503".to_owned(),
                retry_after: Some(Duration::from_secs(30)),
            })
        })
        .await;
        assert_eq!(got, Err(GaveUp::Stopped));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn only_the_servers_own_refusals_mean_the_lease_is_gone() {
        let mut store = rejected(404);
        if let CallError::Rejected { problem, .. } = &mut store {
            problem.by_server = false;
        }
        assert!(
            !store.lease_gone(),
            "an object store's 404 is not a lost lease"
        );
        assert!(rejected(409).lease_gone());
        assert!(rejected(404).lease_gone() && rejected(401).lease_gone());
        assert!(!rejected(400).lease_gone() && !rejected(403).lease_gone());
        assert!(!down().lease_gone());
    }
}
