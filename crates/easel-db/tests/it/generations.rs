//! Generations with their jobs, outputs and events: created, run, ended, canceled,
//! deleted, listed; never across accounts or modes.

use std::sync::Arc;

use easel_core::ids::IdKind;
use easel_core::jobs::JobStatus;
use easel_core::mode::Mode;
use easel_core::models::ModelKind;
use easel_db::{
    DbError, GenerationEnd, GenerationFilter, NewGeneration, NewJob, Output, Page, Store,
};
use easel_test_utils::{TestDb, both_backends};

use crate::support;

const T0: i64 = 1_800_000_000_000;

fn new_generation(account_id: &str, key_id: &str, mode: Mode, model: &str) -> NewGeneration {
    let job_id = IdKind::Job.generate();
    NewGeneration {
        id: IdKind::Generation.generate(),
        account_id: account_id.into(),
        api_key_id: key_id.into(),
        mode,
        model: model.into(),
        kind: ModelKind::Image,
        input: serde_json::json!({"prompt": "a red fox", "width": 512, "height": 512, "n": 2}),
        end_user: Some("end-user-7".into()),
        metadata: Some(serde_json::json!({"order": 42})),
        licence: "non_commercial".into(),
        credits_estimated: 8,
        spend_cap: None,
        max_open: None,
        job: NewJob {
            id: job_id,
            queue: format!("generation:{model}"),
            kind: "run_generation".into(),
            payload: "{}".into(),
            max_attempts: 3,
            run_at: T0,
            expires_at: Some(T0 + 600_000),
            now: T0,
        },
    }
}

/// A system audit context at `now`.
fn at(now: i64) -> easel_db::AuditContext {
    let mut audit = easel_db::AuditContext::new(easel_core::audit::Actor::system(), None);
    audit.now = now;
    audit
}

fn output(idx: u32) -> Output {
    Output {
        idx,
        path: format!("outputs/gen/{idx}.png"),
        content_type: "image/png".into(),
        width: 512,
        height: 512,
        duration_ms: None,
        bytes: 1234,
        expires_at: T0 + 7 * 86_400_000,
        deleted_at: None,
    }
}

/// An account with one key; returns (store, account id, key id).
async fn setup(db: &TestDb) -> (Arc<dyn Store>, String, String) {
    let store = support::store(db).await;
    let (account, owner) = support::account(&store, "gen@acme.test").await;
    let (key, _) = support::key(&store, &account.id, &owner.id, Mode::Test).await;
    // Credits for the holds the generations here place (the store is mode-agnostic: the
    // server never prices test mode, so test balances only exist in tests like this).
    for mode in [Mode::Test, Mode::Live] {
        store
            .add_credits(easel_db::NewCredit {
                account_id: account.id.clone(),
                mode,
                entry_type: easel_core::credits::LedgerType::Grant,
                amount: 1_000_000,
                reference: None,
                reason: None,
                audit: support::audit(),
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    (store, account.id, key.id)
}

async fn event_types(store: &Arc<dyn Store>, account: &str, mode: Mode) -> Vec<String> {
    let events = store
        .list_events(account, mode, Page::first(100))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    events
        .into_iter()
        .rev()
        .map(|e| e.event_type)
        .filter(|t| t.starts_with("generation."))
        .collect()
}

both_backends!(
    a_generation_is_created_with_its_job_and_seen_only_in_its_world,
    |db: TestDb| async move {
        let (store, account, key) = setup(&db).await;
        let g = store
            .create_generation(
                new_generation(&account, &key, Mode::Test, "sandbox-image"),
                T0,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(g.id.starts_with("gen_"));
        assert_eq!(
            (g.status, g.credits_estimated, g.credits_charged),
            (JobStatus::Queued, 8, None)
        );
        assert_eq!(g.input["prompt"], "a red fox");
        assert_eq!(g.metadata, Some(serde_json::json!({"order": 42})));
        let job = store
            .get_job(&g.job_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (job.status, job.queue.as_str()),
            (JobStatus::Queued, "generation:sandbox-image")
        );
        assert_eq!(
            store.get_generation(&account, Mode::Test, &g.id).await.ok(),
            Some(g.clone()),
            "what creation returns (built, not read back) is what a read finds"
        );
        assert_eq!(
            (
                job.max_attempts,
                job.run_at,
                job.expires_at,
                job.payload.as_str()
            ),
            (3, T0, Some(T0 + 600_000), "{}")
        );
        support::assert_not_found(store.get_generation(&account, Mode::Live, &g.id).await);
        let (other, _) = support::account(&store, "other@acme.test").await;
        support::assert_not_found(store.get_generation(&other.id, Mode::Test, &g.id).await);
        assert_eq!(
            event_types(&store, &account, Mode::Test).await,
            ["generation.queued"]
        );
        assert!(
            event_types(&store, &account, Mode::Live).await.is_empty(),
            "events stay in their mode"
        );
    }
);

both_backends!(
    a_run_ends_with_outputs_only_for_the_lease_holder,
    |db: TestDb| async move {
        let (store, account, key) = setup(&db).await;
        let g = store
            .create_generation(new_generation(&account, &key, Mode::Test, "m"), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .claim("generation:m", "w1", T0 + 60_000, T0 + 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .mark_generation_running(&g.job_id, T0 + 2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let again = store
            .mark_generation_running(&g.job_id, T0 + 3)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (again.status, again.started_at),
            (JobStatus::Running, Some(T0 + 2))
        );
        let stranger = store
            .succeed_generation(&g.job_id, "w2", vec![output(0)], 8, None, T0 + 4)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(stranger.is_none(), "only the lease holder may finish it");
        let done = store
            .succeed_generation(&g.job_id, "w1", vec![output(0), output(1)], 8, None, T0 + 5)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("held"));
        assert_eq!(
            (done.status, done.credits_charged, done.finished_at),
            (JobStatus::Succeeded, Some(8), Some(T0 + 5))
        );
        assert_eq!(
            done.outputs.iter().map(|o| o.idx).collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!(
            store.get_job(&g.job_id).await.map(|j| j.status).ok(),
            Some(JobStatus::Succeeded)
        );
        assert_eq!(
            event_types(&store, &account, Mode::Test).await,
            [
                "generation.queued",
                "generation.running",
                "generation.succeeded"
            ]
        );
        // A late failure report changes nothing.
        let late = store
            .end_generation(
                &g.job_id,
                GenerationEnd {
                    status: JobStatus::Failed,
                    error_code: Some("x".into()),
                    error_message: None,
                },
                T0 + 6,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(late.status, JobStatus::Succeeded);
        assert_eq!(event_types(&store, &account, Mode::Test).await.len(), 3);
    }
);

both_backends!(
    failures_and_cancellation_end_generations_once,
    |db: TestDb| async move {
        let (store, account, key) = setup(&db).await;
        let failing = store
            .create_generation(new_generation(&account, &key, Mode::Test, "m"), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let end = GenerationEnd {
            status: JobStatus::Failed,
            error_code: Some("engine_error".into()),
            error_message: Some("boom".into()),
        };
        let failed = store
            .end_generation(&failing.job_id, end.clone(), T0 + 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                failed.status,
                failed.error_code.as_deref(),
                failed.credits_charged
            ),
            (JobStatus::Failed, Some("engine_error"), Some(0))
        );
        store
            .end_generation(&failing.job_id, end, T0 + 2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Cancel a queued one: at once, job and generation.
        let queued = store
            .create_generation(new_generation(&account, &key, Mode::Test, "q1"), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let c = store
            .cancel_generation(&account, Mode::Test, &queued.id, T0 + 3)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.status, JobStatus::Canceled);
        assert_eq!(
            store.get_job(&queued.job_id).await.map(|j| j.status).ok(),
            Some(JobStatus::Canceled)
        );
        // Cancel a running one: its job is asked; the generation ends when the job does.
        let running = store
            .create_generation(new_generation(&account, &key, Mode::Test, "q2"), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .claim("generation:q2", "w", T0 + 60_000, T0 + 4)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .mark_generation_running(&running.job_id, T0 + 4)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let asked = store
            .cancel_generation(&account, Mode::Test, &running.id, T0 + 5)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(asked.status, JobStatus::Running);
        assert_eq!(
            store
                .get_job(&running.job_id)
                .await
                .ok()
                .and_then(|j| j.cancel_requested_at),
            Some(T0 + 5)
        );
        // Canceling an ended generation changes nothing; another account's is not found.
        assert_eq!(
            store
                .cancel_generation(&account, Mode::Test, &failing.id, T0 + 6)
                .await
                .map(|g| g.status)
                .ok(),
            Some(JobStatus::Failed)
        );
        support::assert_not_found(
            store
                .cancel_generation(&account, Mode::Live, &running.id, T0 + 6)
                .await,
        );
        let types = event_types(&store, &account, Mode::Test).await;
        assert_eq!(
            types.iter().filter(|t| *t == "generation.failed").count(),
            1
        );
        assert_eq!(
            types.iter().filter(|t| *t == "generation.canceled").count(),
            1
        );
    }
);

both_backends!(
    deletion_marks_outputs_and_hides_the_generation,
    |db: TestDb| async move {
        let (store, account, key) = setup(&db).await;
        let g = store
            .create_generation(new_generation(&account, &key, Mode::Test, "m"), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .claim("generation:m", "w", T0 + 60_000, T0 + 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .succeed_generation(&g.job_id, "w", vec![output(0)], 8, None, T0 + 2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Listed before deletion, so its absence afterwards is the deletion's doing.
        let before = store
            .list_generations(
                &account,
                Mode::Test,
                GenerationFilter::default(),
                Page::first(10),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            before.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
            [g.id.as_str()]
        );
        let deleted = store
            .delete_generation(&account, Mode::Test, &g.id, T0 + 3)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deleted.deleted_at, Some(T0 + 3));
        // The one output it succeeded with is still there, marked: `all()` alone would also
        // pass if deleting dropped the outputs instead of marking them.
        assert_eq!(deleted.outputs.len(), 1, "{:?}", deleted.outputs);
        assert!(
            deleted.outputs.iter().all(|o| o.deleted_at == Some(T0 + 3)),
            "outputs marked for removal: {:?}",
            deleted.outputs
        );
        assert!(matches!(
            store
                .delete_generation(&account, Mode::Test, &g.id, T0 + 4)
                .await,
            Err(DbError::NotFound)
        ));
        let listed = store
            .list_generations(
                &account,
                Mode::Test,
                GenerationFilter::default(),
                Page::first(10),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(listed.is_empty(), "deleted generations are not listed");
        // Deleting a queued generation cancels it too.
        let queued = store
            .create_generation(new_generation(&account, &key, Mode::Test, "m2"), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let gone = store
            .delete_generation(&account, Mode::Test, &queued.id, T0 + 5)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(gone.status, JobStatus::Canceled);
        // A queued generation that is deleted was also canceled: both changes are told.
        let types = event_types(&store, &account, Mode::Test).await;
        assert_eq!(
            &types[types.len() - 2..],
            ["generation.canceled", "generation.deleted"]
        );
    }
);

both_backends!(
    lists_filter_and_page_newest_first,
    |db: TestDb| async move {
        let (store, account, key) = setup(&db).await;
        let mut ids = Vec::new();
        for i in 0..7 {
            let model = if i % 2 == 0 { "even" } else { "odd" };
            ids.push(
                store
                    .create_generation(new_generation(&account, &key, Mode::Test, model), T0)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .id,
            );
        }
        store
            .cancel_generation(&account, Mode::Test, &ids[0], T0 + 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let all = store
            .list_generations(
                &account,
                Mode::Test,
                GenerationFilter::default(),
                Page::first(100),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            all.iter().map(|g| g.id.clone()).collect::<Vec<_>>(),
            ids.iter().rev().cloned().collect::<Vec<_>>()
        );
        let odd = GenerationFilter {
            model: Some("odd".into()),
            ..Default::default()
        };
        assert_eq!(
            store
                .list_generations(&account, Mode::Test, odd, Page::first(100))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .len(),
            3
        );
        let canceled = GenerationFilter {
            status: Some(JobStatus::Canceled),
            model: Some("even".into()),
        };
        let c = store
            .list_generations(&account, Mode::Test, canceled, Page::first(100))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
            [ids[0].as_str()]
        );
        let page = Page {
            limit: 2,
            starting_after: Some(ids[4].clone()),
        };
        let next = store
            .list_generations(&account, Mode::Test, GenerationFilter::default(), page)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            next.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
            [ids[3].as_str(), ids[2].as_str(), ids[1].as_str()],
            "limit + 1 rows"
        );
        assert!(
            store
                .list_generations(
                    &account,
                    Mode::Live,
                    GenerationFilter::default(),
                    Page::first(10)
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
    }
);

both_backends!(
    two_hundred_concurrent_creations_are_all_there_once,
    |db: TestDb| async move {
        let (store, account, key) = setup(&db).await;
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let (store, account, key) = (store.clone(), account.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .create_generation(new_generation(&account, &key, Mode::Test, "busy"), T0)
                    .await
                    .map(|g| g.id)
            }));
        }
        let mut ids = std::collections::HashSet::new();
        for t in tasks {
            let id = t
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("create: {e}"));
            assert!(ids.insert(id), "duplicate id");
        }
        let listed = store
            .list_generations(
                &account,
                Mode::Test,
                GenerationFilter::default(),
                Page::first(250),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed.len(), 200);
        let mut claimed = 0;
        while store
            .claim("generation:busy", "w", T0 + 60_000, T0 + 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some()
        {
            claimed += 1;
        }
        assert_eq!(claimed, 200, "one job per generation, none lost");
    }
);

both_backends!(concurrent_deletes_delete_once, |db: TestDb| async move {
    let (store, account, key) = setup(&db).await;
    let g = store
        .create_generation(new_generation(&account, &key, Mode::Test, "m"), T0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, account, id) = (store.clone(), account.clone(), g.id.clone());
        tasks.push(tokio::spawn(async move {
            store
                .delete_generation(&account, Mode::Test, &id, T0 + i)
                .await
                .is_ok()
        }));
    }
    let mut deleted = 0;
    for t in tasks {
        deleted += usize::from(t.await.unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(deleted, 1);
    let types = event_types(&store, &account, Mode::Test).await;
    assert_eq!(
        types.iter().filter(|t| *t == "generation.deleted").count(),
        1
    );
});

both_backends!(
    a_generation_deleted_while_running_is_not_kept_or_charged,
    |db: TestDb| async move {
        let (store, account, key) = setup(&db).await;
        let before = store
            .balance(&account, Mode::Test)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let g = store
            .create_generation(new_generation(&account, &key, Mode::Test, "m"), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .claim("generation:m", "w", T0 + 60_000, T0 + 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .mark_generation_running(&g.job_id, T0 + 2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .delete_generation(&account, Mode::Test, &g.id, T0 + 3)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // The job finishes anyway, before it notices the cancel request.
        let ended = store
            .succeed_generation(&g.job_id, "w", vec![output(0)], 8, None, T0 + 4)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("the lease holder's outcome is recorded"));
        assert_eq!(ended.status, JobStatus::Canceled);
        assert!(
            ended.outputs.is_empty(),
            "no outputs for a deleted generation"
        );
        assert_eq!(ended.credits_charged, Some(0));
        let after = store
            .balance(&account, Mode::Test)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (after.balance, after.held),
            (before.balance, 0),
            "the hold is released"
        );
        assert_eq!(
            store.get_job(&g.job_id).await.map(|j| j.status).ok(),
            Some(JobStatus::Canceled)
        );
    }
);

both_backends!(
    a_blocked_output_fails_the_generation_and_settles_by_policy,
    |db: TestDb| async move {
        use easel_core::credits::{BlockedOutputPolicy, LedgerType};
        let (store, account, key) = setup(&db).await;
        let before = store
            .balance(&account, Mode::Test)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for (i, policy) in [BlockedOutputPolicy::Release, BlockedOutputPolicy::Charge]
            .into_iter()
            .enumerate()
        {
            let g = store
                .create_generation(new_generation(&account, &key, Mode::Test, "m"), T0)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            store
                .claim("generation:m", "w", T0 + 60_000, T0 + 1)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                store
                    .block_generation(&g.job_id, "not-the-holder", policy, "flagged", at(T0 + 2))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .is_none(),
                "only the lease holder decides"
            );
            let blocked = store
                .block_generation(&g.job_id, "w", policy, "flagged: violence", at(T0 + 2))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("the holder's decision is recorded"));
            assert_eq!(blocked.status, JobStatus::Failed);
            assert_eq!(blocked.error_code.as_deref(), Some("output_moderated"));
            let charged = if policy == BlockedOutputPolicy::Charge {
                8
            } else {
                0
            };
            assert_eq!(blocked.credits_charged, Some(charged));
            let after = store
                .balance(&account, Mode::Test)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(after.held, 0);
            assert_eq!(after.balance, before.balance - if i == 1 { 8 } else { 0 });
            let entries = store
                .list_ledger(
                    &account,
                    Mode::Test,
                    easel_db::LedgerFilter::default(),
                    Page::first(1),
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let expected = if policy == BlockedOutputPolicy::Charge {
                LedgerType::Capture
            } else {
                LedgerType::Release
            };
            assert_eq!(entries[0].entry_type, expected);
            assert_eq!(
                entries[0].reason.as_deref(),
                Some(
                    format!("output blocked by moderation (policy: {})", policy.as_str()).as_str()
                )
            );
            assert_eq!(
                store.get_job(&g.job_id).await.map(|j| j.status).ok(),
                Some(JobStatus::Failed)
            );
            let audit = store
                .list_audit(Some(&account), Page::first(1))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(audit[0].action, "generation.output_blocked");
            assert_eq!(audit[0].target_id.as_deref(), Some(g.id.as_str()));
            assert_eq!(audit[0].details["policy"], policy.as_str());
            assert_eq!(audit[0].details["message"], "flagged: violence");
        }
    }
);

both_backends!(
    a_backends_usage_report_is_kept_on_the_generation,
    |db: TestDb| async move {
        let (store, account, key) = setup(&db).await;
        let g = store
            .create_generation(new_generation(&account, &key, Mode::Live, "gpt-image"), T0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.engine_usage, None, "nothing reported yet");
        let first =
            serde_json::json!({"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210});
        store
            .record_engine_usage(&g.id, &first)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // A retried attempt reports again: the last report is the one kept.
        let second =
            serde_json::json!({"input_tokens": 51, "output_tokens": 4160, "total_tokens": 4211});
        store
            .record_engine_usage(&g.id, &second)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let read = store
            .get_generation(&account, Mode::Live, &g.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.engine_usage, Some(second));
    }
);

both_backends!(
    holds_are_placed_with_their_ledger_entry_or_refused_whole,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "holds@acme.test").await;
        let (key, _) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        store
            .add_credits(easel_db::NewCredit {
                account_id: account.id.clone(),
                mode: Mode::Live,
                entry_type: easel_core::credits::LedgerType::Grant,
                amount: 20,
                reference: None,
                reason: None,
                audit: support::audit(),
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let newest = || async {
            store
                .list_ledger(
                    &account.id,
                    Mode::Live,
                    easel_db::LedgerFilter::default(),
                    Page::first(1),
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .remove(0)
        };
        let capped = Some(easel_core::credits::SpendCap {
            credits: 100,
            period: easel_core::credits::CapPeriod::Month,
        });
        // Without a spend cap and with one (PostgreSQL writes the first in one statement,
        // the second in three): the same entry.
        for (i, cap) in [None, capped].into_iter().enumerate() {
            let mut new = new_generation(&account.id, &key.id, Mode::Live, "m");
            new.spend_cap = cap;
            let g = store
                .create_generation(new, T0 + 1)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let e = newest().await;
            let held = 8 * (i as i64 + 1);
            assert_eq!(
                (
                    e.entry_type,
                    e.amount,
                    e.held_change,
                    e.balance_after,
                    e.held_after
                ),
                (easel_core::credits::LedgerType::Hold, 0, 8, 20, held),
                "cap {cap:?}"
            );
            assert_eq!(
                (
                    e.reference_type.as_deref(),
                    e.reference_id.as_deref(),
                    e.actor_type,
                    e.actor_id.as_str(),
                    e.reason.as_deref(),
                    e.created_at
                ),
                (
                    Some("generation"),
                    Some(g.id.as_str()),
                    easel_core::audit::ActorType::ApiKey,
                    key.id.as_str(),
                    None,
                    T0 + 1
                ),
                "cap {cap:?}"
            );
        }
        // 4 left: a hold of 8 is refused whole, capped or not, and nothing is written.
        let mut raw = support::Raw::connect(&db).await;
        let tables = ["generations", "jobs", "holds", "ledger_entries", "events"];
        let mut before = Vec::new();
        for t in tables {
            before.push(raw.count(t, &[]).await);
        }
        for cap in [None, capped] {
            let mut new = new_generation(&account.id, &key.id, Mode::Live, "m");
            new.spend_cap = cap;
            match store.create_generation(new, T0 + 2).await {
                Err(DbError::InsufficientCredits {
                    required: 8,
                    available: 4,
                }) => {}
                other => panic!("cap {cap:?}: {other:?}"),
            }
        }
        let mut after = Vec::new();
        for t in tables {
            after.push(raw.count(t, &[]).await);
        }
        assert_eq!(after, before, "nothing written ({tables:?})");
        raw.close().await;
        let b = store
            .balance(&account.id, Mode::Live)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((b.balance, b.held), (20, 16));
    }
);
