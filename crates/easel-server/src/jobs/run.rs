//! One run of a generation, as a short pipeline of named steps: load, run the engine,
//! check the outputs, moderate them, store them, settle. Every engine plugs in at
//! [`run_engine`]; how its failures become job outcomes is [`super::failure`]'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use easel_core::audit::Actor;
use easel_core::time::now_ms;
use easel_db::{AuditContext, Generation, Output};
use easel_engines::check::{self, Limits};
use easel_engines::{Artifact, Control, Engine, EngineError, Generated, GenerationRequest};
use easel_queue::{JobError, RunInfo};

use super::failure;
use super::{RunGeneration, codes, err};
use crate::app::AppState;
use crate::metrics::generations::changed_at;
use crate::outputs::Outputs;
use crate::services::generations::GenerationInput;
use crate::services::moderation::output::{Verdict, blocked_message};

/// Runs `job` once.
pub async fn generation(
    job: &RunGeneration,
    app: &AppState,
    run: &RunInfo,
) -> Result<(), JobError> {
    let g = load(app, run).await?;
    let request = request(app, &g, run).await?;
    let engine = app.engines.get(&g.model, g.mode).ok_or_else(|| {
        JobError::Fatal(err(
            codes::ENGINE_ERROR,
            format!("The model `{}` is no longer offered.", g.model),
        ))
    })?;
    let started = Instant::now();
    let generated = run_engine(app, &g, engine, &request, run).await?;
    let end = RunEnd {
        started,
        retention_days: job.retention_days,
        completion: None,
    };
    finish(app, &g, run, &request, generated, end)
        .await
        .map(|_| ())
}

/// What the end of a run needs besides its outputs.
pub struct RunEnd<'a> {
    /// When the engine started, for the ETAs learnt from run times.
    pub started: Instant,
    /// How long the outputs are kept.
    pub retention_days: u32,
    /// For a remote worker's lease, the digest of its completion: the lease is ended with
    /// the job, in the same transaction.
    pub completion: Option<&'a str>,
}

/// How the server-side end of a run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The outputs are stored and the generation succeeded.
    Stored,
    /// Output moderation withheld the outputs; the generation ended without them.
    Withheld,
    /// The lease was lost meanwhile: another run owns the job, nothing was changed.
    LeaseLost,
}

/// Everything after the engine: keep its usage report, check the outputs, moderate them,
/// store them, settle. The same steps end a local run and a remote worker's completion.
pub async fn finish(
    app: &AppState,
    g: &Generation,
    run: &RunInfo,
    request: &GenerationRequest,
    generated: Generated,
    end: RunEnd<'_>,
) -> Result<Finished, JobError> {
    record_usage(app, g, generated.usage.as_ref()).await;
    let artifacts = check_outputs(app, g, run, request, generated.outputs).await?;
    finish_checked(app, g, run, artifacts, end).await
}

/// [`finish`] for outputs already checked (a worker's uploads, decoded when they arrived
/// on this node), after the usage report was kept: moderate, store, settle.
pub async fn finish_checked(
    app: &AppState,
    g: &Generation,
    run: &RunInfo,
    artifacts: Vec<Artifact>,
    end: RunEnd<'_>,
) -> Result<Finished, JobError> {
    if moderate_outputs(app, g, &artifacts, run).await? {
        return Ok(Finished::Withheld);
    }
    let outputs = store_outputs(app, g, artifacts, end.retention_days).await?;
    settle(app, g, run, outputs, &end).await
}

/// Marks the generation running and reads its input.
async fn load(app: &AppState, run: &RunInfo) -> Result<Generation, JobError> {
    let now = now_ms();
    let g = app
        .store
        .mark_generation_running(&run.job_id, now)
        .await
        .map_err(|e| JobError::Retryable(err(codes::INTERNAL, e)))?;
    if g.status == easel_core::jobs::JobStatus::Running && changed_at(g.started_at, now) {
        app.metrics.generations.entered(&g.model, g.status);
    }
    if g.status.is_terminal() {
        // The generation ended without its job (a store out of step): never run it.
        return Err(JobError::Fatal(err(
            codes::INTERNAL,
            "the generation already ended",
        )));
    }
    Ok(g)
}

/// The engine's view of the generation, with the input image read from the store.
async fn request(
    app: &AppState,
    g: &Generation,
    run: &RunInfo,
) -> Result<GenerationRequest, JobError> {
    let (mut request, input) = describe(g, run.attempt)?;
    request.input_image = match &input.input_image {
        Some(image) => {
            let bytes = app.outputs.get(&image.path).await.map_err(|e| {
                tracing::warn!(generation.id = %g.id, error = %e, "could not read the input image");
                JobError::Retryable(err(
                    codes::STORAGE_ERROR,
                    "The input image could not be read from storage.",
                ))
            })?;
            Some(easel_engines::InputImage {
                bytes,
                content_type: image.content_type.clone(),
            })
        }
        None => None,
    };
    Ok(request)
}

/// The engine's view of the generation without the input image's bytes (a remote worker
/// fetches them itself), and the stored input it came from.
pub fn describe(
    g: &Generation,
    attempt: u32,
) -> Result<(GenerationRequest, GenerationInput), JobError> {
    let input: GenerationInput = serde_json::from_value(g.input.clone())
        .map_err(|e| JobError::Fatal(err(codes::INTERNAL, format!("unreadable input: {e}"))))?;
    let request = GenerationRequest {
        id: g.id.clone(),
        model: g.model.clone(),
        kind: g.kind,
        prompt: input.prompt.clone(),
        negative_prompt: input.negative_prompt.clone(),
        width: input.width,
        height: input.height,
        n: input.n,
        seed: input.seed,
        duration_seconds: input.duration_seconds,
        fps: input.fps,
        input_image: input
            .input_image
            .as_ref()
            .map(|image| easel_engines::InputImage {
                bytes: bytes::Bytes::new(),
                content_type: image.content_type.clone(),
            }),
        attempt,
    };
    Ok((request, input))
}

/// Runs the engine under the model's timeout, telling its breaker how it went.
async fn run_engine(
    app: &AppState,
    g: &Generation,
    engine: Arc<dyn Engine>,
    request: &GenerationRequest,
    run: &RunInfo,
) -> Result<Generated, JobError> {
    let timeout = app
        .config
        .models
        .get(&g.model)
        .map_or(300, |m| m.timeout_seconds);
    // A child token: the timeout below stops this engine run without touching the
    // runner's own token (which a cancel request or a lost lease fires).
    let control = Control::new(run.cancel.child_token());
    let (outcome, timed_out) = match tokio::time::timeout(
        Duration::from_secs(timeout),
        engine.generate(request, &control),
    )
    .await
    {
        Ok(outcome) => (outcome, false),
        Err(_) => {
            // The run is abandoned here; tell the engine so it stops the backend's work.
            control.cancel.cancel();
            let e = EngineError::Transient {
                detail: format!("no answer within {timeout} s"),
                retry_after: None,
            };
            (Err(e), true)
        }
    };
    let breaker = app.engines.breaker(&g.model, g.mode);
    match outcome {
        Ok(generated) => {
            if let Some(b) = &breaker {
                b.record(Ok(()));
            }
            Ok(generated)
        }
        Err(e) => {
            if let Some(b) = &breaker {
                b.record(Err(&e));
            }
            Err(failure::engine(app, g, run, e, timed_out.then_some(timeout)).await)
        }
    }
}

/// Keeps what the backend said it spent. A failure to write it costs the operator a
/// figure, never the developer their generation: it is logged, not raised.
pub async fn record_usage(app: &AppState, g: &Generation, usage: Option<&serde_json::Value>) {
    let Some(usage) = usage else { return };
    if let Err(e) = app.store.record_engine_usage(&g.id, usage).await {
        tracing::warn!(generation.id = %g.id, error = %e, "could not record the backend's usage report");
    }
}

/// Decodes every output off the async workers and takes its type, size and length from
/// the bytes.
async fn check_outputs(
    app: &AppState,
    g: &Generation,
    run: &RunInfo,
    request: &GenerationRequest,
    outputs: Vec<easel_engines::Produced>,
) -> Result<Vec<Artifact>, JobError> {
    let limits = Limits {
        max_bytes: app.config.generations.max_output_bytes,
        exact_size: true,
    };
    let owned = request.clone();
    let checked = tokio::task::spawn_blocking(move || check::inspect_all(&owned, outputs, &limits))
        .await
        .unwrap_or_else(|e| {
            Err(EngineError::bad_output(format!(
                "the output check failed: {e}"
            )))
        });
    match checked {
        Ok(artifacts) => Ok(artifacts),
        Err(e) => {
            if let Some(b) = app.engines.breaker(&g.model, g.mode) {
                b.record(Err(&e));
            }
            Err(failure::engine_sync(app, g, run, e, None))
        }
    }
}

/// Output moderation. `Ok(true)`: the outputs were withheld and the generation ended.
async fn moderate_outputs(
    app: &AppState,
    g: &Generation,
    artifacts: &[Artifact],
    run: &RunInfo,
) -> Result<bool, JobError> {
    let Some(verdict) = crate::services::moderation::output::moderate(app, g, artifacts).await
    else {
        return Ok(false);
    };
    match verdict {
        Verdict::Clean => Ok(false),
        Verdict::Unavailable(why) => Err(JobError::Fatal(err(
            codes::MODERATION_UNAVAILABLE,
            format!(
                "Output moderation could not check the outputs ({why}); nothing was delivered or charged."
            ),
        ))),
        Verdict::Flagged { categories, reason } => {
            // Withheld: never stored, so there is nothing to delete.
            let audit = AuditContext::new(Actor::system(), None)
                .with("categories", categories.clone())
                .with("reason", reason);
            let message = blocked_message(&categories);
            let policy = app.config.pricing.blocked_output_policy;
            let audit_now = audit.now;
            match app
                .store
                .block_generation(&run.job_id, &run.worker, policy, &message, audit)
                .await
            {
                Ok(ended) => {
                    if let Some(ended) = ended
                        && ended.status.is_terminal()
                        && changed_at(ended.finished_at, audit_now)
                    {
                        app.metrics.generations.entered(&ended.model, ended.status);
                    }
                    app.generation_ended.notify_waiters();
                    Ok(true)
                }
                Err(e) => Err(JobError::Retryable(err(codes::INTERNAL, e))),
            }
        }
    }
}

/// Writes every output to the object store, at the same paths on every attempt (a retry
/// overwrites, never orphans).
async fn store_outputs(
    app: &AppState,
    g: &Generation,
    artifacts: Vec<Artifact>,
    retention_days: u32,
) -> Result<Vec<Output>, JobError> {
    let expires_at = now_ms().saturating_add(i64::from(retention_days) * 86_400_000);
    let mut outputs = Vec::with_capacity(artifacts.len());
    for (idx, artifact) in (0u32..).zip(artifacts) {
        let path = Outputs::object_path(&g.account_id, &g.id, idx, artifact.content_type);
        let bytes = artifact.bytes.len() as i64;
        app.outputs
            .put(&path, artifact.bytes)
            .await
            .map_err(|e| JobError::Retryable(err(codes::STORAGE_ERROR, format!("{e:#}"))))?;
        outputs.push(Output {
            idx,
            path,
            content_type: artifact.content_type.to_string(),
            width: artifact.width,
            height: artifact.height,
            duration_ms: artifact
                .duration_seconds
                .map(|s| (s * 1000.0).round() as i64),
            bytes,
            expires_at,
            deleted_at: None,
        });
    }
    Ok(outputs)
}

/// Ends the generation with its outputs and captures the hold, if this run still holds
/// the lease.
async fn settle(
    app: &AppState,
    g: &Generation,
    run: &RunInfo,
    outputs: Vec<Output>,
    end: &RunEnd<'_>,
) -> Result<Finished, JobError> {
    // Engines cost what was estimated; one that reports actual usage could charge less
    // here (never more: the hold is the ceiling).
    let charged = g.credits_estimated;
    let stored: Vec<String> = outputs.iter().map(|o| o.path.clone()).collect();
    let now = now_ms();
    let result = app
        .store
        .succeed_generation(
            &run.job_id,
            &run.worker,
            outputs,
            charged,
            end.completion,
            now,
        )
        .await;
    // Succeeded, or canceled when a cancel was asked for meanwhile.
    if let Ok(Some(ended)) = &result
        && ended.status.is_terminal()
        && changed_at(ended.finished_at, now)
    {
        app.metrics.generations.entered(&ended.model, ended.status);
        if ended.status == easel_core::jobs::JobStatus::Succeeded {
            app.metrics
                .generations
                .ran(&ended.model, end.started.elapsed());
        }
    }
    match result {
        Ok(Some(ended)) if ended.deleted_at.is_some() => {
            // Deleted while running: the files just stored must not outlive it.
            for path in stored {
                if let Err(e) = app.outputs.delete(&path).await {
                    tracing::warn!(generation.id = %g.id, error = %format!("{e:#}"), "could not delete an output of a deleted generation");
                }
            }
            app.generation_ended.notify_waiters();
            Ok(Finished::Stored)
        }
        Ok(Some(_)) => {
            app.run_stats.record(&g.model, end.started.elapsed());
            app.generation_ended.notify_waiters();
            Ok(Finished::Stored)
        }
        // The lease was lost (this node was presumed dead): the new holder finishes.
        Ok(None) => Ok(Finished::LeaseLost),
        Err(e) => Err(JobError::Retryable(err(codes::STORAGE_ERROR, e))),
    }
}

/// What a run of `job` under the lease holder `worker` knows of itself, for a run that is
/// not the local runner's (a remote worker's lease).
pub fn run_info(job: &easel_db::Job, worker: &str) -> RunInfo {
    RunInfo {
        job_id: job.id.clone(),
        worker: worker.to_string(),
        attempt: job.attempts,
        max_attempts: job.max_attempts,
        cancel: easel_queue::CancellationToken::new(),
    }
}
