//! Limits: an account's plan and its overrides, a key's cool-down, and the concurrent-jobs
//! limit counted in the creating transaction (exact across nodes, so tested with many
//! callers at once).

use std::sync::Arc;

use easel_core::audit::action;
use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::models::ModelKind;
use easel_db::{DbError, DbResult, Generation, LimitOverrides, NewGeneration, NewJob, Page, Store};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

const T0: i64 = 1_800_000_000_000;

const PRO_LIMITS: LimitOverrides = LimitOverrides {
    requests_per_minute: Some(120),
    requests_per_day: Some(50_000),
    concurrent_jobs: Some(4),
};

/// The newest audit entry of `account_id` with `action`.
async fn last_audit(store: &Arc<dyn Store>, account_id: &str, action: &str) -> serde_json::Value {
    let entries = store
        .list_audit(Some(account_id), Page::first(100))
        .await
        .unwrap_or_else(|e| panic!("list_audit: {e}"));
    let entry = entries
        .into_iter()
        .find(|e| e.action == action)
        .unwrap_or_else(|| panic!("no {action} audit entry"));
    entry.details
}

both_backends!(
    set_plan_stores_plan_and_overrides_with_an_audit_entry,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "plan@acme.test").await;
        assert_eq!(account.limits, LimitOverrides::default());
        let now = account.updated_at + 1_000;

        let changed = store
            .set_plan(&account.id, "pro", PRO_LIMITS, support::audit_at(now))
            .await
            .unwrap_or_else(|e| panic!("set_plan: {e}"));
        assert_eq!(
            (changed.plan.as_str(), changed.limits, changed.updated_at),
            ("pro", PRO_LIMITS, now)
        );
        let stored = store
            .get_account(&account.id)
            .await
            .unwrap_or_else(|e| panic!("get_account: {e}"));
        assert_eq!(stored, changed);
        // Other nodes notice through the account's `updated_at`.
        let changes = store
            .changed_accounts_since(now)
            .await
            .unwrap_or_else(|e| panic!("changed_accounts_since: {e}"));
        assert_eq!(changes, vec![(account.id.clone(), now)]);

        let details = last_audit(&store, &account.id, action::ACCOUNT_PLAN_CHANGED).await;
        assert_eq!(
            (&details["old"], &details["new"]),
            (
                &serde_json::json!({"plan": "free", "requests_per_minute": null,
                    "requests_per_day": null, "concurrent_jobs": null}),
                &serde_json::json!({"plan": "pro", "requests_per_minute": 120,
                    "requests_per_day": 50_000, "concurrent_jobs": 4}),
            )
        );

        // Leaving an override out clears it; the entry keeps what it was.
        let cleared = store
            .set_plan(
                &account.id,
                "pro",
                LimitOverrides {
                    concurrent_jobs: Some(2),
                    ..LimitOverrides::default()
                },
                support::audit_at(now + 1),
            )
            .await
            .unwrap_or_else(|e| panic!("set_plan: {e}"));
        assert_eq!(
            cleared.limits,
            LimitOverrides {
                requests_per_minute: None,
                requests_per_day: None,
                concurrent_jobs: Some(2),
            }
        );
        let details = last_audit(&store, &account.id, action::ACCOUNT_PLAN_CHANGED).await;
        assert_eq!(details["old"]["requests_per_minute"], 120);
        assert_eq!(
            details["new"]["requests_per_minute"],
            serde_json::Value::Null
        );
        assert_eq!(details["new"]["concurrent_jobs"], 2);
        let mut raw = Raw::connect(&db).await;
        assert_eq!(
            raw.audit_rows(&account.id, action::ACCOUNT_PLAN_CHANGED)
                .await,
            2
        );
        raw.close().await;
    }
);

both_backends!(
    set_plan_refuses_terminated_and_unknown_accounts,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "plan-final@acme.test").await;
        let terminated = store
            .change_account_state(
                &account.id,
                easel_db::StateChange::Terminate,
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("terminate: {e}"));
        let mut raw = Raw::connect(&db).await;
        let audit_rows = raw.count("audit_log", &[]).await;
        support::assert_rule(
            store
                .set_plan(&account.id, "pro", PRO_LIMITS, support::audit())
                .await,
            "account_terminated",
        );
        assert_eq!(
            store
                .get_account(&account.id)
                .await
                .unwrap_or_else(|e| panic!("get_account: {e}")),
            terminated
        );
        support::assert_not_found(
            store
                .set_plan(
                    &IdKind::Account.generate(),
                    "pro",
                    PRO_LIMITS,
                    support::audit(),
                )
                .await,
        );
        assert_eq!(raw.count("audit_log", &[]).await, audit_rows);
        raw.close().await;
    }
);

both_backends!(
    find_credential_carries_the_overrides_and_the_cooldown,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "cred-limits@acme.test").await;
        let (key, hash) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        let find = || async {
            store
                .find_credential(&hash)
                .await
                .unwrap_or_else(|e| panic!("find_credential: {e}"))
                .unwrap_or_else(|| panic!("no credential"))
        };
        let before = find().await;
        assert_eq!(before.account_limits, LimitOverrides::default());
        assert_eq!(before.key.cooldown_until, None);

        store
            .set_plan(&account.id, "pro", PRO_LIMITS, support::audit())
            .await
            .unwrap_or_else(|e| panic!("set_plan: {e}"));
        let until = easel_core::time::now_ms() + 60_000;
        store
            .start_key_cooldown(&account.id, &key.id, until, support::audit())
            .await
            .unwrap_or_else(|e| panic!("start_key_cooldown: {e}"));
        let after = find().await;
        assert_eq!(
            (after.account_plan.as_str(), after.account_limits),
            ("pro", PRO_LIMITS)
        );
        assert_eq!(after.key.cooldown_until, Some(until));
    }
);

/// `api_key.cooldown_started` events of an account in `mode`.
async fn cooldown_events(
    store: &Arc<dyn Store>,
    account: &str,
    mode: Mode,
) -> Vec<serde_json::Value> {
    store
        .list_events(account, mode, Page::first(100))
        .await
        .unwrap_or_else(|e| panic!("list_events: {e}"))
        .into_iter()
        .filter(|e| e.event_type == "api_key.cooldown_started")
        .map(|e| e.data)
        .collect()
}

both_backends!(
    a_cooldown_starts_once_until_it_lapses,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "cool@acme.test").await;
        let (key, _) = support::key(&store, &account.id, &owner.id, Mode::Test).await;
        let mut raw = Raw::connect(&db).await;
        let until = T0 + 300_000;

        let mut audit = support::audit_at(T0);
        audit.actor = easel_core::audit::Actor::system();
        let started = store
            .start_key_cooldown(&account.id, &key.id, until, audit.with("rejected", 60))
            .await
            .unwrap_or_else(|e| panic!("start_key_cooldown: {e}"))
            .unwrap_or_else(|| panic!("the first call did not start the cool-down"));
        assert_eq!(started.cooldown_until, Some(until));
        assert_eq!(started.id, key.id);
        let details = last_audit(&store, &account.id, action::KEY_COOLDOWN_STARTED).await;
        assert_eq!(
            (details["until"].as_i64(), details["rejected"].as_i64()),
            (Some(until), Some(60))
        );
        let entry = store
            .list_audit(Some(&account.id), Page::first(1))
            .await
            .unwrap_or_else(|e| panic!("list_audit: {e}"))
            .remove(0);
        assert_eq!(
            (
                entry.target_type.as_deref(),
                entry.target_id.as_deref(),
                entry.created_at
            ),
            (Some("api_key"), Some(key.id.as_str()), T0)
        );
        assert_eq!(
            cooldown_events(&store, &account.id, Mode::Test).await,
            vec![
                serde_json::json!({"object": "api_key", "id": key.id, "name": key.name,
                "cooldown_until": until / 1000})
            ]
        );
        assert!(
            cooldown_events(&store, &account.id, Mode::Live)
                .await
                .is_empty()
        );
        let changes = store
            .changed_accounts_since(T0)
            .await
            .unwrap_or_else(|e| panic!("changed_accounts_since: {e}"));
        assert_eq!(changes, vec![(account.id.clone(), T0)]);

        // While it runs, another start changes nothing and writes nothing.
        let audit_rows = raw.count("audit_log", &[]).await;
        let events = raw.count("events", &[]).await;
        let again = store
            .start_key_cooldown(
                &account.id,
                &key.id,
                until + 1_000,
                support::audit_at(until - 1),
            )
            .await
            .unwrap_or_else(|e| panic!("start_key_cooldown: {e}"));
        assert_eq!(again, None);
        assert_eq!(raw.count("audit_log", &[]).await, audit_rows);
        assert_eq!(raw.count("events", &[]).await, events);
        let stored = store
            .get_key(&account.id, None, &key.id)
            .await
            .unwrap_or_else(|e| panic!("get_key: {e}"));
        assert_eq!(stored.cooldown_until, Some(until));

        // Once it lapsed, a new one starts.
        let next = store
            .start_key_cooldown(
                &account.id,
                &key.id,
                until + 600_000,
                support::audit_at(until + 1),
            )
            .await
            .unwrap_or_else(|e| panic!("start_key_cooldown: {e}"));
        assert_eq!(next.and_then(|k| k.cooldown_until), Some(until + 600_000));
        assert_eq!(
            raw.audit_rows(&account.id, action::KEY_COOLDOWN_STARTED)
                .await,
            2
        );
        assert_eq!(
            cooldown_events(&store, &account.id, Mode::Test).await.len(),
            2
        );

        // Unknown keys and other accounts' keys are not found.
        let (other, _) = support::account(&store, "cool-other@acme.test").await;
        support::assert_not_found(
            store
                .start_key_cooldown(&other.id, &key.id, until, support::audit())
                .await,
        );
        support::assert_not_found(
            store
                .start_key_cooldown(
                    &account.id,
                    &IdKind::ApiKey.generate(),
                    until,
                    support::audit(),
                )
                .await,
        );
        raw.close().await;
    }
);

both_backends!(
    of_nodes_racing_to_start_a_cooldown_exactly_one_does,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "cool-race@acme.test").await;
        let (key, _) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        let now = easel_core::time::now_ms();
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let (store, account, key) = (store.clone(), account.id.clone(), key.id.clone());
                tokio::spawn(async move {
                    store
                        .start_key_cooldown(
                            &account,
                            &key,
                            now + 60_000 + i,
                            support::audit_at(now),
                        )
                        .await
                })
            })
            .collect();
        let mut started = 0;
        for task in tasks {
            let res = task.await.unwrap_or_else(|e| panic!("task panicked: {e}"));
            if res
                .unwrap_or_else(|e| panic!("start_key_cooldown: {e}"))
                .is_some()
            {
                started += 1;
            }
        }
        assert_eq!(started, 1);
        let mut raw = Raw::connect(&db).await;
        assert_eq!(
            raw.audit_rows(&account.id, action::KEY_COOLDOWN_STARTED)
                .await,
            1
        );
        assert_eq!(
            cooldown_events(&store, &account.id, Mode::Live).await.len(),
            1
        );
        raw.close().await;
    }
);

/// A generation of 8 credits with the concurrent-jobs limit `max_open`.
fn new_generation(
    account_id: &str,
    key_id: &str,
    mode: Mode,
    max_open: Option<u32>,
) -> NewGeneration {
    NewGeneration {
        id: IdKind::Generation.generate(),
        account_id: account_id.into(),
        api_key_id: key_id.into(),
        mode,
        model: "sandbox-image".into(),
        kind: ModelKind::Image,
        input: serde_json::json!({"prompt": "a red fox"}),
        end_user: None,
        metadata: None,
        licence: "non_commercial".into(),
        credits_estimated: 8,
        spend_cap: None,
        max_open,
        job: NewJob {
            id: IdKind::Job.generate(),
            queue: "generation:sandbox-image".into(),
            kind: "run_generation".into(),
            payload: "{}".into(),
            max_attempts: 3,
            run_at: T0,
            expires_at: Some(T0 + 600_000),
            now: T0,
        },
    }
}

/// An account with credits in both modes and a key of each mode: (store, account, keys).
async fn funded(db: &TestDb, email: &str) -> (Arc<dyn Store>, String, [String; 2]) {
    let store = support::store(db).await;
    let (account, owner) = support::account(&store, email).await;
    let mut keys = Vec::new();
    for mode in [Mode::Test, Mode::Live] {
        grant(&store, &account.id, mode).await;
        keys.push(
            support::key(&store, &account.id, &owner.id, mode)
                .await
                .0
                .id,
        );
    }
    let keys = [keys[0].clone(), keys[1].clone()];
    (store, account.id, keys)
}

async fn grant(store: &Arc<dyn Store>, account_id: &str, mode: Mode) {
    store
        .add_credits(easel_db::NewCredit {
            account_id: account_id.into(),
            mode,
            entry_type: easel_core::credits::LedgerType::Grant,
            amount: 1_000_000,
            reference: None,
            reason: None,
            audit: support::audit(),
        })
        .await
        .unwrap_or_else(|e| panic!("add_credits: {e}"));
}

/// `n` creations at once in `mode` with `max_open`; returns their results.
async fn create_many(
    store: &Arc<dyn Store>,
    account: &str,
    key: &str,
    mode: Mode,
    n: usize,
    max_open: u32,
) -> Vec<DbResult<Generation>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let store = store.clone();
            let new = new_generation(account, key, mode, Some(max_open));
            tokio::spawn(async move { store.create_generation(new, T0).await })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        out.push(task.await.unwrap_or_else(|e| panic!("task panicked: {e}")));
    }
    out
}

/// The admitted generations; asserts every refusal is `ConcurrencyLimit` at `limit`.
fn admitted(results: Vec<DbResult<Generation>>, limit: u32) -> Vec<Generation> {
    let mut ok = Vec::new();
    for r in results {
        match r {
            Ok(g) => ok.push(g),
            Err(DbError::ConcurrencyLimit { limit: l, open }) => {
                assert_eq!((l, open), (limit, i64::from(limit)));
            }
            Err(e) => panic!("expected Ok or ConcurrencyLimit, got {e:?}"),
        }
    }
    ok
}

both_backends!(
    concurrent_creations_never_exceed_the_open_jobs_limit,
    |db: TestDb| async move {
        let (store, account, [test_key, live_key]) = funded(&db, "slots@acme.test").await;
        let first = admitted(
            create_many(&store, &account, &test_key, Mode::Test, 20, 3).await,
            3,
        );
        assert_eq!(first.len(), 3);
        let mut raw = Raw::connect(&db).await;
        // Refused creations left nothing behind: no generation, job, hold or event.
        assert_eq!(raw.count("generations", &[]).await, 3);
        assert_eq!(raw.count("jobs", &[]).await, 3);
        assert_eq!(raw.count("holds", &[]).await, 3);
        assert_eq!(
            raw.count("events WHERE type = 'generation.queued'", &[])
                .await,
            3
        );
        let balance = store
            .balance(&account, Mode::Test)
            .await
            .unwrap_or_else(|e| panic!("balance: {e}"));
        assert_eq!(balance.held, 24);

        // Live mode has its own slots.
        let live = admitted(
            create_many(&store, &account, &live_key, Mode::Live, 5, 3).await,
            3,
        );
        assert_eq!(live.len(), 3);

        // Ending one frees exactly one slot.
        store
            .cancel_generation(&account, Mode::Test, &first[0].id, T0 + 1)
            .await
            .unwrap_or_else(|e| panic!("cancel_generation: {e}"));
        let next = admitted(
            create_many(&store, &account, &test_key, Mode::Test, 8, 3).await,
            3,
        );
        assert_eq!(next.len(), 1);
        // Without a limit (`None`) nothing is counted: a fourth open generation.
        store
            .create_generation(new_generation(&account, &test_key, Mode::Test, None), T0)
            .await
            .unwrap_or_else(|e| panic!("create_generation without a limit: {e}"));
        let open = "generations WHERE mode = $1 AND status IN ('queued', 'running')";
        assert_eq!(raw.count(open, &["test"]).await, 4);
        assert_eq!(raw.count(open, &["live"]).await, 3);
        raw.close().await;
    }
);

both_backends!(
    limited_creations_race_settlements_and_grants_without_deadlock,
    |db: TestDb| async move {
        // Every transaction that touches an account's balance row at once with a limited
        // creation: creations (account lock, then balance row), cancellations (balance row,
        // then ledger rows referencing the account), grants (account lock, then balance
        // row) and invalid-input fees. A lock-order inversion shows as a deadlock error.
        let (store, account, [key, _]) = funded(&db, "mixed@acme.test").await;
        let open: Vec<Generation> = admitted(
            create_many(&store, &account, &key, Mode::Test, 30, 1_000).await,
            1_000,
        );
        let mut tasks: Vec<tokio::task::JoinHandle<DbResult<()>>> = Vec::new();
        for (i, g) in open.into_iter().enumerate() {
            let (store, account, key) = (store.clone(), account.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .cancel_generation(&account, Mode::Test, &g.id, T0 + 1)
                    .await?;
                store
                    .create_generation(new_generation(&account, &key, Mode::Test, Some(1_000)), T0)
                    .await?;
                if i % 3 == 0 {
                    grant(&store, &account, Mode::Test).await;
                }
                let actor = easel_core::audit::Actor::key(&key);
                store
                    .charge_invalid_input_fee(
                        &account,
                        Mode::Test,
                        1,
                        &format!("req_{i}"),
                        &actor,
                        T0,
                    )
                    .await?;
                Ok(())
            }));
        }
        for task in tasks {
            task.await
                .unwrap_or_else(|e| panic!("task panicked: {e}"))
                .unwrap_or_else(|e| panic!("a concurrent store call failed: {e}"));
        }
        // No deadlock is not enough: every movement landed exactly once. 30 holds of 8
        // released and 30 placed; 10 grants of a million on top of the first; 30 fees of 1.
        let balance = store
            .balance(&account, Mode::Test)
            .await
            .unwrap_or_else(|e| panic!("balance: {e}"));
        assert_eq!(
            (balance.balance, balance.held),
            (11_000_000 - 30, 30 * 8),
            "{balance:?}"
        );
        let mut raw = Raw::connect(&db).await;
        assert_ledger_sums_to(&mut raw, &account, "test", (balance.balance, balance.held)).await;
        let entries = |kind: &'static str| {
            format!("ledger_entries WHERE account_id = $1 AND mode = 'test' AND type = '{kind}'")
        };
        for (kind, n) in [
            ("grant", 11),
            ("hold", 60),
            ("release", 30),
            ("invalid_input_fee", 30),
        ] {
            assert_eq!(raw.count(&entries(kind), &[&account]).await, n, "{kind}");
        }
        let open = "holds WHERE account_id = $1 AND status = 'open'";
        assert_eq!(raw.count(open, &[&account]).await, 30);
        raw.close().await;
    }
);

/// Asserts the ledger of `account_id` in `mode` sums to the stored balance and held amount,
/// and that those are `expected`.
async fn assert_ledger_sums_to(raw: &mut Raw, account_id: &str, mode: &str, expected: (i64, i64)) {
    let sum = |column: &str| {
        format!(
            "SELECT CAST(COALESCE(SUM({column}), 0) AS BIGINT) FROM ledger_entries \
             WHERE account_id = $1 AND mode = $2"
        )
    };
    let ledger = (
        raw.scalar(&sum("amount"), &[account_id, mode]).await,
        raw.scalar(&sum("held_change"), &[account_id, mode]).await,
    );
    assert_eq!(
        ledger,
        (Some(expected.0), Some(expected.1)),
        "the ledger's amounts and hold changes sum to the balance and what is held"
    );
}
