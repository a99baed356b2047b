//! Claims: queue order, `max_jobs`, runnable jobs only, deadlines, and concurrent claimers.

use std::collections::HashSet;

use easel_core::jobs::JobStatus;
use easel_db::DbError;
use easel_test_utils::{TestDb, both_backends};

use super::*;
use crate::support::Raw;

both_backends!(
    claims_follow_queue_order_and_max_jobs,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let w = worker(&store, "gpu-1").await;
        let a1 = enqueue(&store, "a", T0).await;
        let a2 = enqueue(&store, "a", T0 + 1).await;
        let a_future = enqueue(&store, "a", T0 + 10_000).await;
        let a_expired = enqueue_at(&store, "a", T0 - 5, Some(T0 + 50)).await;
        let b2 = enqueue(&store, "b", T0 + 2).await;
        let b1 = enqueue(&store, "b", T0).await;
        let c1 = enqueue(&store, "c", T0).await;
        let now = T0 + 100;

        // `b` first: both of its jobs, oldest first, then the oldest of `a`.
        let first = claim(
            &w.id,
            &[("b", now + 500), ("a", now + 900_000)],
            3,
            now + 60_000,
            now,
        );
        let lease_ids = first.lease_ids.clone();
        let got = claim_jobs(&store, first).await;
        let ids: Vec<&str> = got.iter().map(|(_, j)| j.id.as_str()).collect();
        assert_eq!(ids, vec![b1.as_str(), b2.as_str(), a1.as_str()]);
        let used: Vec<&str> = got.iter().map(|(l, _)| l.id.as_str()).collect();
        assert_eq!(
            used,
            lease_ids.iter().map(String::as_str).collect::<Vec<_>>()
        );
        for (lease, job) in &got {
            assert_eq!(
                (
                    job.status,
                    job.attempts,
                    job.lease_owner.as_deref(),
                    job.started_at
                ),
                (JobStatus::Running, 1, Some(lease.id.as_str()), Some(now))
            );
            assert_eq!(
                (
                    lease.worker_id.as_str(),
                    lease.job_id.as_str(),
                    lease.attempt
                ),
                (w.id.as_str(), job.id.as_str(), 1)
            );
            assert_eq!(
                (lease.claimed_at, lease.ended_at, lease.outcome),
                (now, None, None)
            );
            assert_eq!(job.lease_until, Some(lease.lease_until));
            assert_eq!(get_lease(&store, &lease.id).await, *lease, "as stored");
            assert_eq!(get_job(&store, &job.id).await, *job, "as stored");
        }
        // The deadline of `b` cuts its leases short; `a`'s is beyond the lease.
        assert_eq!(
            got.iter()
                .map(|(l, _)| (l.deadline_at, l.lease_until))
                .collect::<Vec<_>>(),
            vec![
                (now + 500, now + 500),
                (now + 500, now + 500),
                (now + 900_000, now + 60_000)
            ]
        );

        // Not yet runnable and expired jobs are passed over; other queues are untouched.
        let got = claim_jobs(
            &store,
            claim(
                &w.id,
                &[("b", now + 500), ("a", now + 500)],
                3,
                now + 60_000,
                now,
            ),
        )
        .await;
        assert_eq!(
            got.iter().map(|(_, j)| j.id.as_str()).collect::<Vec<_>>(),
            vec![a2.as_str()]
        );
        assert!(
            claim_jobs(
                &store,
                claim(&w.id, &[("a", now + 500)], 3, now + 60_000, now)
            )
            .await
            .is_empty(),
            "nothing runnable: an empty list"
        );
        for (id, status) in [
            (&a_future, JobStatus::Queued),
            (&a_expired, JobStatus::Queued),
            (&c1, JobStatus::Queued),
        ] {
            assert_eq!(get_job(&store, id).await.status, status);
        }
        assert!(
            claim_jobs(
                &store,
                claim(&w.id, &[("c", now + 500)], 0, now + 60_000, now)
            )
            .await
            .is_empty(),
            "max_jobs 0 claims nothing"
        );
        assert_eq!(get_job(&store, &c1).await.status, JobStatus::Queued);
    }
);

both_backends!(a_claim_that_fails_writes_nothing, |db: TestDb| async move {
    let store = support::store(&db).await;
    let w = worker(&store, "gpu-1").await;
    let job = enqueue(&store, "a", T0).await;
    // An unknown worker: the lease row cannot be written, and the job's claim is undone.
    support::assert_not_found(
        store
            .claim_for_worker(claim(
                "wrk_01m864a045xwwke0zd48j6933p",
                &[("a", T0 + 500)],
                1,
                T0 + 1_000,
                T0,
            ))
            .await,
    );
    let after = get_job(&store, &job).await;
    assert_eq!(
        (after.status, after.attempts, after.lease_owner),
        (JobStatus::Queued, 0, None)
    );
    // A deadline missing for a queue is the caller's bug, refused before any write.
    let mut bad = claim(&w.id, &[("a", T0 + 500)], 1, T0 + 1_000, T0);
    bad.deadlines.clear();
    match store.claim_for_worker(bad).await {
        Err(DbError::Config(_)) => {}
        other => panic!("expected DbError::Config, got {other:?}"),
    }
    // Fewer lease ids than max_jobs: only as many jobs as ids.
    enqueue(&store, "a", T0 + 1).await;
    let mut short = claim(&w.id, &[("a", T0 + 500)], 2, T0 + 1_000, T0 + 10);
    short.lease_ids.truncate(1);
    assert_eq!(claim_jobs(&store, short).await.len(), 1);
    let mut raw = Raw::connect(&db).await;
    assert_eq!(raw.count("worker_leases", &[]).await, 1);
    raw.close().await;
});

both_backends!(
    concurrent_worker_claims_never_share_a_job,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let mut ids = HashSet::new();
        for i in 0..40 {
            let queue = if i % 2 == 0 { "a" } else { "b" };
            ids.insert(enqueue(&store, queue, T0 + i).await);
        }
        let mut workers = Vec::new();
        for n in 0..4 {
            workers.push(worker(&store, &format!("gpu-{n}")).await.id);
        }
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = store.clone();
            let worker_id = workers[t % workers.len()].clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = claim_jobs(
                        &store,
                        claim(
                            &worker_id,
                            &[("a", T0 + 9_000), ("b", T0 + 9_000)],
                            3,
                            T0 + 5_000,
                            T0 + 100,
                        ),
                    )
                    .await;
                    assert!(got.len() <= 3, "max_jobs holds");
                    if got.is_empty() {
                        return mine;
                    }
                    for (lease, job) in got {
                        assert_eq!(job.lease_owner.as_deref(), Some(lease.id.as_str()));
                        mine.push(job.id);
                    }
                    tokio::task::yield_now().await;
                }
            }));
        }
        let mut claimed = Vec::new();
        for t in tasks {
            claimed.extend(t.await.unwrap_or_else(|e| panic!("claimer: {e}")));
        }
        let unique: HashSet<String> = claimed.iter().cloned().collect();
        assert_eq!(claimed.len(), 40, "every job claimed exactly once");
        assert_eq!(unique, ids);
        let mut raw = Raw::connect(&db).await;
        assert_eq!(
            raw.count("worker_leases", &[]).await,
            40,
            "one lease per claim"
        );
        assert_eq!(
            raw.count("jobs j JOIN worker_leases l ON l.id = j.lease_owner", &[])
                .await,
            40,
            "each job held by its lease"
        );
        raw.close().await;
    }
);
