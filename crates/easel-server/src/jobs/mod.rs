//! Background jobs of the server: running generations, and settling generations whose job
//! ended without outputs.
//!
//! A generation's job stores its outputs and marks the generation succeeded in one store
//! call ([`easel_db::GenerationStore::succeed_generation`], which also completes the job),
//! so a crash can never leave a succeeded job without its generation or the reverse. Every
//! other ending (failed after its retries, canceled, expired, a dead worker out of
//! attempts) reaches [`settle_ended`] through the runner's hook.

use std::time::Duration;

use easel_core::jobs::JobStatus;
use easel_core::time::now_ms;
use easel_db::GenerationEnd;
use easel_queue::{Job, JobError, RunInfo, Runner, RunnerConfig, RunnerHandle};
use serde::{Deserialize, Serialize};

use crate::app::AppState;

/// Runs one generation on its model's engine and stores the outputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunGeneration {
    pub generation_id: String,
    /// The plan's retention when the generation was created: outputs expire after it.
    pub retention_days: u32,
}

/// Error codes a generation can end with; the job's `last_error` is `"<code>: <message>"`.
pub mod codes {
    /// The backend rejected the request and would again (a permanent failure).
    pub const ENGINE_ERROR: &str = "engine_error";
    pub const ENGINE_TIMEOUT: &str = "engine_timeout";
    /// The backend was down or failing through every attempt.
    pub const ENGINE_UNAVAILABLE: &str = "engine_unavailable";
    /// The backend's outputs failed the checks through every attempt.
    pub const ENGINE_BAD_OUTPUT: &str = "engine_bad_output";
    /// The backend is set up wrong; the operator must act.
    pub const ENGINE_MISCONFIGURED: &str = "engine_misconfigured";
    /// The backend's own safety system refused the prompt or its output.
    pub const BACKEND_CONTENT_REFUSED: &str = "backend_content_refused";
    pub const STORAGE_ERROR: &str = "output_storage_failed";
    pub const WORKER_LOST: &str = "worker_lost";
    pub const EXPIRED: &str = "queue_timeout";
    pub const INTERNAL: &str = "internal_error";
    pub const MODERATION_UNAVAILABLE: &str = "moderation_unavailable";
}

pub(crate) mod failure;
pub(crate) mod run;

fn err(code: &str, message: impl std::fmt::Display) -> String {
    format!("{code}: {message}")
}

impl Job for RunGeneration {
    const KIND: &'static str = "generation.run";
    // succeed_generation completes the job with the outputs (or the job returns an error).
    const COMPLETES_ITSELF: bool = true;
    type Context = AppState;

    async fn run(&self, app: &AppState, run: &RunInfo) -> Result<(), JobError> {
        run::generation(self, app, run).await
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
    let now = now_ms();
    match app.store.end_generation(&job.id, end, now).await {
        Ok(g) => {
            if g.status.is_terminal() && crate::metrics::generations::changed_at(g.finished_at, now)
            {
                app.metrics.generations.entered(&g.model, g.status);
            }
        }
        Err(e) => {
            tracing::error!(job.id = %job.id, error = %e, "could not settle the generation of an ended job")
        }
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
    for (queue, slots, model, mode) in crate::engines::queues(&app.config) {
        // A backend that is down pauses its queue: the jobs wait instead of failing.
        if let Some(breaker) = app.engines.breaker(&model, mode) {
            runner = runner.gate(queue.clone(), breaker.paused());
        }
        runner = runner.queue(queue, slots);
    }
    runner.start()
}

/// Rows per sweep pass.
const SWEEP_BATCH: i64 = 100;

/// Every `queue.sweep_ms` until `stop`: grants plan allowances when a billing period
/// begins, issues the last month's invoices once it has closed, mails failed-payment
/// notices and suspends accounts whose subscription stayed unpaid, settles generations whose job ended on a node that
/// died before settling them, and deletes outputs past their retention (object first,
/// then the row, so a crash in between only means deleting it again), and purges old logs,
/// ended console sessions and used form tokens.
pub async fn sweep(app: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(app.config.queue.sweep_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut allowances_granted_for: Option<String> = None;
    let mut invoices_issued_for = None;
    let mut subscriptions_swept_at = i64::MIN / 2;
    let mut expiring_keys_swept_at = i64::MIN / 2;
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
        // Subscriptions whose payment failed: notices, then the suspension (once a minute).
        crate::services::subscriptions::sweep(&app, &mut subscriptions_swept_at, now_ms()).await;
        // Keys expiring soon: `key.expiring`, once per key (once a minute).
        crate::services::keys::sweep_expiring(&app, &mut expiring_keys_swept_at, now_ms()).await;
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
