//! The sweep of lost leases: what counts as lost, counted once however many sweeps run,
//! and quarantine of workers that keep losing leases.

use std::collections::HashSet;

use easel_db::{LeaseOutcome, LostLeases};
use easel_test_utils::{TestDb, both_backends};

use super::*;

async fn sweep(store: &Arc<dyn Store>, policy: QuarantinePolicy, now: i64) -> LostLeases {
    store
        .sweep_lost_leases(policy, now)
        .await
        .unwrap_or_else(|e| panic!("sweep_lost_leases: {e}"))
}

/// Never quarantines: for tests of what counts as lost.
const NO_QUARANTINE: QuarantinePolicy = QuarantinePolicy {
    max_lost: 0,
    window_ms: 3_600_000,
    duration_ms: 600_000,
    grace_ms: 30_000,
};

both_backends!(
    only_leases_whose_job_was_taken_back_are_lost,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let w = worker(&store, "gpu-1").await;
        for i in 0..3 {
            enqueue(&store, "a", T0 + i).await;
        }
        let got = claim_jobs(
            &store,
            claim(&w.id, &[("a", T0 + 900_000)], 3, T0 + 1_000, T0 + 10),
        )
        .await;
        let (lapsed, kept, done) = (&got[0], &got[1], &got[2]);
        // `kept` keeps heartbeating; `done` completes and its end is recorded.
        store
            .heartbeat_lease(&kept.0, T0 + 500_000, None, None, T0 + 900)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            store
                .complete_job(&done.1.id, &done.0.id, T0 + 950)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        assert!(
            store
                .end_lease(&done.0.id, LeaseOutcome::Succeeded, None, T0 + 950)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        // `lapsed` stops: the reaper takes its job back.
        store
            .reap_expired_leases(T0 + 1_001)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // A lease past its end whose job nobody reaped yet: still held, not lost.
        let unreaped_job = enqueue(&store, "b", T0).await;
        let unreaped = claim_one(&store, &w.id, "b", T0 + 2_000, T0 + 1_002).await;

        assert_eq!(
            sweep(&store, NO_QUARANTINE, T0 + 30_000).await,
            LostLeases::default(),
            "within the grace period nothing is lost"
        );
        let swept = sweep(&store, NO_QUARANTINE, T0 + 40_000).await;
        assert_eq!(swept.lost, vec![(lapsed.0.id.clone(), w.id.clone())]);
        assert!(swept.quarantined.is_empty());
        let lost = get_lease(&store, &lapsed.0.id).await;
        assert_eq!(
            (lost.ended_at, lost.outcome),
            (Some(T0 + 40_000), Some(LeaseOutcome::Lost))
        );
        assert_eq!(get_lease(&store, &kept.0.id).await.ended_at, None);
        assert_eq!(
            get_lease(&store, &done.0.id).await.outcome,
            Some(LeaseOutcome::Succeeded)
        );
        assert_eq!(get_lease(&store, &unreaped.id).await.ended_at, None);
        assert_eq!(
            get_job(&store, &unreaped_job).await.lease_owner.as_deref(),
            Some(unreaped.id.as_str())
        );

        assert_eq!(
            sweep(&store, NO_QUARANTINE, T0 + 50_000).await,
            LostLeases::default(),
            "a second sweep finds nothing new"
        );
        let w = get_worker(&store, &w.id).await;
        assert_eq!((w.jobs_done, w.leases_lost), (1, 1));
        assert!(
            !store
                .end_lease(&lapsed.0.id, LeaseOutcome::Failed, None, T0 + 60_000)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            "a lost lease cannot be ended again"
        );
    }
);

both_backends!(
    concurrent_sweeps_count_each_loss_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let w1 = worker(&store, "gpu-1").await;
        let w2 = worker(&store, "gpu-2").await;
        for i in 0..12 {
            enqueue(&store, "a", T0 + i).await;
        }
        let mut expected = HashSet::new();
        for w in [&w1, &w2] {
            for (lease, _) in claim_jobs(
                &store,
                claim(&w.id, &[("a", T0 + 900_000)], 6, T0 + 1_000, T0 + 100),
            )
            .await
            {
                expected.insert((lease.id, w.id.clone()));
            }
        }
        assert_eq!(expected.len(), 12, "every job claimed");
        store
            .reap_expired_leases(T0 + 1_001)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut tasks = Vec::new();
        for i in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                sweep(&store, NO_QUARANTINE, T0 + 40_000 + i).await
            }));
        }
        let mut lost = Vec::new();
        for t in tasks {
            lost.extend(t.await.unwrap_or_else(|e| panic!("{e}")).lost);
        }
        assert_eq!(lost.len(), 12, "each lease marked by exactly one sweep");
        assert_eq!(lost.into_iter().collect::<HashSet<_>>(), expected);
        for w in [&w1, &w2] {
            assert_eq!(get_worker(&store, &w.id).await.leases_lost, 6);
        }
    }
);

/// Loses one lease of `worker_id` at `t`: a job claimed, its lease lapsed and reaped, and
/// a sweep under `policy` at `t + 11`, whose result is returned.
async fn lose_one(
    store: &Arc<dyn Store>,
    worker_id: &str,
    policy: QuarantinePolicy,
    t: i64,
) -> LostLeases {
    enqueue(store, "q", t).await;
    claim_one(store, worker_id, "q", t + 10, t).await;
    store
        .reap_expired_leases(t + 11)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let swept = sweep(store, policy, t + 11).await;
    assert_eq!(swept.lost.len(), 1, "one lease lost at {t}");
    swept
}

both_backends!(
    workers_that_keep_losing_leases_are_quarantined,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let w = worker(&store, "gpu-1").await;
        let policy = policy(2, 100_000, 10_000);
        let quarantined = vec![w.id.clone()];

        assert!(
            lose_one(&store, &w.id, policy, T0)
                .await
                .quarantined
                .is_empty()
        );
        assert!(
            lose_one(&store, &w.id, policy, T0 + 200_000)
                .await
                .quarantined
                .is_empty(),
            "the first loss is out of the window"
        );
        let s = T0 + 210_000;
        assert_eq!(
            lose_one(&store, &w.id, policy, s).await.quarantined,
            quarantined
        );
        let until = s + 11 + 10_000;
        assert_eq!(
            get_worker(&store, &w.id).await.quarantined_until,
            Some(until)
        );

        assert!(
            lose_one(&store, &w.id, policy, s + 1_000)
                .await
                .quarantined
                .is_empty(),
            "already quarantined: not again, and not extended"
        );
        assert_eq!(
            get_worker(&store, &w.id).await.quarantined_until,
            Some(until)
        );

        // Back from quarantine, the losses it served for do not count again.
        assert!(
            lose_one(&store, &w.id, policy, until + 1_000)
                .await
                .quarantined
                .is_empty(),
            "one new loss after the quarantine"
        );
        assert_eq!(
            lose_one(&store, &w.id, policy, until + 2_000)
                .await
                .quarantined,
            quarantined,
            "two new losses"
        );
        let w = get_worker(&store, &w.id).await;
        assert_eq!(w.quarantined_until, Some(until + 2_011 + 10_000));
        assert_eq!(w.leases_lost, 6);

        // Another worker under a policy of 0 is never quarantined.
        let calm = worker(&store, "gpu-2").await;
        for i in 0..3 {
            assert!(
                lose_one(&store, &calm.id, policy_never(), T0 + 500_000 + i * 100)
                    .await
                    .quarantined
                    .is_empty()
            );
        }
        assert_eq!(get_worker(&store, &calm.id).await.quarantined_until, None);
    }
);

fn policy_never() -> QuarantinePolicy {
    policy(0, 100_000, 10_000)
}
