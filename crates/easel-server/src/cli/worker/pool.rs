//! The claim loop: keep up to `--concurrency` engine runs going, each lease on its own
//! task, and stop cleanly. A lease holds its engine slot only while the engine runs: its
//! upload and completion go on beside the next run, so the backend (the GPU) does not sit
//! idle while a file crosses the network.
//!
//! Claims long-poll, so an idle worker costs the server one open request, not a stream of
//! them. A free slot that opens while a claim is waiting waits for that claim to answer
//! (at most the server's `max_claim_wait_ms`): dropping a claim in flight could drop a
//! lease the server just handed out, which then sits until it lapses. Shutdown is the
//! exception: it aborts the pending claim at once (that rare orphaned lease lapses and is
//! retried), lets running jobs finish within the grace, then stops them, and each reports
//! itself `interrupted`.

use std::sync::Arc;
use std::time::Duration;

use easel_engines::StopToken;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::backoff::Outage;
use super::client::{CallError, Problem};
use super::lease::{self, Shared};
use crate::api::worker::dto::ClaimRequest;

/// A running job that does not stop this long after the grace is abandoned (its engine
/// gets a few seconds to stop, its `interrupted` report ten; see `lease` and `report`).
const STOP_WAIT: Duration = Duration::from_secs(20);
/// Jobs whose engine finished may still be uploading and completing while the next ones
/// run: at most this many per engine slot in all, so a server that stops taking uploads
/// stops the worker from claiming more.
const REPORTING_PER_SLOT: usize = 4;
/// The pause after an empty claim answered at once, so a server that does not long-poll
/// is not called in a tight loop.
const EMPTY_PAUSE: Duration = Duration::from_secs(1);
/// The quarantine pause when the server gives no `Retry-After`.
const QUARANTINE_PAUSE: Duration = Duration::from_secs(60);

/// How the loop claims.
#[derive(Debug, Clone)]
pub struct Plan {
    pub models: Vec<String>,
    pub concurrency: u32,
    pub max_jobs_per_claim: u32,
    pub wait_ms: u64,
    pub version: String,
    pub grace: Duration,
}

/// The worker's two stops: no more claims (the first SIGTERM or Ctrl-C), and no more
/// waiting for running jobs (the end of the grace, or a second signal).
#[derive(Debug, Clone, Default)]
pub struct Signals {
    pub stop_claiming: StopToken,
    pub hard_stop: StopToken,
}

impl Signals {
    /// Listens for SIGTERM and Ctrl-C: the first stops claiming, the second the jobs.
    pub fn listen() -> Signals {
        let signals = Signals::default();
        let fire = signals.clone();
        tokio::spawn(async move {
            crate::server::shutdown_signal().await;
            tracing::info!("signal received: no more claims");
            fire.stop_claiming.cancel();
            crate::server::shutdown_signal().await;
            tracing::warn!("second signal: stopping the running jobs now");
            fire.hard_stop.cancel();
        });
        signals
    }
}

/// What the loop does after a failed claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The server is away: back off and try again.
    Retry,
    /// Quarantined by the server: wait this long, then go on.
    Wait(Duration),
    /// Claiming cannot work (a revoked token, a model the token no longer allows): exit.
    Exit(String),
}

/// What a failed claim (or `/me`) means for the loop.
pub fn next_after(e: &CallError) -> Next {
    let Some(problem) = e.problem() else {
        return Next::Retry;
    };
    match (problem.status, problem.code.as_str()) {
        (403, "worker_quarantined") => Next::Wait(problem.retry_after.unwrap_or(QUARANTINE_PAUSE)),
        _ => Next::Exit(refusal(problem)),
    }
}

/// The exit message for a refusal, saying what to do about it.
fn refusal(p: &Problem) -> String {
    let hint = match (p.status, p.code.as_str()) {
        (401, _) => "the worker token is not accepted; ask the operator for a new one",
        (403, "model_not_allowed") => {
            "the token does not allow a model this worker serves; check --model against the token's models"
        }
        (403, _) => "the server does not let this worker claim",
        (404, _) => "is --server the address of an Easel server with the worker API?",
        (300..=399, _) => "--server must be the address the server answers on",
        _ => "the server refused the worker's call",
    };
    format!("{hint} ({p})")
}

/// Claims and runs jobs until a signal (then `Ok`) or a refusal that makes claiming
/// pointless (then the error, after stopping the running jobs).
pub async fn serve(shared: Arc<Shared>, plan: Plan, signals: Signals) -> anyhow::Result<()> {
    let mut jobs = JoinSet::new();
    let claimed = claim_loop(&shared, &plan, &signals, &mut jobs).await;
    if claimed.is_err() {
        // Nothing these jobs send would be accepted either: no grace.
        signals.hard_stop.cancel();
    }
    drain(&mut jobs, plan.grace, &signals.hard_stop).await;
    claimed.map_err(anyhow::Error::msg)
}

async fn claim_loop(
    shared: &Arc<Shared>,
    plan: &Plan,
    signals: &Signals,
    jobs: &mut JoinSet<()>,
) -> Result<(), String> {
    let stop = &signals.stop_claiming;
    let mut outage = Outage::default();
    let slots = Arc::new(Semaphore::new(slots_of(plan.concurrency)));
    let per_claim = plan.max_jobs_per_claim.max(1).min(plan.concurrency.max(1));
    loop {
        let Some(mut free) = free_slots(&slots, per_claim, stop, jobs).await else {
            return Ok(());
        };
        let body = ClaimRequest {
            models: plan.models.clone(),
            max_jobs: Some(u32::try_from(free.len()).unwrap_or(1)),
            wait_ms: Some(plan.wait_ms),
            version: Some(plan.version.clone()),
        };
        let asked = Instant::now();
        let answer = tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(()),
            answer = shared.client.claim(&body) => answer,
        };
        let pause = match answer {
            Ok(claimed) => {
                if let Some((lasted, failures)) = outage.recovered() {
                    tracing::info!(
                        failures,
                        lasted_ms = lasted.as_millis() as u64,
                        "the server answers again"
                    );
                }
                let leases = claimed.map(|c| c.leases).unwrap_or_default();
                let empty = leases.is_empty();
                for lease in leases {
                    // The server hands out at most what was asked; a lease beyond that
                    // would still run, without holding a slot.
                    let slot = free.pop();
                    let hard_stop = signals.hard_stop.clone();
                    jobs.spawn(lease::run(Arc::clone(shared), lease, slot, hard_stop));
                }
                drop(free);
                (empty && asked.elapsed() < EMPTY_PAUSE).then_some(EMPTY_PAUSE)
            }
            Err(e) => Some(pause_after(&e, &mut outage)?),
        };
        if let Some(pause) = pause {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// Waits for a free engine slot (and room among the jobs still reporting); returns the
/// free slots, at least one and at most `max`, or `None` when `stop` fires first.
async fn free_slots(
    slots: &Arc<Semaphore>,
    max: u32,
    stop: &StopToken,
    jobs: &mut JoinSet<()>,
) -> Option<Vec<OwnedSemaphorePermit>> {
    let most_jobs = slots_of(max).saturating_mul(REPORTING_PER_SLOT);
    loop {
        while let Some(ended) = jobs.try_join_next() {
            note_panic(ended);
        }
        if stop.is_cancelled() {
            return None;
        }
        if jobs.len() >= most_jobs {
            tokio::select! {
                () = stop.cancelled() => return None,
                ended = jobs.join_next() => {
                    if let Some(ended) = ended {
                        note_panic(ended);
                    }
                }
            }
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return None,
            permit = Arc::clone(slots).acquire_owned() => {
                let mut free = vec![permit.ok()?];
                while free.len() < slots_of(max) {
                    match Arc::clone(slots).try_acquire_owned() {
                        Ok(p) => free.push(p),
                        Err(_) => break,
                    }
                }
                return Some(free);
            }
            ended = jobs.join_next(), if !jobs.is_empty() => {
                if let Some(ended) = ended {
                    note_panic(ended);
                }
            }
        }
    }
}

fn slots_of(n: u32) -> usize {
    usize::try_from(n.max(1)).unwrap_or(usize::MAX)
}

/// The pause after a failed claim, logged once per outage; or the reason to exit.
fn pause_after(e: &CallError, outage: &mut Outage) -> Result<Duration, String> {
    match next_after(e) {
        Next::Exit(why) => Err(why),
        Next::Wait(pause) => {
            tracing::warn!(error = %e, pause_s = pause.as_secs(), "the server has quarantined this worker; waiting");
            Ok(pause)
        }
        Next::Retry => {
            let failure = outage.failed(e.retry_after());
            if failure.started {
                tracing::warn!(error = %e, "cannot claim: the server is unreachable or failing; retrying with backoff (logged again when it answers)");
            } else {
                tracing::debug!(error = %e, failures = failure.failures, "claim failed again");
            }
            Ok(failure.pause)
        }
    }
}

/// Waits for running jobs up to `grace` (or the hard stop), then stops them and gives
/// them [`STOP_WAIT`] to report themselves interrupted.
async fn drain(jobs: &mut JoinSet<()>, grace: Duration, hard_stop: &StopToken) {
    if jobs.is_empty() {
        return;
    }
    if !hard_stop.is_cancelled() {
        tracing::info!(
            running = jobs.len(),
            grace_s = grace.as_secs(),
            "no more claims; waiting for the running jobs (send the signal again to stop them now)"
        );
        tokio::select! {
            () = join_all(jobs) => return,
            () = tokio::time::sleep(grace) => {}
            () = hard_stop.cancelled() => {}
        }
        hard_stop.cancel();
        tracing::warn!(
            running = jobs.len(),
            "stopping the running jobs; each is reported interrupted"
        );
    }
    if tokio::time::timeout(STOP_WAIT, join_all(jobs))
        .await
        .is_err()
    {
        tracing::warn!(
            running = jobs.len(),
            "some jobs did not stop in time; their leases will lapse on the server"
        );
        jobs.abort_all();
    }
}

async fn join_all(jobs: &mut JoinSet<()>) {
    while let Some(ended) = jobs.join_next().await {
        note_panic(ended);
    }
}

/// A job task that panicked: its lease lapses on the server; the worker goes on.
fn note_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended
        && e.is_panic()
    {
        tracing::error!(error = %e, "a job panicked; its lease will lapse and the job be retried");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: &str, retry_after: Option<Duration>) -> CallError {
        CallError::Rejected {
            what: "worker/v1/claim".to_owned(),
            problem: Problem {
                status,
                code: code.to_owned(),
                message: "no".to_owned(),
                request_id: Some("req_1".to_owned()),
                retry_after,
                by_server: true,
            },
        }
    }

    #[test]
    fn claims_retry_outages_wait_out_quarantine_and_exit_on_refusals() {
        let down = CallError::Unavailable {
            what: "worker/v1/claim".to_owned(),
            detail: "HTTP 503".to_owned(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(next_after(&down), Next::Retry);
        assert_eq!(
            next_after(&refused(
                403,
                "worker_quarantined",
                Some(Duration::from_secs(90))
            )),
            Next::Wait(Duration::from_secs(90))
        );
        assert_eq!(
            next_after(&refused(403, "worker_quarantined", None)),
            Next::Wait(QUARANTINE_PAUSE)
        );
        for (status, code, says) in [
            (401, "invalid_worker_token", "new one"),
            (401, "worker_token_revoked", "worker_token_revoked"),
            (403, "model_not_allowed", "--model"),
            (404, "", "worker API"),
            (400, "parameter_invalid", "parameter_invalid"),
        ] {
            match next_after(&refused(status, code, None)) {
                Next::Exit(why) => {
                    assert!(why.contains(says), "{status} {code}: {why}");
                    assert!(
                        why.contains("req_1"),
                        "the request id helps the operator: {why}"
                    );
                }
                other => panic!("{status} {code} must exit, not {other:?}"),
            }
        }
    }

    #[test]
    fn an_outage_pauses_longer_each_time_and_logs_its_start_once() {
        let down = CallError::Unavailable {
            what: "claim".to_owned(),
            detail: "refused".to_owned(),
            retry_after: None,
        };
        let mut outage = Outage::default();
        let first = pause_after(&down, &mut outage).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..10 {
            pause_after(&down, &mut outage).unwrap_or_else(|e| panic!("{e}"));
        }
        let late = pause_after(&down, &mut outage).unwrap_or_else(|e| panic!("{e}"));
        assert!(first <= Duration::from_millis(500), "{first:?}");
        assert!(late >= Duration::from_secs(15), "{late:?}");
        assert!(outage.recovered().is_some(), "one outage, still going");
    }
}
