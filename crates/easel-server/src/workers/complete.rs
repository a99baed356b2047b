//! How a remote worker's lease ends: a completion (its uploads checked, moderated and
//! stored by the same steps as a local run's), a failure, or a cancel noticed at a
//! heartbeat (`super::heartbeat`). Every ending is a compare-and-set on the lease: a
//! worker whose lease lapsed changes nothing, and an identical repeat of an accepted
//! completion is answered again.

use std::time::{Duration, Instant};

use easel_core::jobs::JobStatus;
use easel_core::time::now_ms;
use easel_db::{Heartbeat, Job, LeaseOutcome, Worker, WorkerLease};
use easel_engines::{Artifact, EngineError, Generated, Produced, RefusalStage};
use easel_queue::{Backoff, JobError};
use sha2::{Digest, Sha256};

use super::Workers;
use super::lease::{self, expected_outputs, holds, lost};
use crate::api::worker::dto::{
    CompleteRequest, CompleteResponse, FailRequest, FailResponse, FailureKind,
};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::jobs::RunGeneration;
use crate::jobs::run::{
    Finished, RunEnd, describe, finish, finish_checked, record_usage, run_info,
};
use crate::outputs::Outputs;

/// Accepts a completion: reads the uploads, and checks, moderates and stores them.
pub async fn complete(
    app: &AppState,
    worker: &Worker,
    lease_id: &str,
    body: &CompleteRequest,
) -> ApiResult<CompleteResponse> {
    let digest = digest(body);
    let lease = lease::of_worker(app, worker, lease_id).await?;
    let job = app.store.get_job(&lease.job_id).await?;
    if let Some(replay) = replay(app, &lease, &job, &digest).await? {
        return Ok(replay);
    }
    if lease.ended_at.is_some() || !holds(&lease, &job) {
        end(app, &lease, LeaseOutcome::Lost, None).await;
        return Err(lost());
    }
    let g = app.store.generation_for_job(&job.id).await?;
    let run = run_info(&job, &lease.id);
    let (request, _) = describe(&g, lease.attempt).map_err(internal)?;
    let indices = check_indices(body, expected_outputs(&request))?;
    // Hold the lease through the checks below, which may take a while for a video; a
    // lease with more than half its time left needs no extra write for that.
    let now = now_ms();
    let lease_ms = app.config.workers.lease_ms as i64;
    let until = (now + lease_ms).min(lease.deadline_at);
    if lease.lease_until - now < lease_ms / 2
        && until > lease.lease_until
        && app
            .store
            .heartbeat_lease(&lease, until, None, None, now)
            .await?
            == Heartbeat::Lost
    {
        end(app, &lease, LeaseOutcome::Lost, None).await;
        return Err(lost());
    }
    let outputs = read_uploads(app, &lease, body, &indices).await?;
    let retention_days = serde_json::from_str::<RunGeneration>(&job.payload)
        .map(|j| j.retention_days)
        .map_err(|e| internal(JobError::Fatal(e.to_string())))?;
    // The run took from the claim to now: that is what ETAs should learn from.
    let ran = Duration::from_millis(u64::try_from(now_ms() - lease.claimed_at).unwrap_or(0));
    let started = Instant::now().checked_sub(ran).unwrap_or_else(Instant::now);
    let end_of_run = RunEnd {
        started,
        retention_days,
        completion: Some(&digest),
    };
    let finished = match outputs {
        Uploads::Checked(artifacts) => {
            record_usage(app, &g, body.usage.as_ref()).await;
            finish_checked(app, &g, &run, artifacts, end_of_run).await
        }
        Uploads::Unchecked(outputs) => {
            let generated = Generated {
                outputs,
                usage: body.usage.clone(),
            };
            finish(app, &g, &run, &request, generated, end_of_run).await
        }
    };
    let status = match finished {
        // The lease ended (and counted on the worker) with the generation.
        Ok(Finished::Stored) => "succeeded",
        Ok(Finished::Withheld) => {
            end(app, &lease, LeaseOutcome::Succeeded, Some(&digest)).await;
            "failed"
        }
        Ok(Finished::LeaseLost) => {
            end(app, &lease, LeaseOutcome::Lost, None).await;
            return Err(lost());
        }
        Err(e) => {
            let message = match &e {
                JobError::Retryable(m) | JobError::RetryAfter(m, _) | JobError::Fatal(m) => {
                    m.clone()
                }
                JobError::Canceled => "the generation was canceled".to_string(),
            };
            let status = record(app, &job, &lease, Err(e), false).await?;
            end(app, &lease, LeaseOutcome::Failed, None).await;
            discard_uploads(app, &lease, &indices).await;
            return Err(ApiError::new(
                ErrorCode::outputs_rejected,
                format!("The outputs were not accepted: {}", public(&message)),
            )
            .details(serde_json::json!({ "status": status.map(|s| s.as_str()) })));
        }
    };
    discard_uploads(app, &lease, &indices).await;
    Workers::count(&app.workers.counters.completions);
    Ok(CompleteResponse {
        generation_id: g.id,
        status: status.to_string(),
    })
}

/// The answer to a completion already accepted for this lease, if it was.
async fn replay(
    app: &AppState,
    lease: &WorkerLease,
    job: &Job,
    digest: &str,
) -> ApiResult<Option<CompleteResponse>> {
    let accepted = match lease.outcome {
        Some(LeaseOutcome::Succeeded) => {
            if lease.completion_digest.as_deref() != Some(digest) {
                return Err(ApiError::new(
                    ErrorCode::lease_already_completed,
                    "This lease was already completed with different outputs.",
                ));
            }
            true
        }
        // The job succeeded under this lease but the lease's record was not written (the
        // node stopped in between): it is this lease's completion.
        None if job.status == JobStatus::Succeeded => app
            .store
            .latest_lease_of_job(&job.id)
            .await?
            .is_some_and(|latest| latest.id == lease.id),
        _ => false,
    };
    if !accepted {
        return Ok(None);
    }
    end(app, lease, LeaseOutcome::Succeeded, Some(digest)).await;
    let g = app.store.generation_for_job(&job.id).await?;
    let status = if g.status == JobStatus::Succeeded {
        "succeeded"
    } else {
        "failed"
    };
    Ok(Some(CompleteResponse {
        generation_id: g.id,
        status: status.to_string(),
    }))
}

/// The completion's output indices, each once, each one the lease asked for.
fn check_indices(body: &CompleteRequest, expected: u32) -> ApiResult<Vec<u32>> {
    let mut indices: Vec<u32> = body.outputs.iter().map(|o| o.index).collect();
    indices.sort_unstable();
    indices.dedup();
    let bad =
        |message: String| ApiError::new(ErrorCode::parameter_invalid, message).param("outputs");
    if indices.len() != body.outputs.len() {
        return Err(bad("Each output index may appear once.".into()));
    }
    if indices.is_empty() {
        return Err(bad("List at least one uploaded output.".into()));
    }
    if let Some(i) = indices.iter().find(|&&i| i >= expected) {
        return Err(bad(format!(
            "Output index {i} is out of range: this lease takes {expected} output(s), numbered from 0."
        )));
    }
    Ok(indices)
}

/// A completion's outputs as read back from the store.
enum Uploads {
    /// Every one is the object this node checked when it arrived.
    Checked(Vec<Artifact>),
    /// At least one was not checked here (uploaded to S3 directly, through another node,
    /// or replaced since): all are checked now.
    Unchecked(Vec<Produced>),
}

/// Reads every uploaded output of a completion, in index order.
async fn read_uploads(
    app: &AppState,
    lease: &WorkerLease,
    body: &CompleteRequest,
    indices: &[u32],
) -> ApiResult<Uploads> {
    let cap = app.config.generations.max_output_bytes as u64;
    let mut read: Vec<Result<Artifact, Produced>> = Vec::with_capacity(indices.len());
    for &index in indices {
        let path = Outputs::upload_path(&lease.id, index);
        let (bytes, e_tag) = match app.outputs.get_capped(&path, cap).await {
            Ok(Some(got)) => got,
            Ok(None) => {
                return Err(ApiError::new(
                    ErrorCode::output_missing,
                    format!("Output {index} was not uploaded; PUT it to its upload URL first."),
                ));
            }
            Err(e) => {
                tracing::warn!(lease.id = %lease.id, index, error = %format!("{e:#}"), "could not read an uploaded output");
                return Err(ApiError::new(
                    ErrorCode::invalid_output,
                    format!(
                        "Output {index} could not be read back: {}",
                        public(&format!("{e:#}"))
                    ),
                ));
            }
        };
        let seed = body
            .outputs
            .iter()
            .find(|o| o.index == index)
            .and_then(|o| o.seed);
        let found = app
            .workers
            .checked
            .take(&path, e_tag.as_deref(), bytes.to_vec(), seed)
            .map_err(|bytes| Produced { bytes, seed });
        read.push(found);
    }
    if read.iter().all(Result::is_ok) {
        return Ok(Uploads::Checked(read.into_iter().flatten().collect()));
    }
    // Not all checked here: check them all, in index order.
    let produced = read
        .into_iter()
        .map(|r| match r {
            Ok(a) => Produced {
                bytes: a.bytes,
                seed: a.seed,
            },
            Err(p) => p,
        })
        .collect();
    Ok(Uploads::Unchecked(produced))
}

/// Deletes a lease's uploads (stored at their final paths, or rejected). A failure only
/// leaves a file behind, logged.
async fn discard_uploads(app: &AppState, lease: &WorkerLease, indices: &[u32]) {
    for &index in indices {
        if let Err(e) = app
            .outputs
            .delete(&Outputs::upload_path(&lease.id, index))
            .await
        {
            tracing::warn!(lease.id = %lease.id, index, error = %format!("{e:#}"), "could not delete an upload");
        }
    }
}

/// Records a worker's failure report on the job (retried or failed, like a local run).
pub async fn fail(
    app: &AppState,
    worker: &Worker,
    lease_id: &str,
    body: &FailRequest,
) -> ApiResult<FailResponse> {
    crate::api::worker::at_most("message", Some(&body.message), 500)?;
    let (lease, job) = lease::held(app, worker, lease_id).await?;
    let g = app.store.generation_for_job(&job.id).await?;
    let run = run_info(&job, &lease.id);
    let detail = format!("worker {}: {}", worker.name, body.message);
    let e = match body.kind {
        FailureKind::Transient | FailureKind::Interrupted => EngineError::Transient {
            detail,
            retry_after: body.retry_after_seconds.map(Duration::from_secs),
        },
        FailureKind::Permanent => EngineError::Permanent {
            detail,
            reason: body.message.clone(),
        },
        FailureKind::Misconfigured => {
            tracing::error!(worker.name = %worker.name, model = %g.model, message = %body.message, "a worker reports its backend misconfigured");
            app.engines.count_misconfigured(&g.model);
            EngineError::Misconfigured { detail }
        }
        FailureKind::ContentRefused => EngineError::Refused {
            stage: RefusalStage::Input,
            categories: Vec::new(),
            detail,
        },
    };
    let outcome = crate::jobs::failure::engine(app, &g, &run, e, None).await;
    let status = record(app, &job, &lease, Err(outcome), false)
        .await?
        .ok_or_else(lost)?;
    let counted = match body.kind {
        // Shutting down is not the worker's failure.
        FailureKind::Interrupted => LeaseOutcome::Canceled,
        _ => LeaseOutcome::Failed,
    };
    end(app, &lease, counted, None).await;
    Workers::count(&app.workers.counters.failures);
    Ok(FailResponse {
        status: status.as_str().to_string(),
    })
}

/// Records a lease's run outcome on its job, and settles the generation if that ended it.
pub(crate) async fn record(
    app: &AppState,
    job: &Job,
    lease: &WorkerLease,
    outcome: Result<(), JobError>,
    cancel_requested: bool,
) -> ApiResult<Option<JobStatus>> {
    let q = &app.config.queue;
    let backoff = Backoff {
        base: Duration::from_millis(q.retry_base_ms),
        max: Duration::from_millis(q.retry_max_ms),
    };
    let status = easel_queue::record_outcome(
        app.store.as_ref(),
        job,
        &lease.id,
        outcome,
        cancel_requested,
        backoff,
    )
    .await?;
    if status.is_some_and(|s| s.is_terminal()) {
        let ended = app.store.get_job(&job.id).await?;
        crate::jobs::settle_ended(app.clone(), ended).await;
    }
    Ok(status)
}

/// Ends the lease's record (once; a store error only costs the worker's counters), and
/// unless it succeeded (its uploads were just stored at their final paths) deletes what
/// it uploaded.
pub(crate) async fn end(
    app: &AppState,
    lease: &WorkerLease,
    outcome: LeaseOutcome,
    digest: Option<&str>,
) {
    match app
        .store
        .end_lease(&lease.id, outcome, digest, now_ms())
        .await
    {
        Ok(true) if outcome != LeaseOutcome::Succeeded => {
            app.outputs.delete_uploads(&lease.id).await;
            let prefix = Outputs::upload_prefix(&lease.id);
            app.workers.checked.forget(&prefix);
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(lease.id = %lease.id, error = %e, "could not record how a lease ended")
        }
    }
}

/// SHA-256 of a completion's body, to recognise an identical repeat.
fn digest(body: &CompleteRequest) -> String {
    let text = serde_json::to_string(body).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The developer-safe part of a job error (`code: message` → message).
fn public(message: &str) -> String {
    let text = message.split_once(": ").map_or(message, |(_, m)| m);
    easel_engines::scrub(text)
}

fn internal(e: JobError) -> ApiError {
    ApiError::internal(anyhow::anyhow!("{e:?}"))
}
