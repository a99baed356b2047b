//! Job kinds: the `Job` trait, type-erased handlers, and enqueueing.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use easel_core::ids::IdKind;
use easel_db::{DbResult, NewJob, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

/// What a running job knows about its run.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub job_id: String,
    /// The lease holder running it: what store calls that finish the job atomically with
    /// domain changes (a generation's outputs) must name.
    pub worker: String,
    /// 1 for the first run; a retry or a re-lease after a crash counts up.
    pub attempt: u32,
    pub max_attempts: u32,
    /// Cancelled when a cancel is requested or the lease is lost: stop promptly.
    pub cancel: CancellationToken,
}

impl RunInfo {
    /// Whether this is the last attempt the job will get.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// How a run ended, other than successfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// Worth trying again later (a timeout, an unreachable backend).
    Retryable(String),
    /// Worth trying again, but not before the given time (a backend's `Retry-After`); the
    /// runner waits for whichever is later, this or its own backoff.
    RetryAfter(String, std::time::Duration),
    /// Will never succeed (bad input); fails the job at once.
    Fatal(String),
    /// Stopped because the run's token was cancelled.
    Canceled,
}

/// A kind of background work.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stored kind name; unique per runner.
    const KIND: &'static str;
    /// Runs before the job fails for good.
    const MAX_ATTEMPTS: u32 = 3;
    /// Whether a successful run has already completed its job in the store itself (in the
    /// same transaction as its domain change, naming [`RunInfo::worker`]), so the runner
    /// must not spend another write completing it.
    const COMPLETES_ITSELF: bool = false;
    /// What every run of this kind gets (the app, clients, …).
    type Context: Clone + Send + Sync + 'static;

    /// Does the work. Must be idempotent: after a crash the same job may run again.
    fn run(
        &self,
        ctx: &Self::Context,
        run: &RunInfo,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// Adds a job of kind `J` to `queue`, runnable at `run_at` (ms) and expiring if still
/// queued at `expires_at`.
pub async fn enqueue<J: Job>(
    store: &dyn Store,
    queue: &str,
    job: &J,
    run_at: i64,
    expires_at: Option<i64>,
) -> DbResult<easel_db::Job> {
    let payload = serde_json::to_string(job)
        .map_err(|e| easel_db::DbError::Config(format!("job payload: {e}")))?;
    store
        .enqueue(NewJob {
            id: IdKind::Job.generate(),
            queue: queue.to_string(),
            kind: J::KIND.to_string(),
            payload,
            max_attempts: J::MAX_ATTEMPTS,
            run_at,
            expires_at,
            now: easel_core::time::now_ms(),
        })
        .await
}

type BoxedRun = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
type Handler<C> = Arc<dyn Fn(C, &str, RunInfo) -> BoxedRun + Send + Sync>;

/// Kind name → how to decode and run it.
pub(crate) struct Registry<C> {
    handlers: HashMap<&'static str, (Handler<C>, bool)>,
}

impl<C: Clone + Send + Sync + 'static> Registry<C> {
    pub(crate) fn new() -> Registry<C> {
        Registry {
            handlers: HashMap::new(),
        }
    }

    pub(crate) fn register<J: Job<Context = C>>(&mut self) {
        let handler: Handler<C> = Arc::new(|ctx: C, payload: &str, run: RunInfo| -> BoxedRun {
            match serde_json::from_str::<J>(payload) {
                Ok(job) => Box::pin(async move { job.run(&ctx, &run).await }),
                Err(e) => {
                    let why = format!("cannot decode the {} payload: {e}", J::KIND);
                    Box::pin(async move { Err(JobError::Fatal(why)) })
                }
            }
        });
        self.handlers
            .insert(J::KIND, (handler, J::COMPLETES_ITSELF));
    }

    /// The handler of `kind`, and whether its jobs complete themselves.
    pub(crate) fn get(&self, kind: &str) -> Option<(Handler<C>, bool)> {
        self.handlers.get(kind).cloned()
    }
}
