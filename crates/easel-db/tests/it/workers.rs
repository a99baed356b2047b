//! Remote workers: registration and revocation, claims under leases, heartbeats, how
//! leases end, the sweep of lost leases and quarantine. Shared helpers here; the
//! behaviours in `workers/`.

mod batched;
mod claims;
mod leases;
mod registry;
mod sweep;

use std::sync::Arc;

use easel_core::ids::IdKind;
use easel_core::worker_token;
use easel_db::{Job, NewJob, NewWorker, QuarantinePolicy, Store, Worker, WorkerClaim, WorkerLease};

use crate::support;

const T0: i64 = 1_800_000_000_000;

/// A worker to register as `name`, with a fresh token; its hash is `new.token_hash`.
fn new_worker(name: &str, now: i64) -> NewWorker {
    let token = worker_token::generate("vs");
    NewWorker {
        id: IdKind::Worker.generate(),
        name: name.into(),
        token_hash: token.hash,
        display_prefix: token.display_prefix,
        models: vec!["sdxl".into(), "flux-dev".into()],
        now,
    }
}

async fn worker(store: &Arc<dyn Store>, name: &str) -> Worker {
    store
        .create_worker(new_worker(name, T0), support::audit_at(T0))
        .await
        .unwrap_or_else(|e| panic!("create_worker {name}: {e}"))
}

async fn get_worker(store: &Arc<dyn Store>, id: &str) -> Worker {
    store
        .get_worker(id)
        .await
        .unwrap_or_else(|e| panic!("get_worker {id}: {e}"))
}

async fn enqueue_at(
    store: &Arc<dyn Store>,
    queue: &str,
    run_at: i64,
    expires_at: Option<i64>,
) -> String {
    let new = NewJob {
        id: IdKind::Job.generate(),
        queue: queue.into(),
        kind: "run_generation".into(),
        payload: "{}".into(),
        max_attempts: 3,
        run_at,
        expires_at,
        now: run_at,
    };
    store
        .enqueue(new)
        .await
        .unwrap_or_else(|e| panic!("enqueue: {e}"))
        .id
}

async fn enqueue(store: &Arc<dyn Store>, queue: &str, run_at: i64) -> String {
    enqueue_at(store, queue, run_at, None).await
}

async fn get_job(store: &Arc<dyn Store>, id: &str) -> Job {
    store
        .get_job(id)
        .await
        .unwrap_or_else(|e| panic!("get_job {id}: {e}"))
}

/// A claim of up to `max_jobs` from `queues` (deadline per queue) until `lease_until`.
fn claim(
    worker_id: &str,
    queues: &[(&str, i64)],
    max_jobs: u32,
    lease_until: i64,
    now: i64,
) -> WorkerClaim {
    WorkerClaim {
        worker_id: worker_id.into(),
        queues: queues.iter().map(|(q, _)| q.to_string()).collect(),
        max_jobs,
        lease_ids: (0..max_jobs).map(|_| IdKind::Lease.generate()).collect(),
        lease_until,
        deadlines: queues.iter().map(|(_, d)| *d).collect(),
        now,
    }
}

async fn claim_jobs(store: &Arc<dyn Store>, claim: WorkerClaim) -> Vec<(WorkerLease, Job)> {
    store
        .claim_for_worker(claim)
        .await
        .unwrap_or_else(|e| panic!("claim_for_worker: {e}"))
        .into_iter()
        .map(|c| (c.lease, c.job))
        .collect()
}

/// Claims exactly one job of `queue` at `now` until `lease_until` (deadline far away).
async fn claim_one(
    store: &Arc<dyn Store>,
    worker_id: &str,
    queue: &str,
    lease_until: i64,
    now: i64,
) -> WorkerLease {
    let mut got = claim_jobs(
        store,
        claim(worker_id, &[(queue, now + 3_600_000)], 1, lease_until, now),
    )
    .await;
    assert_eq!(got.len(), 1, "one job claimed from {queue}");
    got.remove(0).0
}

async fn get_lease(store: &Arc<dyn Store>, id: &str) -> WorkerLease {
    store
        .get_lease(id)
        .await
        .unwrap_or_else(|e| panic!("get_lease {id}: {e}"))
        .unwrap_or_else(|| panic!("lease {id} exists"))
}

/// Quarantine after `max_lost` losses in `window_ms`, for `duration_ms`, no grace.
fn policy(max_lost: u32, window_ms: i64, duration_ms: i64) -> QuarantinePolicy {
    QuarantinePolicy {
        max_lost,
        window_ms,
        duration_ms,
        grace_ms: 0,
    }
}
