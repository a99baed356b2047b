//! The runner: worker slots per queue, heartbeats, outcomes, and queue maintenance.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use easel_core::ids::IdKind;
use easel_core::jobs::{JobStatus, backoff_ms};
use easel_core::time::now_ms;
use easel_db::{Heartbeat, Store};
use rand::Rng;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::registry::{Job, JobError, Registry, RunInfo};

/// How a runner behaves. The defaults suit a server; tests shorten the times.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Unique per process: names the lease holder.
    pub worker_id: String,
    /// How long a claim holds a job without a heartbeat. A worker that dies loses its jobs
    /// to another worker this long after its last heartbeat.
    pub lease: Duration,
    /// How often a running job's lease is renewed (and a cancel request noticed).
    pub heartbeat: Duration,
    /// The safety net: how often the queues are checked for due jobs when nothing woke
    /// them (jittered ±20%). Slots are woken by [`RunnerHandle::wake`] (a job enqueued
    /// here, or on another node through the database's notifications), and a retry's
    /// time is waited for exactly, so this only catches a wake-up that was lost.
    pub poll: Duration,
    /// How often expired leases are reaped and stale queued jobs expired while this
    /// runner has jobs running or the last pass found work; `poll` otherwise.
    pub maintenance: Duration,
    /// Delay before the first retry; doubles per attempt up to `backoff_max`, plus jitter.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long [`RunnerHandle::shutdown`] waits for running jobs.
    pub shutdown_grace: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            worker_id: format!("w_{}", IdKind::Job.generate().trim_start_matches("job_")),
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            poll: Duration::from_millis(500),
            maintenance: Duration::from_secs(1),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

type Hook = Arc<dyn Fn(easel_db::Job) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Builds and starts the worker slots.
pub struct Runner<C> {
    shared: Shared<C>,
    queues: Vec<(String, usize)>,
}

struct Shared<C> {
    store: Arc<dyn Store>,
    /// Per queue: what idle slots wait on.
    wakers: HashMap<String, Arc<Notify>>,
    /// Tells the due-time watcher a job was put back with a later `run_at`.
    retimer: Notify,
    /// Per queue: `true` while its jobs must not be claimed (an open breaker).
    gates: HashMap<String, watch::Receiver<bool>>,
    running: Running,
    ctx: C,
    config: RunnerConfig,
    registry: Registry<C>,
    on_ended: Option<Hook>,
    stop: CancellationToken,
}

/// Jobs running on this runner: how to stop each one at once.
type Running = Arc<std::sync::Mutex<HashMap<String, LocalRun>>>;

#[derive(Clone)]
struct LocalRun {
    cancel: CancellationToken,
    canceled: Arc<AtomicBool>,
}

/// What the rest of the process may do with a started runner: wake a queue after
/// enqueueing, stop a job it is running. Cheap to clone.
#[derive(Clone)]
pub struct RunnerControl {
    wakers: Arc<HashMap<String, Arc<Notify>>>,
    running: Running,
}

impl RunnerControl {
    /// Wakes an idle slot of `queue` (call after enqueueing one job).
    pub fn wake(&self, queue: &str) {
        if let Some(waker) = self.wakers.get(queue) {
            waker.notify_one();
        }
    }

    /// Wakes every idle slot of `queue` (any number of jobs may have arrived).
    pub fn wake_all(&self, queue: &str) {
        if let Some(waker) = self.wakers.get(queue) {
            wake_all(waker);
        }
    }

    /// Wakes every idle slot of every queue (wake-ups may have been lost).
    pub fn wake_every_queue(&self) {
        for waker in self.wakers.values() {
            wake_all(waker);
        }
    }

    /// Stops `job_id` now if this runner is running it, as a cancel request noticed by a
    /// heartbeat would (record the request in the store first: the run ends `canceled`
    /// only if the store agrees). Other nodes stop it when the database tells them (PostgreSQL), or
    /// at their next heartbeat.
    pub fn cancel_local(&self, job_id: &str) -> bool {
        let run = match self.running.lock() {
            Ok(map) => map.get(job_id).cloned(),
            Err(poisoned) => poisoned.into_inner().get(job_id).cloned(),
        };
        match run {
            Some(run) => {
                run.canceled.store(true, Ordering::Release);
                run.cancel.cancel();
                true
            }
            None => false,
        }
    }
}

/// A started runner.
pub struct RunnerHandle {
    control: RunnerControl,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    grace: Duration,
}

impl<C: Clone + Send + Sync + 'static> Runner<C> {
    /// A runner over `store` whose jobs get `ctx`.
    pub fn new(store: Arc<dyn Store>, ctx: C, config: RunnerConfig) -> Runner<C> {
        let shared = Shared {
            store,
            wakers: HashMap::new(),
            retimer: Notify::new(),
            ctx,
            config,
            registry: Registry::new(),
            gates: HashMap::new(),
            running: Arc::default(),
            on_ended: None,
            stop: CancellationToken::new(),
        };
        Runner {
            shared,
            queues: Vec::new(),
        }
    }

    /// Makes jobs of kind `J` runnable.
    pub fn register<J: Job<Context = C>>(mut self) -> Runner<C> {
        self.shared.registry.register::<J>();
        self
    }

    /// Runs `queue` with `concurrency` slots.
    pub fn queue(mut self, name: impl Into<String>, concurrency: usize) -> Runner<C> {
        self.queues.push((name.into(), concurrency.max(1)));
        self
    }

    /// Pauses claiming from `queue` while `paused` holds `true` (a backend's breaker is
    /// open): its jobs wait in the queue instead of burning their attempts. Running jobs
    /// are not touched.
    pub fn gate(mut self, queue: impl Into<String>, paused: watch::Receiver<bool>) -> Runner<C> {
        self.shared.gates.insert(queue.into(), paused);
        self
    }

    /// Called with every job this runner ends for good (failed, canceled, succeeded) and
    /// every job maintenance ends (a dead worker's job out of attempts, an expired one), so
    /// the domain can settle what hangs on it (a hold, a generation's status).
    pub fn on_ended<F, Fut>(mut self, hook: F) -> Runner<C>
    where
        F: Fn(easel_db::Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.shared.on_ended = Some(Arc::new(move |job| Box::pin(hook(job))));
        self
    }

    /// Starts the slots, the due-time watcher and the maintenance loop.
    pub fn start(mut self) -> RunnerHandle {
        let stop = self.shared.stop.clone();
        let grace = self.shared.config.shutdown_grace;
        for (queue, _) in &self.queues {
            self.shared
                .wakers
                .entry(queue.clone())
                .or_insert_with(|| Arc::new(Notify::new()));
        }
        let wakers = self.shared.wakers.clone();
        let shared = Arc::new(self.shared);
        let mut tasks = Vec::new();
        for (queue, concurrency) in self.queues {
            let Some(waker) = wakers.get(&queue).cloned() else {
                continue;
            };
            for _ in 0..concurrency {
                tasks.push(tokio::spawn(slot(
                    Arc::clone(&shared),
                    queue.clone(),
                    Arc::clone(&waker),
                )));
            }
        }
        tasks.push(tokio::spawn(maintenance(Arc::clone(&shared))));
        tasks.push(tokio::spawn(due_times(Arc::clone(&shared))));
        let control = RunnerControl {
            wakers: Arc::new(wakers),
            running: Arc::clone(&shared.running),
        };
        RunnerHandle {
            control,
            stop,
            tasks,
            grace,
        }
    }
}

impl RunnerHandle {
    /// Wakes an idle slot of `queue` (call after enqueueing, to skip the poll delay).
    pub fn wake(&self, queue: &str) {
        self.control.wake(queue);
    }

    /// A clonable handle for waking queues and stopping local jobs.
    pub fn control(&self) -> RunnerControl {
        self.control.clone()
    }

    /// Stops claiming, lets running jobs finish for up to the grace period, then abandons
    /// the rest (their leases expire and another worker re-runs them).
    pub async fn shutdown(self) {
        self.stop.cancel();
        let all = futures_join(self.tasks);
        if tokio::time::timeout(self.grace, all).await.is_err() {
            tracing::warn!(
                grace_seconds = self.grace.as_secs(),
                "jobs still running at shutdown were abandoned to their leases"
            );
        }
    }
}

/// Wakes every task waiting on `waker` now, and (as a stored permit) the next one to wait.
pub fn wake_all(waker: &Notify) {
    waker.notify_waiters();
    waker.notify_one();
}

async fn futures_join(tasks: Vec<JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}

/// One worker slot: claim, run, repeat; idle until woken.
async fn slot<C: Clone + Send + Sync + 'static>(
    shared: Arc<Shared<C>>,
    queue: String,
    waker: Arc<Notify>,
) {
    let config = &shared.config;
    let lease_ms = millis(config.lease);
    let mut gate = shared.gates.get(&queue).cloned();
    while !shared.stop.is_cancelled() {
        if let Some(paused) = gate.as_mut()
            && *paused.borrow_and_update()
        {
            let gone = tokio::select! {
                changed = paused.wait_for(|p| !*p) => changed.is_err(),
                _ = shared.stop.cancelled() => return,
            };
            if gone {
                // The breaker is gone (shutting down): claim as before.
                gate = None;
            }
            continue;
        }
        let now = now_ms();
        match shared
            .store
            .claim(&queue, &config.worker_id, now + lease_ms, now)
            .await
        {
            Ok(Some(job)) => shared.execute(job).await,
            Ok(None) => {
                tokio::select! {
                    _ = waker.notified() => {}
                    _ = shared.stop.cancelled() => {}
                }
            }
            Err(e) => {
                tracing::warn!(queue = %queue, error = %e, "could not claim a job");
                // Not the safety net's long wait: the database may be back in a moment.
                tokio::select! {
                    _ = tokio::time::sleep(config.poll.min(config.maintenance)) => {}
                    _ = shared.stop.cancelled() => {}
                }
            }
        }
    }
}

impl<C: Clone + Send + Sync + 'static> Shared<C> {
    /// Runs one claimed job under heartbeats and records how it ended.
    async fn execute(&self, job: easel_db::Job) {
        let worker = self.config.worker_id.as_str();
        let Some((handler, completes_itself)) = self.registry.get(&job.kind) else {
            let why = format!("no handler for job kind `{}` on this worker", job.kind);
            tracing::error!(job.id = %job.id, job.kind = %job.kind, "{why}");
            self.record(&job, Err(JobError::Fatal(why)), false, false)
                .await;
            return;
        };
        let cancel = CancellationToken::new();
        let lost = Arc::new(AtomicBool::new(false));
        let canceled = Arc::new(AtomicBool::new(false));
        let beats = tokio::spawn(heartbeats(
            Arc::clone(&self.store),
            job.id.clone(),
            worker.to_string(),
            self.config.clone(),
            cancel.clone(),
            Arc::clone(&lost),
            Arc::clone(&canceled),
        ));
        self.track(
            &job.id,
            Some(LocalRun {
                cancel: cancel.clone(),
                canceled: Arc::clone(&canceled),
            }),
        );
        let info = RunInfo {
            job_id: job.id.clone(),
            worker: worker.to_string(),
            attempt: job.attempts,
            max_attempts: job.max_attempts,
            cancel: cancel.clone(),
        };
        // Run on its own task so that a panic is contained and reported as a JoinError.
        let outcome = match tokio::spawn(handler(self.ctx.clone(), &job.payload, info)).await {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => Err(JobError::Retryable("the job panicked".into())),
            Err(_) => Err(JobError::Retryable("the job was aborted".into())),
        };
        beats.abort();
        self.track(&job.id, None);
        if lost.load(Ordering::Acquire) {
            tracing::warn!(job.id = %job.id, "lease lost while running; the outcome is discarded");
            return;
        }
        self.record(
            &job,
            outcome,
            canceled.load(Ordering::Acquire),
            completes_itself,
        )
        .await;
    }

    /// Registers (or with `None` forgets) a job running here, for [`RunnerControl::cancel_local`].
    fn track(&self, job_id: &str, run: Option<LocalRun>) {
        let mut map = match self.running.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        match run {
            Some(run) => map.insert(job_id.to_string(), run),
            None => map.remove(job_id),
        };
    }

    /// Writes a run's outcome and calls the hook if the job ended for good.
    async fn record(
        &self,
        job: &easel_db::Job,
        outcome: Result<(), JobError>,
        cancel_requested: bool,
        completes_itself: bool,
    ) {
        if outcome.is_ok() && completes_itself {
            return;
        }
        let backoff = Backoff {
            base: self.config.backoff_base,
            max: self.config.backoff_max,
        };
        let worker = self.config.worker_id.as_str();
        let ended = record_outcome(
            self.store.as_ref(),
            job,
            worker,
            outcome,
            cancel_requested,
            backoff,
        )
        .await;
        match ended {
            Ok(Some(status)) if status.is_terminal() => self.ended(&job.id).await,
            // Back in the queue after a backoff: the watcher waits for that time.
            Ok(Some(_)) => self.retimer.notify_one(),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(job.id = %job.id, error = %e, "could not record a job's outcome; its lease will expire and it will run again")
            }
        }
    }

    /// Calls the hook with the job as stored now.
    async fn ended(&self, job_id: &str) {
        if let Some(hook) = &self.on_ended {
            match self.store.get_job(job_id).await {
                Ok(job) => hook(job).await,
                Err(e) => {
                    tracing::error!(job.id = %job_id, error = %e, "could not load an ended job for its hook")
                }
            }
        }
    }
}

/// How long a failed job waits before its retry: `base` doubling per attempt up to `max`,
/// plus jitter.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    fn delay_ms(self, attempt: u32) -> i64 {
        let jitter = rand::thread_rng().r#gen::<f64>();
        backoff_ms(attempt, millis(self.base), millis(self.max), jitter)
    }
}

/// Records how a run of `job` under the lease `worker` ended: succeeded, canceled (when a
/// cancel was requested), back to the queue after a backoff, or failed for good. Returns
/// the job's status when the lease was still held (`None`: it was lost and nothing
/// changed). Remote workers' outcomes go through here too, so an outcome means the same
/// wherever the job ran.
pub async fn record_outcome(
    store: &dyn Store,
    job: &easel_db::Job,
    worker: &str,
    outcome: Result<(), JobError>,
    cancel_requested: bool,
    backoff: Backoff,
) -> easel_db::DbResult<Option<JobStatus>> {
    let now = now_ms();
    let retry_at = |after: Duration| now + backoff.delay_ms(job.attempts).max(millis(after));
    match outcome {
        Ok(()) => Ok(store
            .complete_job(&job.id, worker, now)
            .await?
            .then_some(JobStatus::Succeeded)),
        Err(JobError::Canceled) if cancel_requested => Ok(store
            .finish_canceled(&job.id, worker, now)
            .await?
            .then_some(JobStatus::Canceled)),
        Err(JobError::Fatal(why)) => store.fail_job(&job.id, worker, &why, None, now).await,
        Err(JobError::RetryAfter(why, after)) => {
            let at = retry_at(after);
            store.fail_job(&job.id, worker, &why, Some(at), now).await
        }
        Err(JobError::Retryable(why)) => {
            let at = retry_at(Duration::ZERO);
            store.fail_job(&job.id, worker, &why, Some(at), now).await
        }
        Err(JobError::Canceled) => {
            let why = "stopped without a cancel request";
            let at = retry_at(Duration::ZERO);
            store.fail_job(&job.id, worker, why, Some(at), now).await
        }
    }
}

/// Renews the lease until aborted; cancels the run on a cancel request or a lost lease.
async fn heartbeats(
    store: Arc<dyn Store>,
    job_id: String,
    worker: String,
    config: RunnerConfig,
    cancel: CancellationToken,
    lost: Arc<AtomicBool>,
    canceled: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(config.heartbeat);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = now_ms();
        match store
            .heartbeat(&job_id, &worker, now + millis(config.lease), now)
            .await
        {
            Ok(Heartbeat::Held {
                cancel_requested: true,
            }) => {
                canceled.store(true, Ordering::Release);
                cancel.cancel();
            }
            Ok(Heartbeat::Held {
                cancel_requested: false,
            }) => {}
            Ok(Heartbeat::Lost) => {
                lost.store(true, Ordering::Release);
                cancel.cancel();
                return;
            }
            Err(e) => tracing::warn!(job.id = %job_id, error = %e, "heartbeat failed; retrying"),
        }
    }
}

/// Reaps leases of dead workers and expires stale queued jobs, on every node (the
/// statements are safe to run concurrently): every `maintenance` while there is work
/// about, every `poll` (jittered) on an idle node.
async fn maintenance<C: Clone + Send + Sync + 'static>(shared: Arc<Shared<C>>) {
    let mut busy = true;
    loop {
        let running = match shared.running.lock() {
            Ok(map) => !map.is_empty(),
            Err(poisoned) => !poisoned.into_inner().is_empty(),
        };
        let wait = if busy || running {
            shared.config.maintenance
        } else {
            jittered(shared.config.poll.max(shared.config.maintenance))
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.stop.cancelled() => return,
        }
        let now = now_ms();
        let mut ended = Vec::new();
        busy = false;
        match shared.store.reap_expired_leases(now).await {
            Ok(jobs) => {
                for job in &jobs {
                    tracing::warn!(job.id = %job.id, job.status = job.status.as_str(), "took back a job whose worker stopped heartbeating");
                    if job.status == JobStatus::Queued
                        && let Some(waker) = shared.wakers.get(&job.queue)
                    {
                        wake_all(waker);
                    }
                }
                busy |= !jobs.is_empty();
                ended.extend(jobs.into_iter().filter(|j| j.status.is_terminal()));
            }
            Err(e) => tracing::warn!(error = %e, "could not reap expired leases"),
        }
        match shared.store.expire_queued(now).await {
            Ok(jobs) => {
                busy |= !jobs.is_empty();
                ended.extend(jobs);
            }
            Err(e) => tracing::warn!(error = %e, "could not expire stale jobs"),
        }
        if let Some(hook) = &shared.on_ended {
            for job in ended {
                hook(job).await;
            }
        }
    }
}

/// Wakes the queues whose first job is due, then sleeps until the next one is (a
/// retry's backoff), a job is put back for later, or the safety net (`poll`) comes round.
/// One statement per pass for all queues.
async fn due_times<C: Clone + Send + Sync + 'static>(shared: Arc<Shared<C>>) {
    let queues: Vec<String> = shared.wakers.keys().cloned().collect();
    loop {
        let now = now_ms();
        let mut wait = jittered(shared.config.poll);
        match shared.store.next_due(&queues).await {
            Ok(dues) => {
                for (queue, due) in dues {
                    match due {
                        Some(due) if due <= now => {
                            if let Some(waker) = shared.wakers.get(&queue) {
                                wake_all(waker);
                            }
                        }
                        Some(due) => {
                            let until =
                                Duration::from_millis(u64::try_from(due - now).unwrap_or(0));
                            wait = wait.min(until);
                        }
                        None => {}
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read when queued jobs are due"),
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.retimer.notified() => {}
            _ = shared.stop.cancelled() => return,
        }
    }
}

/// `d` ± 20%, so that nodes started together do not poll together.
pub fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
