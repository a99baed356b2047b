//! `POST /worker/v1/claim`: a long poll for leases.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use easel_core::ids::IdKind;
use easel_core::time::now_ms;
use easel_db::{Claimed, Job, Worker, WorkerClaim, WorkerLease};
use futures::FutureExt;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use super::TAG;
use super::auth::WorkerCaller;
use super::dto::{ClaimRequest, ClaimResponse};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode, ErrorEnvelope};
use crate::http::extract::Json;
use crate::workers::{Workers, lease};

/// How stale a worker's `last_seen_at` may get before a claim writes it again.
const TOUCH_GAP_MS: i64 = 5_000;

/// Claim jobs
///
/// Waits up to `wait_ms` (at most `max_claim_wait_ms`, about 25 s) for jobs of the given
/// models and answers with up to `max_jobs` leases, or 204 when none came. A job enqueued
/// on this node wakes a waiting claim at once. Each lease holds its job for
/// `lease_expires_in_ms` unless heartbeats extend it; a lapsed lease puts the job back in
/// the queue. A worker that loses too many leases is quarantined for a while (403
/// `worker_quarantined` with `Retry-After`).
#[utoipa::path(
    post,
    path = "/worker/v1/claim",
    tag = TAG,
    operation_id = "claim_jobs",
    security(("worker_token" = [])),
    request_body = ClaimRequest,
    responses(
        (status = 200, description = "Leases", body = ClaimResponse),
        (status = 204, description = "No work came within the wait"),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn claim_jobs(
    state: AppState,
    WorkerCaller(worker): WorkerCaller,
    Json(body): Json<ClaimRequest>,
) -> ApiResult<Response> {
    let now = now_ms();
    if let Some(until) = worker.quarantined_until.filter(|&u| u > now) {
        let seconds = u64::try_from((until - now + 999) / 1000).unwrap_or(1);
        return Err(ApiError::new(
            ErrorCode::worker_quarantined,
            format!("This worker lost too many leases recently and may not claim for {seconds} s. Check that it heartbeats and finishes within the models' timeouts."),
        )
        .retry_after(seconds));
    }
    let (queues, timeouts) = queues(&state, &worker, &body)?;
    let w = &state.config.workers;
    let max_jobs = body.max_jobs.unwrap_or(1);
    if !(1..=w.max_jobs_per_claim).contains(&max_jobs) {
        return Err(ApiError::new(
            ErrorCode::parameter_invalid,
            format!("max_jobs must be between 1 and {}.", w.max_jobs_per_claim),
        )
        .param("max_jobs"));
    }
    super::at_most("version", body.version.as_deref(), 100)?;
    let wait = Duration::from_millis(
        body.wait_ms
            .unwrap_or(w.max_claim_wait_ms)
            .min(w.max_claim_wait_ms),
    );
    // A worker polling again with nothing new to say costs no write (SQLite's single
    // writer would serialise even an UPDATE that changes nothing).
    let seen_lately = worker
        .last_seen_at
        .is_some_and(|at| now - at < TOUCH_GAP_MS)
        && (body.version.is_none() || worker.version == body.version)
        && worker.serving == body.models;
    if !seen_lately {
        state
            .store
            .touch_worker(
                &worker.id,
                body.version.as_deref(),
                Some(&body.models),
                TOUCH_GAP_MS,
                now,
            )
            .await?;
        // The next call reads the row again, with what was just written.
        state.workers.forget_worker(&worker.id);
    }
    Workers::count(&state.workers.counters.claims);
    let claimed = wait_for_jobs(&state, &worker, &queues, &timeouts, max_jobs, wait).await?;
    if claimed.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut leases = Vec::with_capacity(claimed.len());
    for c in claimed {
        match lease::describe(&state, &c.lease, &c.job, c.generation).await {
            Ok(described) => leases.push(described),
            Err(e) => refuse(&state, &c.lease, &c.job, e).await,
        }
    }
    if leases.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    for _ in &leases {
        Workers::count(&state.workers.counters.leases_granted);
    }
    Ok(axum::Json(ClaimResponse { leases }).into_response())
}

/// The live queues of the claimed models, each with its model's timeout (ms), after checking
/// that the token allows every model and that workers serve it.
fn queues(
    state: &AppState,
    worker: &Worker,
    body: &ClaimRequest,
) -> ApiResult<(Vec<String>, Vec<i64>)> {
    if body.models.is_empty() || body.models.len() > 100 {
        return Err(ApiError::new(
            ErrorCode::parameter_invalid,
            "List 1 to 100 models this worker serves.",
        )
        .param("models"));
    }
    let mut queues = Vec::new();
    let mut timeouts = Vec::new();
    for model in &body.models {
        if !worker.models.contains(model) {
            return Err(ApiError::new(
                ErrorCode::model_not_allowed_for_worker,
                format!("This worker's token does not allow the model `{model}`."),
            )
            .param("models"));
        }
        let Some(config) = state
            .config
            .models
            .get(model)
            .filter(|m| m.enabled && m.engine == crate::workers::ENGINE)
        else {
            return Err(ApiError::new(
                ErrorCode::model_not_served_by_workers,
                format!("The model `{model}` is not offered, or not run by workers (its engine is not `worker`)."),
            )
            .param("models"));
        };
        let queue = crate::engines::queue_name(&state.config, model, easel_core::mode::Mode::Live);
        if !queues.contains(&queue) {
            queues.push(queue);
            let timeout_ms = i64::try_from(config.timeout_seconds)
                .unwrap_or(i64::MAX / 2_000)
                .saturating_mul(1000);
            timeouts.push(timeout_ms);
        }
    }
    Ok((queues, timeouts))
}

/// Claims at once, or waits for a wake-up (a job enqueued here), the poll interval (work
/// from other nodes, retries coming due), the end of the wait, or shutdown.
async fn wait_for_jobs(
    state: &AppState,
    worker: &Worker,
    queues: &[String],
    timeouts: &[i64],
    max_jobs: u32,
    wait: Duration,
) -> ApiResult<Vec<Claimed>> {
    let until = tokio::time::Instant::now() + wait;
    let poll = Duration::from_millis(state.config.workers.poll_ms);
    let lease_ms = state.config.workers.lease_ms as i64;
    let wakers: Vec<Arc<Notify>> = queues.iter().map(|q| state.workers.waker(q)).collect();
    loop {
        // Listen before looking, so that a job enqueued in between still wakes this claim.
        let mut woken: Vec<Pin<Box<Notified<'_>>>> =
            wakers.iter().map(|w| Box::pin(w.notified())).collect();
        for w in &mut woken {
            w.as_mut().enable();
        }
        let now = now_ms();
        let claim = WorkerClaim {
            worker_id: worker.id.clone(),
            queues: queues.to_vec(),
            max_jobs,
            lease_ids: (0..max_jobs).map(|_| IdKind::Lease.generate()).collect(),
            lease_until: now + lease_ms,
            deadlines: timeouts.iter().map(|t| now.saturating_add(*t)).collect(),
            now,
        };
        let claimed = state.store.claim_for_worker(claim).await;
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let done = !matches!(&claimed, Ok(c) if c.is_empty()) || left.is_zero();
        if done {
            pass_on(&wakers, &mut woken);
            return Ok(claimed?);
        }
        tokio::select! {
            _ = futures::future::select_all(woken.iter_mut()) => {}
            _ = tokio::time::sleep(poll.min(left)) => {}
            _ = state.workers.draining() => return Ok(Vec::new()),
        }
    }
}

/// Wake-ups this claim received but will not act on (it got its jobs, or its wait is
/// over) may have been meant for other jobs: they go to the next waiting claim.
fn pass_on(wakers: &[Arc<Notify>], woken: &mut [Pin<Box<Notified<'_>>>]) {
    for (waker, w) in wakers.iter().zip(woken.iter_mut()) {
        if w.as_mut().now_or_never().is_some() {
            waker.notify_one();
        }
    }
}

/// Fails a claimed job that cannot be handed out (its generation ended or is unreadable).
async fn refuse(state: &AppState, lease: &WorkerLease, job: &Job, e: easel_queue::JobError) {
    tracing::error!(job.id = %job.id, lease.id = %lease.id, error = ?e, "a claimed job cannot be handed to a worker");
    if let Err(e) = crate::workers::complete::record(state, job, lease, Err(e), false).await {
        tracing::error!(job.id = %job.id, error = ?e.message, "could not fail a job no worker can run");
    }
    crate::workers::complete::end(state, lease, easel_db::LeaseOutcome::Canceled, None).await;
}
