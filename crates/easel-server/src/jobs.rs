//! Background jobs of the server: running generations, and settling generations whose job
//! ended without outputs.
//!
//! A generation's job stores its outputs and marks the generation succeeded in one store
//! call ([`easel_db::GenerationStore::succeed_generation`], which also completes the job),
//! so a crash can never leave a succeeded job without its generation or the reverse. Every
//! other ending (failed after its retries, canceled, expired, a dead worker out of
//! attempts) reaches [`settle_ended`] through the runner's hook.

use std::time::{Duration, Instant};

use easel_core::audit::Actor;
use easel_core::jobs::JobStatus;
use easel_core::time::now_ms;
use easel_db::{AuditContext, GenerationEnd, Output};
use easel_engines::{EngineError, GenerationRequest};
use easel_queue::{Job, JobError, RunInfo, Runner, RunnerConfig, RunnerHandle};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::outputs::Outputs;
use crate::services::generations::GenerationInput;
use crate::services::moderation::output::{Verdict, blocked_message};

/// Runs one generation on its model's engine and stores the outputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunGeneration {
    pub generation_id: String,
    /// The plan's retention when the generation was created: outputs expire after it.
    pub retention_days: u32,
}

/// Error codes a generation can end with; the job's `last_error` is `"<code>: <message>"`.
pub mod codes {
    pub const ENGINE_ERROR: &str = "engine_error";
    pub const ENGINE_TIMEOUT: &str = "engine_timeout";
    pub const STORAGE_ERROR: &str = "output_storage_failed";
    pub const WORKER_LOST: &str = "worker_lost";
    pub const EXPIRED: &str = "queue_timeout";
    pub const INTERNAL: &str = "internal_error";
    pub const MODERATION_UNAVAILABLE: &str = "moderation_unavailable";
}

fn err(code: &str, message: impl std::fmt::Display) -> String {
    format!("{code}: {message}")
}

impl Job for RunGeneration {
    const KIND: &'static str = "generation.run";
    // succeed_generation completes the job with the outputs (or the job returns an error).
    const COMPLETES_ITSELF: bool = true;
    type Context = AppState;

    async fn run(&self, app: &AppState, run: &RunInfo) -> Result<(), JobError> {
        let now = now_ms();
        let g = app
            .store
            .mark_generation_running(&run.job_id, now)
            .await
            .map_err(|e| JobError::Retryable(err(codes::INTERNAL, e)))?;
        if g.status.is_terminal() {
            // The generation ended without its job (a store out of step): never run it.
            return Err(JobError::Fatal(err(
                codes::INTERNAL,
                "the generation already ended",
            )));
        }
        let input: GenerationInput = serde_json::from_value(g.input.clone())
            .map_err(|e| JobError::Fatal(err(codes::INTERNAL, format!("unreadable input: {e}"))))?;
        let engine = app.engines.get(&g.model, g.mode).ok_or_else(|| {
            JobError::Fatal(err(
                codes::ENGINE_ERROR,
                format!("model `{}` is no longer configured", g.model),
            ))
        })?;
        let timeout = app
            .config
            .models
            .get(&g.model)
            .map_or(300, |m| m.timeout_seconds);
        let request = GenerationRequest {
            id: g.id.clone(),
            model: g.model.clone(),
            kind: g.kind,
            prompt: input.prompt,
            negative_prompt: input.negative_prompt,
            width: input.width,
            height: input.height,
            n: input.n,
            seed: input.seed,
            duration_seconds: input.duration_seconds,
            fps: input.fps,
            input_image: None,
            attempt: run.attempt,
        };
        let started = Instant::now();
        let control = easel_engines::Control::new(run.cancel.clone());
        let produced = match tokio::time::timeout(
            Duration::from_secs(timeout),
            engine.generate(&request, &control),
        )
        .await
        {
            Err(_) => {
                return Err(JobError::Retryable(err(
                    codes::ENGINE_TIMEOUT,
                    format!("the engine did not finish within {timeout} s"),
                )));
            }
            Ok(Err(EngineError::Canceled)) => return Err(JobError::Canceled),
            Ok(Err(e)) if e.is_retryable() => {
                return Err(JobError::Retryable(err(codes::ENGINE_ERROR, e.detail())));
            }
            Ok(Err(e)) => return Err(JobError::Fatal(err(codes::ENGINE_ERROR, e.detail()))),
            Ok(Ok(generated)) => generated,
        };
        let artifacts = easel_engines::check::inspect_all(
            &request,
            produced.outputs,
            &easel_engines::check::Limits::default(),
        )
        .map_err(|e| JobError::Retryable(err(codes::ENGINE_ERROR, e.detail())))?;
        if let Some(verdict) =
            crate::services::moderation::output::moderate(app, &g, &artifacts).await
        {
            match verdict {
                Verdict::Clean => {}
                Verdict::Unavailable(why) => {
                    return Err(JobError::Fatal(err(
                        codes::MODERATION_UNAVAILABLE,
                        format!(
                            "Output moderation could not check the outputs ({why}); nothing was delivered or charged."
                        ),
                    )));
                }
                Verdict::Flagged { categories, reason } => {
                    // Withheld: never stored, so there is nothing to delete.
                    let audit = AuditContext::new(Actor::system(), None)
                        .with("categories", categories.clone())
                        .with("reason", reason);
                    let message = blocked_message(&categories);
                    let policy = app.config.pricing.blocked_output_policy;
                    return match app
                        .store
                        .block_generation(&run.job_id, &run.worker, policy, &message, audit)
                        .await
                    {
                        Ok(_) => {
                            app.generation_ended.notify_waiters();
                            Ok(())
                        }
                        Err(e) => Err(JobError::Retryable(err(codes::INTERNAL, e))),
                    };
                }
            }
        }
        let finished = now_ms();
        let expires_at = finished.saturating_add(i64::from(self.retention_days) * 86_400_000);
        let mut outputs = Vec::with_capacity(artifacts.len());
        for (idx, artifact) in (0u32..).zip(artifacts) {
            let path = Outputs::object_path(&g.account_id, &g.id, idx, artifact.content_type);
            let bytes = artifact.bytes.len() as i64;
            // The same paths on every attempt: a retry overwrites, never orphans.
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
        // The sandbox and today's engines cost what was estimated; engines that report
        // actual usage will charge less here (never more: the hold is the ceiling).
        let charged = g.credits_estimated;
        let stored: Vec<String> = outputs.iter().map(|o| o.path.clone()).collect();
        match app
            .store
            .succeed_generation(&run.job_id, &run.worker, outputs, charged, now_ms())
            .await
        {
            Ok(Some(ended)) if ended.deleted_at.is_some() => {
                // Deleted while running: the files just stored must not outlive it.
                for path in stored {
                    if let Err(e) = app.outputs.delete(&path).await {
                        tracing::warn!(generation.id = %g.id, error = %format!("{e:#}"), "could not delete an output of a deleted generation");
                    }
                }
                app.generation_ended.notify_waiters();
                Ok(())
            }
            Ok(Some(_)) => {
                app.run_stats.record(&g.model, started.elapsed());
                app.generation_ended.notify_waiters();
                Ok(())
            }
            // The lease was lost (this node was presumed dead): the new holder finishes.
            Ok(None) => Ok(()),
            Err(e) => Err(JobError::Retryable(err(codes::STORAGE_ERROR, e))),
        }
    }
}

/// Settles the generation of a job that ended without succeeding here.
pub async fn settle_ended(app: AppState, job: easel_db::Job) {
    if job.kind != RunGeneration::KIND || job.status == JobStatus::Succeeded {
        return;
    }
    let (code, message) = match job.status {
        JobStatus::Canceled => (None, None),
        JobStatus::Expired => (
            Some(codes::EXPIRED.to_string()),
            Some(
                "The generation waited in the queue longer than the model allows and was not run."
                    .to_string(),
            ),
        ),
        _ => {
            let last = job.last_error.clone().unwrap_or_default();
            match last.split_once(": ") {
                Some((code, message))
                    if code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
                {
                    (Some(code.to_string()), Some(message.to_string()))
                }
                _ if last.starts_with("lease expired") => (
                    Some(codes::WORKER_LOST.to_string()),
                    Some(
                        "The worker running the generation stopped responding too many times."
                            .to_string(),
                    ),
                ),
                _ => (Some(codes::ENGINE_ERROR.to_string()), Some(last)),
            }
        }
    };
    let end = GenerationEnd {
        status: job.status,
        error_code: code,
        error_message: message,
    };
    if let Err(e) = app.store.end_generation(&job.id, end, now_ms()).await {
        tracing::error!(job.id = %job.id, error = %e, "could not settle the generation of an ended job");
    }
    app.generation_ended.notify_waiters();
}

/// Starts the in-process workers: every configured model's queues with its concurrency.
pub fn start(app: &AppState) -> RunnerHandle {
    let q = &app.config.queue;
    let config = RunnerConfig {
        lease: Duration::from_millis(q.lease_ms),
        heartbeat: Duration::from_millis(q.heartbeat_ms),
        poll: Duration::from_millis(q.poll_ms),
        backoff_base: Duration::from_millis(q.retry_base_ms),
        backoff_max: Duration::from_millis(q.retry_max_ms),
        shutdown_grace: Duration::from_secs(app.config.http.shutdown_grace_seconds),
        ..RunnerConfig::default()
    };
    let hook_app = app.clone();
    let mut runner = Runner::new(std::sync::Arc::clone(&app.store), app.clone(), config)
        .register::<RunGeneration>()
        .on_ended(move |job| settle_ended(hook_app.clone(), job));
    for (queue, slots) in crate::engines::queues(&app.config) {
        runner = runner.queue(queue, slots);
    }
    runner.start()
}

/// Rows per sweep pass.
const SWEEP_BATCH: i64 = 100;

/// Every `queue.sweep_ms` until `stop`: grants plan allowances when a billing period
/// begins, issues the last month's invoices once it has closed, settles generations whose job ended on a node that
/// died before settling them, and deletes outputs past their retention (object first,
/// then the row, so a crash in between only means deleting it again), and purges old logs,
/// ended console sessions and used form tokens.
pub async fn sweep(app: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(app.config.queue.sweep_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut allowances_granted_for: Option<String> = None;
    let mut invoices_issued_for = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        // Plan allowances: once per billing period per node (the ledger makes repeats,
        // here or on other nodes, change nothing).
        let period = crate::services::credits::billing_period(now_ms());
        if allowances_granted_for.as_deref() != Some(period.as_str()) {
            match crate::services::credits::grant_plan_allowances(&app, now_ms()).await {
                Ok(granted) => {
                    if granted > 0 {
                        tracing::info!(period = %period, accounts = granted, "granted plan allowances");
                    }
                    allowances_granted_for = Some(period);
                }
                Err(e) => {
                    tracing::warn!(error = ?e.message, "could not grant plan allowances; will retry")
                }
            }
        }
        // Invoices: the last month's once it has closed, once per node (the store makes
        // repeats, here or on other nodes, change nothing).
        crate::services::invoices::sweep(&app, &mut invoices_issued_for, now_ms()).await;
        match app.store.unsettled_generation_jobs(SWEEP_BATCH).await {
            Ok(jobs) => {
                for job in jobs {
                    tracing::warn!(job.id = %job.id, job.status = job.status.as_str(), "settling a generation its node left open");
                    settle_ended(app.clone(), job).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not look for unsettled generations"),
        }
        let now = now_ms();
        match app.store.expired_outputs(now, SWEEP_BATCH).await {
            Ok(expired) => {
                for (generation_id, output) in expired {
                    if let Err(e) = app.outputs.delete(&output.path).await {
                        tracing::warn!(generation.id = %generation_id, error = %format!("{e:#}"), "could not delete an expired output; will retry");
                        continue;
                    }
                    if let Err(e) = app
                        .store
                        .mark_output_deleted(&generation_id, output.idx, now)
                        .await
                    {
                        tracing::warn!(generation.id = %generation_id, error = %e, "could not mark an expired output deleted");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not look for expired outputs"),
        }
        let retention_ms = i64::try_from(app.config.request_log.retention_days)
            .unwrap_or(i64::MAX)
            .saturating_mul(86_400_000);
        match app
            .store
            .purge_request_logs(now.saturating_sub(retention_ms), SWEEP_BATCH * 10)
            .await
        {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "purged old request log entries"),
            Err(e) => tracing::warn!(error = %e, "could not purge the request log"),
        }
        let webhook_ms = i64::try_from(app.config.webhooks.log_retention_days)
            .unwrap_or(i64::MAX)
            .saturating_mul(86_400_000);
        match app
            .store
            .purge_webhook_deliveries(now.saturating_sub(webhook_ms), SWEEP_BATCH * 10)
            .await
        {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "purged old webhook deliveries"),
            Err(e) => tracing::warn!(error = %e, "could not purge the webhook delivery log"),
        }
        match app.store.purge_console_sessions(now).await {
            Ok(0) => {}
            Ok(purged) => {
                tracing::debug!(purged, "purged ended console sessions and used form tokens")
            }
            Err(e) => tracing::warn!(error = %e, "could not purge ended console sessions"),
        }
    }
}
