//! The runner against real databases (`both_backends!`): exactly-once execution across
//! runners, retries with backoff, fatal errors, panics, cancellation, dead workers, expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use easel_core::jobs::JobStatus;
use easel_core::time::now_ms;
use easel_db::Store;
use easel_queue::{Job, JobError, RunInfo, Runner, RunnerConfig, RunnerHandle, enqueue};
use easel_test_utils::{TestDb, both_backends};
use serde::{Deserialize, Serialize};

/// Shared by every job of a test: runs per job id, and jobs the hook saw end.
#[derive(Clone, Default)]
struct Ctx {
    runs: Arc<Mutex<HashMap<String, u32>>>,
    ended: Arc<Mutex<Vec<(String, JobStatus)>>>,
}

impl Ctx {
    fn note(&self, run: &RunInfo) {
        if let Ok(mut runs) = self.runs.lock() {
            *runs.entry(run.job_id.clone()).or_default() += 1;
        }
    }
    fn runs(&self) -> HashMap<String, u32> {
        self.runs.lock().map(|r| r.clone()).unwrap_or_default()
    }
    fn ended(&self) -> Vec<(String, JobStatus)> {
        self.ended.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

#[derive(Serialize, Deserialize)]
struct Record;
impl Job for Record {
    const KIND: &'static str = "record";
    type Context = Ctx;
    async fn run(&self, ctx: &Ctx, run: &RunInfo) -> Result<(), JobError> {
        ctx.note(run);
        Ok(())
    }
}

/// Fails (retryably) on its first `fail_times` attempts.
#[derive(Serialize, Deserialize)]
struct Flaky {
    fail_times: u32,
}
impl Job for Flaky {
    const KIND: &'static str = "flaky";
    const MAX_ATTEMPTS: u32 = 3;
    type Context = Ctx;
    async fn run(&self, ctx: &Ctx, run: &RunInfo) -> Result<(), JobError> {
        ctx.note(run);
        if run.attempt <= self.fail_times {
            Err(JobError::Retryable(format!("attempt {}", run.attempt)))
        } else {
            Ok(())
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Doomed;
impl Job for Doomed {
    const KIND: &'static str = "doomed";
    type Context = Ctx;
    async fn run(&self, ctx: &Ctx, run: &RunInfo) -> Result<(), JobError> {
        ctx.note(run);
        Err(JobError::Fatal("bad input".into()))
    }
}

#[derive(Serialize, Deserialize)]
struct Panics;
impl Job for Panics {
    const KIND: &'static str = "panics";
    const MAX_ATTEMPTS: u32 = 2;
    type Context = Ctx;
    async fn run(&self, ctx: &Ctx, run: &RunInfo) -> Result<(), JobError> {
        ctx.note(run);
        let empty: Vec<u32> = Vec::new();
        // An out-of-bounds index, as a buggy job might do.
        let _ = empty[run.attempt as usize];
        Ok(())
    }
}

/// Runs until cancelled.
#[derive(Serialize, Deserialize)]
struct Patient;
impl Job for Patient {
    const KIND: &'static str = "patient";
    type Context = Ctx;
    async fn run(&self, ctx: &Ctx, run: &RunInfo) -> Result<(), JobError> {
        ctx.note(run);
        tokio::select! {
            _ = run.cancel.cancelled() => Err(JobError::Canceled),
            _ = tokio::time::sleep(Duration::from_secs(30)) => Ok(()),
        }
    }
}

fn config() -> RunnerConfig {
    RunnerConfig {
        lease: Duration::from_millis(600),
        heartbeat: Duration::from_millis(100),
        poll: Duration::from_millis(20),
        maintenance: Duration::from_millis(100),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(2),
        ..RunnerConfig::default()
    }
}

async fn store(db: &TestDb) -> Arc<dyn Store> {
    let store = easel_db::connect(&db.url, 8)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate: {e}"));
    store
}

fn runner(store: &Arc<dyn Store>, ctx: &Ctx, concurrency: usize) -> RunnerHandle {
    let ended = Arc::clone(&ctx.ended);
    Runner::new(Arc::clone(store), ctx.clone(), config())
        .register::<Record>()
        .register::<Flaky>()
        .register::<Doomed>()
        .register::<Panics>()
        .register::<Patient>()
        .queue("q", concurrency)
        .on_ended(move |job| {
            let ended = Arc::clone(&ended);
            async move {
                if let Ok(mut ended) = ended.lock() {
                    ended.push((job.id, job.status));
                }
            }
        })
        .start()
}

async fn add<J: Job>(store: &Arc<dyn Store>, job: &J) -> String {
    enqueue(store.as_ref(), "q", job, now_ms(), None)
        .await
        .unwrap_or_else(|e| panic!("enqueue: {e}"))
        .id
}

/// Whether the `on_ended` hook is told of the job ending with `status` within 2 s (it is
/// called just after the status is written, so a test may look a moment too early).
async fn hook_saw(ctx: &Ctx, id: &str, status: JobStatus) -> bool {
    for _ in 0..100 {
        if ctx.ended().contains(&(id.to_string(), status)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Waits (up to 10 s) until the job reaches `status`; returns it.
async fn wait_for(store: &Arc<dyn Store>, id: &str, status: JobStatus) -> easel_db::Job {
    for _ in 0..500 {
        let job = store
            .get_job(id)
            .await
            .unwrap_or_else(|e| panic!("get: {e}"));
        if job.status == status {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "job {id} never reached {status:?}: {:?}",
        store.get_job(id).await
    );
}

both_backends!(
    every_job_runs_exactly_once_across_two_runners,
    |db: TestDb| async move {
        let (node_a, node_b) = (store(&db).await, store(&db).await);
        let ctx = Ctx::default();
        let mut ids = Vec::new();
        for _ in 0..200 {
            ids.push(add(&node_a, &Record).await);
        }
        let (a, b) = (runner(&node_a, &ctx, 4), runner(&node_b, &ctx, 4));
        for id in &ids {
            wait_for(&node_a, id, JobStatus::Succeeded).await;
        }
        let runs = ctx.runs();
        assert_eq!(runs.len(), 200, "no job lost");
        assert!(
            runs.values().all(|n| *n == 1),
            "no job run twice: {:?}",
            runs.values().filter(|n| **n != 1).count()
        );
        // The hook runs just after the store records the end: give the last one a moment.
        for _ in 0..250 {
            if ctx.ended().len() >= 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(ctx.ended().len(), 200, "the hook saw each end once");
        a.shutdown().await;
        b.shutdown().await;
    }
);

both_backends!(
    retryable_failures_back_off_then_succeed_or_fail,
    |db: TestDb| async move {
        let store = store(&db).await;
        let ctx = Ctx::default();
        let recovers = add(&store, &Flaky { fail_times: 1 }).await;
        let never = add(&store, &Flaky { fail_times: 99 }).await;
        let handle = runner(&store, &ctx, 2);
        let ok = wait_for(&store, &recovers, JobStatus::Succeeded).await;
        assert_eq!(ok.attempts, 2);
        let failed = wait_for(&store, &never, JobStatus::Failed).await;
        assert_eq!(
            (failed.attempts, failed.last_error.as_deref()),
            (3, Some("attempt 3"))
        );
        assert_eq!(
            ctx.runs().get(&never),
            Some(&3),
            "exactly MAX_ATTEMPTS runs"
        );
        assert!(ctx.ended().contains(&(never.clone(), JobStatus::Failed)));
        handle.shutdown().await;
    }
);

both_backends!(
    fatal_errors_and_panics_end_jobs_and_the_runner_goes_on,
    |db: TestDb| async move {
        let store = store(&db).await;
        let ctx = Ctx::default();
        let doomed = add(&store, &Doomed).await;
        let panics = add(&store, &Panics).await;
        // A job of a kind no runner knows any more (a retired kind left in the queue).
        let raw = store
            .enqueue(easel_db::NewJob {
                id: easel_core::ids::IdKind::Job.generate(),
                queue: "q".into(),
                kind: "retired_kind".into(),
                payload: "{}".into(),
                max_attempts: 3,
                run_at: now_ms(),
                expires_at: None,
                now: now_ms(),
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let handle = runner(&store, &ctx, 1);
        let d = wait_for(&store, &doomed, JobStatus::Failed).await;
        assert_eq!(
            (d.attempts, d.last_error.as_deref()),
            (1, Some("bad input"))
        );
        let p = wait_for(&store, &panics, JobStatus::Failed).await;
        assert_eq!(
            (p.attempts, p.last_error.as_deref()),
            (2, Some("the job panicked"))
        );
        let u = wait_for(&store, &raw.id, JobStatus::Failed).await;
        assert!(
            u.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("retired_kind")
        );
        let after = add(&store, &Record).await;
        wait_for(&store, &after, JobStatus::Succeeded).await;
        handle.shutdown().await;
    }
);

both_backends!(a_running_job_stops_when_canceled, |db: TestDb| async move {
    let store = store(&db).await;
    let ctx = Ctx::default();
    let id = add(&store, &Patient).await;
    let handle = runner(&store, &ctx, 1);
    wait_for(&store, &id, JobStatus::Running).await;
    let asked = std::time::Instant::now();
    store
        .cancel_job(&id, now_ms())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for(&store, &id, JobStatus::Canceled).await;
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "canceled within a heartbeat or two: {:?}",
        asked.elapsed()
    );
    assert!(
        hook_saw(&ctx, &id, JobStatus::Canceled).await,
        "the hook was told"
    );
    handle.shutdown().await;
});

both_backends!(
    a_dead_workers_job_runs_again_after_its_lease,
    |db: TestDb| async move {
        let store = store(&db).await;
        let ctx = Ctx::default();
        let id = add(&store, &Record).await;
        // A worker claims it and dies without a heartbeat.
        let now = now_ms();
        let claimed = store
            .claim("q", "dead-worker", now + 300, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claimed.map(|j| j.id), Some(id.clone()));
        let handle = runner(&store, &ctx, 1);
        let done = wait_for(&store, &id, JobStatus::Succeeded).await;
        assert_eq!(done.attempts, 2, "the lost attempt counts");
        assert_eq!(ctx.runs().get(&id), Some(&1));
        handle.shutdown().await;
    }
);

both_backends!(
    jobs_queued_past_their_deadline_expire,
    |db: TestDb| async move {
        let store = store(&db).await;
        let ctx = Ctx::default();
        // A queue nobody serves, so the job waits until its deadline.
        let job = enqueue(
            store.as_ref(),
            "unserved",
            &Record,
            now_ms(),
            Some(now_ms() + 100),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let handle = runner(&store, &ctx, 1);
        wait_for(&store, &job.id, JobStatus::Expired).await;
        assert!(hook_saw(&ctx, &job.id, JobStatus::Expired).await);
        assert_eq!(
            ctx.ended(),
            vec![(job.id.clone(), JobStatus::Expired)],
            "told once"
        );
        handle.shutdown().await;
    }
);

both_backends!(
    a_runner_that_was_shut_down_claims_nothing,
    |db: TestDb| async move {
        let store = store(&db).await;
        let ctx = Ctx::default();
        let handle = runner(&store, &ctx, 2);
        handle.shutdown().await;
        let id = add(&store, &Record).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            store.get_job(&id).await.map(|j| j.status).ok(),
            Some(JobStatus::Queued),
            "a stopped runner claims nothing"
        );
    }
);

/// Asks to be retried no sooner than 400 ms on its first attempt (a backend's
/// `Retry-After`), and records when each attempt started.
#[derive(Serialize, Deserialize)]
struct Deferred;
impl Job for Deferred {
    const KIND: &'static str = "deferred";
    type Context = Ctx;
    async fn run(&self, ctx: &Ctx, run: &RunInfo) -> Result<(), JobError> {
        ctx.note(run);
        if let Ok(mut ended) = ctx.ended.lock() {
            ended.push((format!("start {}", now_ms()), JobStatus::Running));
        }
        if run.attempt == 1 {
            Err(JobError::RetryAfter(
                "busy".into(),
                Duration::from_millis(400),
            ))
        } else {
            Ok(())
        }
    }
}

both_backends!(
    retry_after_is_honoured_over_a_shorter_backoff,
    |db: TestDb| async move {
        let node = store(&db).await;
        let ctx = Ctx::default();
        let runner = Runner::new(Arc::clone(&node), ctx.clone(), config())
            .register::<Deferred>()
            .queue("q", 1)
            .start();
        let id = add(&node, &Deferred).await;
        wait_for(&node, &id, JobStatus::Succeeded).await;
        let starts: Vec<i64> = ctx
            .ended()
            .iter()
            .filter_map(|(what, _)| what.strip_prefix("start ").and_then(|t| t.parse().ok()))
            .collect();
        assert_eq!(starts.len(), 2, "{starts:?}");
        // The runner's own backoff here is 10–50 ms; the backend asked for 400.
        assert!(
            starts[1] - starts[0] >= 400,
            "retried after {} ms",
            starts[1] - starts[0]
        );
        runner.shutdown().await;
    }
);

both_backends!(
    a_paused_queue_is_not_claimed_until_its_gate_opens,
    |db: TestDb| async move {
        let node = store(&db).await;
        let ctx = Ctx::default();
        let (gate, paused) = tokio::sync::watch::channel(true);
        let runner = Runner::new(Arc::clone(&node), ctx.clone(), config())
            .register::<Record>()
            .gate("q", paused)
            .queue("q", 2)
            .start();
        let id = add(&node, &Record).await;
        runner.wake("q");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let job = node
            .get_job(&id)
            .await
            .unwrap_or_else(|e| panic!("get: {e}"));
        assert_eq!(job.status, JobStatus::Queued, "a paused queue waits");
        assert_eq!(job.attempts, 0, "and spends no attempt");
        gate.send_replace(false);
        wait_for(&node, &id, JobStatus::Succeeded).await;
        assert_eq!(ctx.runs().get(&id), Some(&1));
        runner.shutdown().await;
    }
);
