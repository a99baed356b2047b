//! A lease's life: heartbeats with progress, cancel requests, loss to another lease, how a
//! lease ends, and finding the lease of a job.

use easel_core::jobs::JobStatus;
use easel_core::mode::Mode;
use easel_db::{Heartbeat, LeaseOutcome};
use easel_test_utils::{TestDb, both_backends};

use super::*;

async fn heartbeat(
    store: &Arc<dyn Store>,
    lease: &WorkerLease,
    lease_until: i64,
    progress: Option<f64>,
    message: Option<&str>,
    now: i64,
) -> Heartbeat {
    store
        .heartbeat_lease(lease, lease_until, progress, message, now)
        .await
        .unwrap_or_else(|e| panic!("heartbeat_lease: {e}"))
}

async fn progress(store: &Arc<dyn Store>, job_id: &str) -> Option<(f64, Option<String>)> {
    store
        .job_progress(job_id)
        .await
        .unwrap_or_else(|e| panic!("job_progress: {e}"))
}

/// When a lease ended, how, and the digest of its completion.
async fn how_it_ended(
    store: &Arc<dyn Store>,
    lease_id: &str,
) -> (Option<i64>, Option<LeaseOutcome>, Option<String>) {
    let lease = get_lease(store, lease_id).await;
    (lease.ended_at, lease.outcome, lease.completion_digest)
}

const HELD: Heartbeat = Heartbeat::Held {
    cancel_requested: false,
};

both_backends!(
    heartbeats_extend_the_lease_and_record_progress,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let w = worker(&store, "gpu-1").await;
        let job_id = enqueue(&store, "a", T0).await;
        let mut got = claim_jobs(
            &store,
            claim(&w.id, &[("a", T0 + 5_000)], 1, T0 + 1_000, T0),
        )
        .await;
        let (lease, _) = got.remove(0);
        assert_eq!(
            progress(&store, &job_id).await,
            None,
            "nothing reported yet"
        );

        assert_eq!(
            heartbeat(
                &store,
                &lease,
                T0 + 3_000,
                Some(0.25),
                Some("step 5/20"),
                T0 + 500
            )
            .await,
            HELD
        );
        assert_eq!(get_job(&store, &job_id).await.lease_until, Some(T0 + 3_000));
        assert_eq!(get_lease(&store, &lease.id).await.lease_until, T0 + 3_000);
        assert_eq!(
            progress(&store, &job_id).await,
            Some((0.25, Some("step 5/20".to_string())))
        );
        assert_eq!(get_worker(&store, &w.id).await.last_seen_at, Some(T0 + 500));

        // Past the deadline: capped. Progress out of range: clamped. No message: kept.
        assert_eq!(
            heartbeat(&store, &lease, T0 + 9_000, Some(7.0), None, T0 + 600).await,
            HELD
        );
        assert_eq!(get_job(&store, &job_id).await.lease_until, Some(T0 + 5_000));
        assert_eq!(get_lease(&store, &lease.id).await.lease_until, T0 + 5_000);
        assert_eq!(
            progress(&store, &job_id).await,
            Some((1.0, Some("step 5/20".to_string())))
        );
        // NaN is no report; a negative fraction is 0; a long message is cut to 200 chars.
        let long = "é".repeat(300);
        heartbeat(
            &store,
            &lease,
            T0 + 5_000,
            Some(f64::NAN),
            Some(&long),
            T0 + 700,
        )
        .await;
        assert_eq!(progress(&store, &job_id).await.map(|p| p.0), Some(1.0));
        heartbeat(&store, &lease, T0 + 5_000, Some(-0.5), None, T0 + 800).await;
        let (fraction, message) = progress(&store, &job_id)
            .await
            .unwrap_or_else(|| panic!("progress"));
        assert_eq!(fraction, 0.0);
        assert_eq!(message.map(|m| m.chars().count()), Some(200));

        // A cancel request reaches the worker through its heartbeat.
        store
            .cancel_job(&job_id, T0 + 900)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            heartbeat(&store, &lease, T0 + 5_000, None, None, T0 + 1_000).await,
            Heartbeat::Held {
                cancel_requested: true
            }
        );
        assert!(
            store
                .finish_canceled(&job_id, &lease.id, T0 + 1_100)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        assert_eq!(
            progress(&store, &job_id).await,
            None,
            "an ended job has none"
        );
        assert_eq!(
            heartbeat(&store, &lease, T0 + 5_000, Some(0.5), None, T0 + 1_200).await,
            Heartbeat::Lost
        );
    }
);

both_backends!(
    a_lapsed_lease_taken_by_another_is_lost_for_good,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let w1 = worker(&store, "gpu-1").await;
        let w2 = worker(&store, "gpu-2").await;
        let job_id = enqueue(&store, "a", T0).await;
        assert_eq!(
            store
                .latest_lease_of_job(&job_id)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            None,
            "never claimed: no lease"
        );
        let first = claim_one(&store, &w1.id, "a", T0 + 1_000, T0).await;
        heartbeat(
            &store,
            &first,
            T0 + 1_000,
            Some(0.8),
            Some("almost"),
            T0 + 10,
        )
        .await;
        assert_eq!(
            store
                .open_lease_of_job(&job_id)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Some(get_lease(&store, &first.id).await)
        );

        let reaped = store
            .reap_expired_leases(T0 + 1_001)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reaped.len(), 1);
        assert_eq!(
            store
                .open_lease_of_job(&job_id)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            None,
            "queued again: nobody holds it, though the lease row is still open"
        );
        assert_eq!(get_lease(&store, &first.id).await.ended_at, None);
        assert_eq!(
            heartbeat(&store, &first, T0 + 9_000, Some(0.9), None, T0 + 1_002).await,
            Heartbeat::Lost
        );

        let second = claim_one(&store, &w2.id, "a", T0 + 4_000, T0 + 1_003).await;
        assert_eq!(second.attempt, 2);
        assert_eq!(
            progress(&store, &job_id).await,
            None,
            "a new claim starts without the old holder's progress"
        );
        assert_eq!(
            heartbeat(
                &store,
                &first,
                T0 + 9_000,
                Some(0.9),
                Some("mine"),
                T0 + 1_004
            )
            .await,
            Heartbeat::Lost,
            "the old lease can change nothing"
        );
        let job = get_job(&store, &job_id).await;
        assert_eq!(
            (job.lease_owner.as_deref(), job.lease_until),
            (Some(second.id.as_str()), Some(T0 + 4_000))
        );
        assert_eq!(progress(&store, &job_id).await, None);
        assert_eq!(get_lease(&store, &first.id).await.lease_until, T0 + 1_000);
        assert_eq!(
            get_worker(&store, &w1.id).await.last_seen_at,
            Some(T0 + 10),
            "a lost heartbeat is not a check-in"
        );
        assert_eq!(
            store
                .open_lease_of_job(&job_id)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Some(second.clone())
        );
        assert_eq!(
            store
                .latest_lease_of_job(&job_id)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Some(second.clone())
        );
        // Completed: no open lease, the latest is still the one that ran it.
        assert!(
            store
                .complete_job(&job_id, &second.id, T0 + 1_500)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        assert_eq!(
            store
                .open_lease_of_job(&job_id)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            None
        );
        assert_eq!(
            store
                .latest_lease_of_job(&job_id)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .map(|l| l.id),
            Some(second.id)
        );
        assert_eq!(
            store
                .get_lease("lease_unknown")
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            None
        );
    }
);

both_backends!(
    a_lease_ends_once_and_counts_on_its_worker,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let w = worker(&store, "gpu-1").await;
        for i in 0..4 {
            enqueue(&store, "a", T0 + i).await;
        }
        let leases: Vec<WorkerLease> = claim_jobs(
            &store,
            claim(&w.id, &[("a", T0 + 9_000)], 4, T0 + 5_000, T0 + 10),
        )
        .await
        .into_iter()
        .map(|(l, _)| l)
        .collect();
        let end =
            |lease: &WorkerLease, outcome: LeaseOutcome, digest: Option<&'static str>, now: i64| {
                let store = store.clone();
                let id = lease.id.clone();
                async move {
                    store
                        .end_lease(&id, outcome, digest, now)
                        .await
                        .unwrap_or_else(|e| panic!("end_lease: {e}"))
                }
            };
        assert!(
            end(
                &leases[0],
                LeaseOutcome::Succeeded,
                Some("sha256:abc"),
                T0 + 100
            )
            .await
        );
        assert!(
            !end(
                &leases[0],
                LeaseOutcome::Succeeded,
                Some("sha256:abc"),
                T0 + 200
            )
            .await,
            "a repeat does nothing"
        );
        assert!(
            !end(&leases[0], LeaseOutcome::Failed, None, T0 + 300).await,
            "nor does another outcome"
        );
        assert_eq!(
            how_it_ended(&store, &leases[0].id).await,
            (
                Some(T0 + 100),
                Some(LeaseOutcome::Succeeded),
                Some("sha256:abc".into())
            )
        );
        assert!(end(&leases[1], LeaseOutcome::Failed, None, T0 + 400).await);
        assert!(end(&leases[2], LeaseOutcome::Canceled, None, T0 + 500).await);
        assert!(end(&leases[3], LeaseOutcome::Lost, None, T0 + 600).await);
        assert!(!end(&leases[3], LeaseOutcome::Lost, None, T0 + 700).await);
        let w = get_worker(&store, &w.id).await;
        assert_eq!(
            (w.jobs_done, w.jobs_failed, w.leases_lost),
            (1, 1, 1),
            "each counted once; a cancel counts nowhere"
        );
        assert_eq!(
            get_lease(&store, &leases[2].id).await.outcome,
            Some(LeaseOutcome::Canceled)
        );
        assert!(
            !store
                .end_lease("lease_unknown", LeaseOutcome::Succeeded, None, T0)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
    }
);

both_backends!(
    racing_ends_of_one_lease_count_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let w = worker(&store, "gpu-1").await;
        enqueue(&store, "a", T0).await;
        let lease = claim_one(&store, &w.id, "a", T0 + 5_000, T0).await;
        let mut tasks = Vec::new();
        for i in 0..6 {
            let store = store.clone();
            let id = lease.id.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .end_lease(&id, LeaseOutcome::Succeeded, None, T0 + 100 + i)
                    .await
                    .unwrap_or_else(|e| panic!("end_lease: {e}"))
            }));
        }
        let mut ended = 0;
        for t in tasks {
            if t.await.unwrap_or_else(|e| panic!("{e}")) {
                ended += 1;
            }
        }
        assert_eq!(ended, 1);
        assert_eq!(get_worker(&store, &w.id).await.jobs_done, 1);
    }
);

/// A funded account's generation of `model` queued at T0; its job's id.
async fn queued_generation(store: &Arc<dyn Store>, email: &str, model: &str) -> String {
    let (account, owner) = support::account(store, email).await;
    let (key, _) = support::key(store, &account.id, &owner.id, Mode::Live).await;
    store
        .add_credits(easel_db::NewCredit {
            account_id: account.id.clone(),
            mode: Mode::Live,
            entry_type: easel_core::credits::LedgerType::Grant,
            amount: 100,
            reference: None,
            reason: None,
            audit: support::audit(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let new = easel_db::NewGeneration {
        id: IdKind::Generation.generate(),
        account_id: account.id.clone(),
        api_key_id: key.id.clone(),
        mode: Mode::Live,
        model: model.into(),
        kind: easel_core::models::ModelKind::Image,
        input: serde_json::json!({"prompt": "a red fox", "width": 64, "height": 64, "n": 1}),
        end_user: None,
        metadata: None,
        licence: "non_commercial".into(),
        credits_estimated: 8,
        spend_cap: None,
        max_open: None,
        job: NewJob {
            id: IdKind::Job.generate(),
            queue: format!("generation:{model}"),
            kind: "run_generation".into(),
            payload: "{}".into(),
            max_attempts: 3,
            run_at: T0,
            expires_at: None,
            now: T0,
        },
    };
    store
        .create_generation(new, T0)
        .await
        .unwrap_or_else(|e| panic!("create_generation: {e}"))
        .job_id
}

both_backends!(
    a_completion_ends_its_lease_in_the_transaction_that_ends_the_generation,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let w = worker(&store, "gpu-1").await;
        let job_id = queued_generation(&store, "fox@acme.test", "sdxl").await;
        let mut claimed = store
            .claim_for_worker(claim(
                &w.id,
                &[("generation:sdxl", T0 + 60_000)],
                1,
                T0 + 5_000,
                T0,
            ))
            .await
            .unwrap_or_else(|e| panic!("claim_for_worker: {e}"));
        assert_eq!(claimed.len(), 1);
        let claimed = claimed.remove(0);
        let started = claimed
            .generation
            .unwrap_or_else(|| panic!("the claim returns the generation it started"));
        assert_eq!(
            (started.status, started.started_at),
            (JobStatus::Running, Some(T0))
        );
        let read = store
            .generation_for_job(&job_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(started, read, "as a read finds it");
        let lease = claimed.lease;
        let done = store
            .succeed_generation(&job_id, &lease.id, vec![], 8, Some("sha256:abc"), T0 + 100)
            .await
            .unwrap_or_else(|e| panic!("succeed_generation: {e}"))
            .unwrap_or_else(|| panic!("the lease holds the job"));
        assert_eq!(done.status, JobStatus::Succeeded);
        assert_eq!(
            how_it_ended(&store, &lease.id).await,
            (
                Some(T0 + 100),
                Some(LeaseOutcome::Succeeded),
                Some("sha256:abc".into())
            ),
            "whoever sees the generation succeed sees the lease's end"
        );
        assert_eq!(get_worker(&store, &w.id).await.jobs_done, 1);
        // A repeat finds the job ended: nothing is written or counted again.
        let again = store
            .succeed_generation(&job_id, &lease.id, vec![], 8, Some("sha256:abc"), T0 + 200)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(again.is_none());
        assert_eq!(get_worker(&store, &w.id).await.jobs_done, 1);
        assert_eq!(get_lease(&store, &lease.id).await.ended_at, Some(T0 + 100));

        // Without a completion (a node's own runner) no lease row is touched.
        let job_id = queued_generation(&store, "owl@acme.test", "sdxl").await;
        let lease = claim_one(&store, &w.id, "generation:sdxl", T0 + 5_000, T0 + 300).await;
        store
            .succeed_generation(&job_id, &lease.id, vec![], 8, None, T0 + 400)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("held"));
        assert_eq!(get_lease(&store, &lease.id).await.ended_at, None);
        assert_eq!(get_worker(&store, &w.id).await.jobs_done, 1);
    }
);
