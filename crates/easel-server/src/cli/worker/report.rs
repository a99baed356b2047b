//! The end of a lease: completing it, reporting its failure (or nothing, when the server
//! ended it), and the one log line that says how the job went.

use std::time::Duration;

use easel_engines::{EngineError, StopToken};
use tokio::time::Instant;

use super::heartbeat::Ended;
use super::lease::Job;
use super::outcome::{self, Outcome};
use super::retry::{self, GaveUp};
use crate::api::worker::dto::{CompleteRequest, CompletedOutput, FailRequest, Lease};

/// However late it is, a report gets this long to go through (the server answers 409
/// quickly when the lease has lapsed meanwhile).
const REPORT_MIN: Duration = Duration::from_secs(10);

/// Why a job stopped before its completion.
#[derive(Debug, Clone)]
pub enum Halt {
    /// Report this failure; `detail` is the full reason, for the log.
    Fail {
        request: FailRequest,
        detail: String,
    },
    /// The server ended the lease (canceled, lapsed): nothing to report.
    Ended,
    /// The worker is shutting down: report the job `interrupted`.
    Interrupted,
    /// The server could not be reached before the deadline; the lease will lapse there.
    Abandoned(String),
}

impl Halt {
    /// A failure whose log detail is its message.
    pub fn fail(request: FailRequest) -> Halt {
        Halt::Fail {
            detail: request.message.clone(),
            request,
        }
    }
}

/// The halt an engine's failure (or an output check's) makes. Whatever the engine said, a
/// lease the server ended reports nothing, and a run stopped by the worker's shutdown is
/// reported `interrupted`: the failure was most likely the stop itself.
pub fn engine_halt(e: &EngineError, ended: Option<Ended>, shutting_down: bool) -> Halt {
    if ended.is_some() {
        return Halt::Ended;
    }
    if shutting_down {
        return Halt::Interrupted;
    }
    match outcome::fail_request(e) {
        Some(request) => Halt::Fail {
            detail: e.detail().to_owned(),
            request,
        },
        // Canceled, and nothing outside asked: worth another try, here or elsewhere.
        None => Halt::fail(outcome::transient(
            "the engine stopped the run without being asked to",
        )),
    }
}

/// Where a job's time went, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub fetch_ms: u64,
    pub engine_ms: u64,
    pub upload_ms: u64,
    pub total_ms: u64,
}

/// Completes the lease or reports why not; returns how it ended and, for the log, why.
pub(super) async fn finish(
    job: &Job,
    worked: Result<(Vec<CompletedOutput>, Option<serde_json::Value>), Halt>,
) -> (Outcome, Option<String>) {
    let halt = match worked {
        Ok((outputs, usage)) => match complete(job, outputs, usage).await {
            Ok(status) => return (Outcome::Completed(status), None),
            Err(halt) => halt,
        },
        Err(halt) => halt,
    };
    match halt {
        Halt::Fail { request, detail } => {
            let deadline = job.deadline.max(Instant::now() + REPORT_MIN);
            send_fail(job, request, deadline, detail).await
        }
        Halt::Ended => match job.ended() {
            Some(Ended::Canceled) => (Outcome::Canceled, None),
            _ => (Outcome::LeaseLost, None),
        },
        Halt::Interrupted => {
            // The worker is on its way out: a short, bounded try.
            let deadline = Instant::now() + REPORT_MIN;
            let detail = "the worker shut down before the job finished".to_owned();
            send_fail(job, outcome::interrupted(), deadline, detail).await
        }
        Halt::Abandoned(why) => (Outcome::Abandoned, Some(why)),
    }
}

/// `complete`, retried until the deadline (an identical repeat is answered the same).
async fn complete(
    job: &Job,
    outputs: Vec<CompletedOutput>,
    usage: Option<serde_json::Value>,
) -> Result<String, Halt> {
    let body = CompleteRequest { outputs, usage };
    let client = &job.shared.client;
    let lease_id = &job.lease.lease_id;
    let deadline = job.deadline.max(Instant::now() + REPORT_MIN);
    let answer = retry::until("complete", lease_id, deadline, &job.token, |_| {
        client.complete(lease_id, &body)
    })
    .await;
    match answer {
        Ok(done) => Ok(done.status),
        Err(e) if e.lease_gone() => Err(Halt::Ended),
        Err(GaveUp::Stopped) if job.ended().is_some() => Err(Halt::Ended),
        Err(GaveUp::Stopped) => Err(Halt::Interrupted),
        Err(GaveUp::Deadline(last)) => Err(Halt::Abandoned(format!(
            "the completion did not go through: {last}"
        ))),
        // Refused for good (a bug on one side): say so, so the job is retried now rather
        // than when the lease lapses.
        Err(GaveUp::Rejected(problem)) => Err(Halt::fail(outcome::transient(&format!(
            "the server refused the completion: {problem}"
        )))),
    }
}

/// `fail`, retried until `deadline`; nothing stops it but the deadline (it also reports
/// the shutdown itself).
async fn send_fail(
    job: &Job,
    request: FailRequest,
    deadline: Instant,
    detail: String,
) -> (Outcome, Option<String>) {
    let client = &job.shared.client;
    let lease_id = &job.lease.lease_id;
    let never = StopToken::new();
    let answer = retry::until("fail", lease_id, deadline, &never, |_| {
        client.fail(lease_id, &request)
    })
    .await;
    match answer {
        Ok(done) => (
            Outcome::Failed {
                kind: request.kind,
                status: Some(done.status),
            },
            Some(detail),
        ),
        Err(e) if e.lease_gone() => (Outcome::LeaseLost, Some(detail)),
        Err(e) => (
            Outcome::Abandoned,
            Some(format!(
                "{detail}; the failure report did not go through: {e}"
            )),
        ),
    }
}

/// The job's one INFO line.
pub fn log(lease: &Lease, outcome: &Outcome, detail: Option<&str>, t: &Timings) {
    let status = match outcome {
        Outcome::Completed(status)
        | Outcome::Failed {
            status: Some(status),
            ..
        } => status.as_str(),
        _ => "",
    };
    let kind = match outcome {
        Outcome::Failed { kind, .. } => outcome::kind_name(*kind),
        _ => "",
    };
    match detail {
        Some(error) => tracing::info!(
            lease.id = %lease.lease_id, generation.id = %lease.generation_id, model = %lease.model,
            attempt = lease.attempt, outcome = %outcome.as_str(), kind = %kind, status = %status,
            fetch_ms = t.fetch_ms, engine_ms = t.engine_ms, upload_ms = t.upload_ms,
            total_ms = t.total_ms, error = %error, "job ended"
        ),
        None => tracing::info!(
            lease.id = %lease.lease_id, generation.id = %lease.generation_id, model = %lease.model,
            attempt = lease.attempt, outcome = %outcome.as_str(), status = %status,
            fetch_ms = t.fetch_ms, engine_ms = t.engine_ms, upload_ms = t.upload_ms,
            total_ms = t.total_ms, "job ended"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::worker::dto::FailureKind;

    fn reported(halt: &Halt) -> Option<FailureKind> {
        match halt {
            Halt::Fail { request, .. } => Some(request.kind),
            _ => None,
        }
    }

    #[test]
    fn a_cancel_reports_nothing_to_the_server_that_asked_for_it() {
        for e in [
            EngineError::Canceled,
            EngineError::transient("socket closed"),
        ] {
            assert!(matches!(
                engine_halt(&e, Some(Ended::Canceled), false),
                Halt::Ended
            ));
            assert!(matches!(
                engine_halt(&e, Some(Ended::Lost), true),
                Halt::Ended
            ));
        }
    }

    #[test]
    fn a_shutdown_reports_interrupted_whatever_the_engine_said() {
        for e in [EngineError::Canceled, EngineError::permanent("x")] {
            assert!(matches!(engine_halt(&e, None, true), Halt::Interrupted));
        }
        assert_eq!(outcome::interrupted().kind, FailureKind::Interrupted);
    }

    #[test]
    fn otherwise_the_engines_class_is_reported_and_a_stray_cancel_is_transient() {
        let halt = engine_halt(&EngineError::misconfigured("no checkpoint"), None, false);
        assert_eq!(reported(&halt), Some(FailureKind::Misconfigured));
        if let Halt::Fail { detail, .. } = &halt {
            assert_eq!(detail, "no checkpoint");
        }
        let halt = engine_halt(&EngineError::Canceled, None, false);
        assert_eq!(reported(&halt), Some(FailureKind::Transient));
    }
}
