//! The durable queue: claim order, leases, heartbeats, retries, expiry, cancellation,
//! and concurrent claimers that never share a job.

use std::collections::HashSet;
use std::sync::Arc;

use easel_core::ids::IdKind;
use easel_core::jobs::JobStatus;
use easel_db::{Heartbeat, NewJob, Store};
use easel_test_utils::{TestDb, both_backends};

use crate::support;

const T0: i64 = 1_800_000_000_000;

fn job(queue: &str, run_at: i64, max_attempts: u32, expires_at: Option<i64>) -> NewJob {
    NewJob {
        id: IdKind::Job.generate(),
        queue: queue.into(),
        kind: "test".into(),
        payload: "{\"n\":1}".into(),
        max_attempts,
        run_at,
        expires_at,
        now: run_at,
    }
}

async fn enqueue(store: &Arc<dyn Store>, new: NewJob) -> String {
    store
        .enqueue(new)
        .await
        .unwrap_or_else(|e| panic!("enqueue: {e}"))
        .id
}

both_backends!(
    claims_follow_run_at_then_id_per_queue,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let later = enqueue(&store, job("q", T0 + 10, 3, None)).await;
        let first = enqueue(&store, job("q", T0, 3, None)).await;
        let second = enqueue(&store, job("q", T0, 3, None)).await;
        let other = enqueue(&store, job("other", T0, 3, None)).await;
        let future = enqueue(&store, job("q", T0 + 1_000_000, 3, None)).await;
        assert_eq!(store.jobs_ahead(&later).await.ok().flatten(), Some(2));
        let claim = |w: &'static str| {
            let store = store.clone();
            async move {
                store
                    .claim("q", w, T0 + 60_000, T0 + 100)
                    .await
                    .unwrap_or_else(|e| panic!("claim: {e}"))
            }
        };
        let a = claim("w1").await.unwrap_or_else(|| panic!("a job"));
        assert_eq!(
            (a.id.as_str(), a.status, a.attempts),
            (first.as_str(), JobStatus::Running, 1)
        );
        assert_eq!(a.lease_owner.as_deref(), Some("w1"));
        assert_eq!(claim("w1").await.map(|j| j.id), Some(second));
        assert_eq!(claim("w1").await.map(|j| j.id), Some(later));
        assert_eq!(
            claim("w1").await.map(|j| j.id),
            None,
            "the future job is not runnable yet, `other` is another queue"
        );
        assert_eq!(
            store.get_job(&other).await.map(|j| j.status).ok(),
            Some(JobStatus::Queued)
        );
        assert_eq!(store.jobs_ahead(&future).await.ok().flatten(), Some(0));
        assert_eq!(
            store.jobs_ahead(&first).await.ok().flatten(),
            None,
            "only queued jobs have a position"
        );
    }
);

both_backends!(
    leases_are_held_by_heartbeats_and_only_by_their_owner,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let id = enqueue(&store, job("q", T0, 3, None)).await;
        store
            .claim("q", "w1", T0 + 1_000, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.heartbeat(&id, "w1", T0 + 2_000, T0 + 500).await.ok(),
            Some(Heartbeat::Held {
                cancel_requested: false
            })
        );
        assert_eq!(
            store.heartbeat(&id, "w2", T0 + 9_000, T0 + 500).await.ok(),
            Some(Heartbeat::Lost)
        );
        assert!(
            !store
                .complete_job(&id, "w2", T0 + 600)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            "a stranger cannot complete it"
        );
        // The extended lease protects it from the reaper until it runs out.
        assert!(
            store
                .reap_expired_leases(T0 + 1_500)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
        let reaped = store
            .reap_expired_leases(T0 + 2_001)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            reaped
                .iter()
                .map(|j| (j.id.as_str(), j.status))
                .collect::<Vec<_>>(),
            vec![(id.as_str(), JobStatus::Queued)]
        );
        assert!(
            reaped[0]
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains("lease expired")
        );
        // The old worker lost it; a new claim takes it as attempt 2.
        assert_eq!(
            store
                .heartbeat(&id, "w1", T0 + 5_000, T0 + 2_002)
                .await
                .ok(),
            Some(Heartbeat::Lost)
        );
        let again = store
            .claim("q", "w2", T0 + 10_000, T0 + 2_003)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("requeued"));
        assert_eq!(
            (again.attempts, again.lease_owner.as_deref()),
            (2, Some("w2"))
        );
        assert!(
            !store
                .complete_job(&id, "w1", T0 + 2_004)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            "the old owner can no longer finish it"
        );
        assert!(
            store
                .complete_job(&id, "w2", T0 + 2_005)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        let done = store.get_job(&id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (done.status, done.finished_at, done.lease_owner),
            (JobStatus::Succeeded, Some(T0 + 2_005), None)
        );
    }
);

both_backends!(
    failures_retry_until_attempts_run_out,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let id = enqueue(&store, job("q", T0, 2, None)).await;
        store
            .claim("q", "w", T0 + 1_000, T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = store
            .fail_job(&id, "w", "engine: timeout", Some(T0 + 5_000), T0 + 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, Some(JobStatus::Queued));
        assert!(
            store
                .claim("q", "w", T0 + 9_000, T0 + 4_999)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none(),
            "not before its retry time"
        );
        let second = store
            .claim("q", "w", T0 + 9_000, T0 + 5_000)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("retry"));
        assert_eq!(second.attempts, 2);
        assert_eq!(second.last_error.as_deref(), Some("engine: timeout"));
        // The last attempt fails for good even though a retry time is offered.
        let status = store
            .fail_job(
                &id,
                "w",
                "engine: timeout again",
                Some(T0 + 20_000),
                T0 + 5_010,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, Some(JobStatus::Failed));
        let failed = store.get_job(&id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (failed.finished_at, failed.lease_owner),
            (Some(T0 + 5_010), None)
        );
        // A fatal error (no retry time) fails at once.
        let fatal = enqueue(&store, job("q", T0, 5, None)).await;
        store
            .claim("q", "w", T0 + 30_000, T0 + 6_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store
                .fail_job(&fatal, "w", "bad input", None, T0 + 6_001)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Some(JobStatus::Failed)
        );
        assert_eq!(
            store
                .fail_job(&fatal, "w", "again", None, T0 + 6_002)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            None,
            "an ended job cannot fail again"
        );
        // A worker that dies on its last attempt leaves a failed job, not an endless loop.
        let poison = enqueue(&store, job("q", T0, 1, None)).await;
        store
            .claim("q", "w", T0 + 7_000, T0 + 6_500)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let reaped = store
            .reap_expired_leases(T0 + 7_001)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            reaped
                .iter()
                .map(|j| (j.id.as_str(), j.status))
                .collect::<Vec<_>>(),
            vec![(poison.as_str(), JobStatus::Failed)]
        );
    }
);

both_backends!(
    queued_jobs_expire_and_are_never_claimed_late,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let stale = enqueue(&store, job("q", T0, 3, Some(T0 + 1_000))).await;
        let fresh = enqueue(&store, job("q", T0 + 1, 3, Some(T0 + 60_000))).await;
        let claimed = store
            .claim("q", "w", T0 + 90_000, T0 + 1_000)
            .await
            .ok()
            .flatten()
            .map(|j| j.id);
        assert_eq!(
            claimed,
            Some(fresh),
            "a job past its deadline is passed over even before the sweeper runs"
        );
        let expired = store
            .expire_queued(T0 + 1_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            expired
                .iter()
                .map(|j| (j.id.as_str(), j.status))
                .collect::<Vec<_>>(),
            vec![(stale.as_str(), JobStatus::Expired)]
        );
        assert!(
            store
                .expire_queued(T0 + 99_000)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty(),
            "running jobs never expire"
        );
    }
);

both_backends!(
    cancel_ends_queued_jobs_and_asks_running_ones,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let queued = enqueue(&store, job("q", T0 + 5, 3, None)).await;
        let running = enqueue(&store, job("q", T0, 3, None)).await;
        store
            .claim("q", "w", T0 + 1_000, T0 + 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let c = store
            .cancel_job(&queued, T0 + 20)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.status, c.finished_at),
            (JobStatus::Canceled, Some(T0 + 20))
        );
        let r = store
            .cancel_job(&running, T0 + 30)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (r.status, r.cancel_requested_at),
            (JobStatus::Running, Some(T0 + 30))
        );
        assert_eq!(
            store
                .heartbeat(&running, "w", T0 + 2_000, T0 + 40)
                .await
                .ok(),
            Some(Heartbeat::Held {
                cancel_requested: true
            })
        );
        assert!(
            store
                .finish_canceled(&running, "w", T0 + 50)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        let ended = store
            .cancel_job(&running, T0 + 60)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (ended.status, ended.finished_at),
            (JobStatus::Canceled, Some(T0 + 50)),
            "ended jobs are unchanged"
        );
        // A worker that died after a cancel request: the reaper cancels rather than requeues.
        let orphan = enqueue(&store, job("q", T0, 3, None)).await;
        store
            .claim("q", "w", T0 + 1_000, T0 + 100)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .cancel_job(&orphan, T0 + 200)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let reaped = store
            .reap_expired_leases(T0 + 1_001)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reaped.first().map(|j| j.status), Some(JobStatus::Canceled));
        support::assert_not_found(store.cancel_job("job_01m864a045xwwke0zd48j6933p", T0).await);
    }
);

both_backends!(
    concurrent_claimers_never_share_a_job_and_lose_none,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let mut ids = HashSet::new();
        for i in 0..200 {
            ids.insert(enqueue(&store, job("q", T0 + i, 3, None)).await);
        }
        let mut tasks = Vec::new();
        for w in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let worker = format!("w{w}");
                let mut mine = Vec::new();
                while let Some(job) = store
                    .claim("q", &worker, T0 + 600_000, T0 + 1_000)
                    .await
                    .unwrap_or_else(|e| panic!("claim: {e}"))
                {
                    assert!(
                        store
                            .complete_job(&job.id, &worker, T0 + 2_000)
                            .await
                            .unwrap_or_else(|e| panic!("{e}")),
                        "lost a lease it held"
                    );
                    mine.push(job.id);
                }
                mine
            }));
        }
        let mut claimed = Vec::new();
        for t in tasks {
            claimed.extend(t.await.unwrap_or_else(|e| panic!("{e}")));
        }
        let unique: HashSet<String> = claimed.iter().cloned().collect();
        assert_eq!(claimed.len(), 200, "every job claimed exactly once");
        assert_eq!(unique, ids);
    }
);
