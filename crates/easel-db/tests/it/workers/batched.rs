//! Claims that arrive together share one transaction: each still takes its own jobs, and
//! the batch writes their leases, starts their generations and records one
//! `generation.running` event each (with its webhook deliveries), as a claim alone does.

use std::collections::HashSet;
use std::time::Duration;

use easel_core::jobs::JobStatus;
use easel_core::mode::Mode;
use easel_core::models::ModelKind;
use easel_db::{Claimed, EnabledEvents, NewGeneration, NewWebhookEndpoint};
use easel_test_utils::{Backend, TestDb, both_backends};

use super::*;
use crate::support::Raw;

const QUEUE: &str = "generation:gpu-image";

/// A generation of `account` on [`QUEUE`] due at `run_at`, costing nothing; its job's id.
async fn generation(store: &Arc<dyn Store>, account: &str, key: &str, run_at: i64) -> String {
    let new = NewGeneration {
        id: IdKind::Generation.generate(),
        account_id: account.into(),
        api_key_id: key.into(),
        mode: Mode::Live,
        model: "gpu-image".into(),
        kind: ModelKind::Image,
        input: serde_json::json!({"prompt": "a lighthouse"}),
        end_user: None,
        metadata: None,
        licence: "non_commercial".into(),
        credits_estimated: 0,
        spend_cap: None,
        max_open: None,
        job: NewJob {
            id: IdKind::Job.generate(),
            queue: QUEUE.into(),
            kind: "run_generation".into(),
            payload: "{}".into(),
            max_attempts: 3,
            run_at,
            expires_at: None,
            now: run_at,
        },
    };
    store
        .create_generation(new, run_at)
        .await
        .unwrap_or_else(|e| panic!("create_generation: {e}"))
        .job_id
}

async fn endpoint(store: &Arc<dyn Store>, account: &str, events: EnabledEvents) -> String {
    store
        .create_webhook_endpoint(
            NewWebhookEndpoint {
                account_id: account.into(),
                mode: Mode::Live,
                url: "https://hooks.example.com/easel".into(),
                description: String::new(),
                enabled_events: events,
                secret: "whsec_batched".into(),
                enabled: true,
            },
            support::audit_at(T0),
        )
        .await
        .unwrap_or_else(|e| panic!("create_webhook_endpoint: {e}"))
        .id
}

fn spawn_claim(
    store: &Arc<dyn Store>,
    claim: WorkerClaim,
) -> tokio::task::JoinHandle<Vec<Claimed>> {
    let store = store.clone();
    tokio::spawn(async move {
        store
            .claim_for_worker(claim)
            .await
            .unwrap_or_else(|e| panic!("claim_for_worker: {e}"))
    })
}

both_backends!(
    claims_that_arrive_together_each_take_their_own_jobs,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "fleet@acme.test").await;
        let key = support::key(&store, &account.id, &owner.id, Mode::Live)
            .await
            .0
            .id;
        let everything = endpoint(&store, &account.id, EnabledEvents::All).await;
        let successes = endpoint(
            &store,
            &account.id,
            EnabledEvents::Only(vec!["generation.succeeded".into()]),
        )
        .await;
        let workers = [
            worker(&store, "gpu-0").await,
            worker(&store, "gpu-1").await,
            worker(&store, "gpu-2").await,
        ];
        let far = T0 + 3_600_000;

        // One job whose first lease lapsed (its generation already runs), then the
        // blocker's, due before every other, nine fresh ones and one not due yet.
        let lapsed_job = generation(&store, &account.id, &key, T0).await;
        let first_lease = claim_jobs(
            &store,
            claim(&workers[0].id, &[(QUEUE, far)], 1, T0 + 100, T0 + 50),
        )
        .await;
        assert_eq!(first_lease.len(), 1);
        let reaped = store
            .reap_expired_leases(T0 + 101)
            .await
            .unwrap_or_else(|e| panic!("reap_expired_leases: {e}"));
        assert_eq!(reaped.len(), 1, "back in the queue");
        let blocker_job = generation(&store, &account.id, &key, T0 - 1_000).await;
        let mut fresh = Vec::new();
        for i in 0..9 {
            fresh.push(generation(&store, &account.id, &key, T0 + 10 + i).await);
        }
        let now = T0 + 600_000;
        let late = generation(&store, &account.id, &key, now + 3_600_000).await;

        // The blocker's claim waits for the held writer; the eleven claims sent meanwhile
        // are written together after it.
        // PostgreSQL: claims lock no shared row, but the blocked batch starts the
        // blocker's generation.
        let mut raw = Raw::hold_the_writer(
            &db,
            &format!("SELECT 1 FROM generations WHERE job_id = '{blocker_job}' FOR UPDATE"),
        )
        .await;
        let blocker = spawn_claim(
            &store,
            claim(&workers[0].id, &[(QUEUE, far)], 1, now + 60_000, now),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut sent = Vec::new();
        for i in 0..11u32 {
            let (queues, max_jobs): (&[(&str, i64)], u32) = match i {
                // A claim for a queue with nothing in it gets nothing.
                0 => (&[("generation:idle", far)], 1),
                1 => (&[(QUEUE, far)], 2),
                _ => (&[(QUEUE, far)], 1),
            };
            let at = now + 1 + i64::from(i);
            let c = claim(
                &workers[i as usize % 3].id,
                queues,
                max_jobs,
                at + 60_000,
                at,
            );
            sent.push((c.clone(), spawn_claim(&store, c)));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        raw.execute("COMMIT")
            .await
            .unwrap_or_else(|e| panic!("COMMIT: {e}"));
        raw.close().await;

        let blocked = blocker
            .await
            .unwrap_or_else(|e| panic!("blocker panicked: {e}"));
        assert_eq!(blocked.len(), 1);
        assert_eq!(blocked[0].job.id, blocker_job);
        let mut claimed: Vec<(WorkerClaim, Claimed)> = Vec::new();
        for (c, task) in sent {
            let got = task.await.unwrap_or_else(|e| panic!("claim panicked: {e}"));
            assert!(got.len() <= c.max_jobs as usize, "at most what it asked");
            if c.queues == ["generation:idle"] {
                assert!(got.is_empty(), "nothing in its queue");
            }
            for (i, one) in got.into_iter().enumerate() {
                assert_eq!(one.lease.id, c.lease_ids[i], "the claim's own lease ids");
                claimed.push((c.clone(), one));
            }
        }

        // Ten jobs asked for, ten due: each once; the one not due yet waits.
        let jobs: HashSet<&str> = claimed.iter().map(|(_, c)| c.job.id.as_str()).collect();
        assert_eq!(claimed.len(), 10);
        assert_eq!(jobs.len(), 10, "no job twice");
        let mut expected: HashSet<&str> = fresh.iter().map(String::as_str).collect();
        expected.insert(&lapsed_job);
        assert_eq!(jobs, expected);
        assert_eq!(get_job(&store, &late).await.status, JobStatus::Queued);

        let mut raw = Raw::connect(&db).await;
        for (c, one) in &claimed {
            assert_eq!(one.lease.worker_id, c.worker_id);
            assert_eq!(one.lease.claimed_at, c.now);
            assert_eq!(
                get_lease(&store, &one.lease.id).await,
                one.lease,
                "as stored"
            );
            assert_eq!(get_job(&store, &one.job.id).await, one.job, "as stored");
            let g = one
                .generation
                .as_ref()
                .unwrap_or_else(|| panic!("job {} has its generation", one.job.id));
            assert_eq!(g.status.as_str(), "running");
            let stored = store
                .get_generation(&account.id, Mode::Live, &g.id)
                .await
                .unwrap_or_else(|e| panic!("get_generation: {e}"));
            assert_eq!(&stored, g, "as stored");
            // A generation starts once: the lapsed one keeps its first start and event.
            let started = if one.job.id == lapsed_job {
                T0 + 50
            } else {
                c.now
            };
            assert_eq!(g.started_at, Some(started), "{}", one.job.id);
            let events = raw
                .count(
                    &format!(
                        "events WHERE type = 'generation.running' AND data LIKE '%{}%' \
                         AND created_at = {started}",
                        g.id
                    ),
                    &[],
                )
                .await;
            assert_eq!(events, 1, "one running event for {}", g.id);
        }
        // Eleven generations started (the lapsed one before, the blocker's, nine in the
        // batch): one event each, and one delivery each to the endpoint that takes
        // every event, none to the one that takes only successes.
        let running = "events WHERE type = 'generation.running'";
        assert_eq!(raw.count(running, &[]).await, 1 + 1 + 9);
        let deliveries = |endpoint: &str| {
            format!(
                "webhook_deliveries WHERE endpoint_id = '{endpoint}' AND event_type = 'generation.running'"
            )
        };
        assert_eq!(raw.count(&deliveries(&everything), &[]).await, 11);
        assert_eq!(raw.count(&deliveries(&successes), &[]).await, 0);
        let unmatched = raw
            .count(
                "webhook_deliveries d WHERE NOT EXISTS (SELECT 1 FROM events e \
                 WHERE e.id = d.event_id AND e.type = d.event_type)",
                &[],
            )
            .await;
        assert_eq!(unmatched, 0, "each delivery is of its event");
        if db.backend == Backend::Postgres {
            // Written by one transaction: PostgreSQL stamps its rows with its id.
            let ids: Vec<String> = claimed
                .iter()
                .map(|(_, c)| format!("'{}'", c.lease.id))
                .collect();
            let writers = raw
                .scalar(
                    &format!(
                        "SELECT COUNT(DISTINCT xmin::text) FROM worker_leases WHERE id IN ({})",
                        ids.join(", ")
                    ),
                    &[],
                )
                .await;
            assert_eq!(writers, Some(1), "the ten leases share one transaction");
        }
        raw.close().await;
    }
);
