//! Concurrent callers: many nodes (or tasks) writing at once must neither fail nor break
//! the rules a single caller is held to.

use std::sync::Arc;

use easel_core::audit::action;
use easel_core::mode::Mode;
use easel_core::roles::Role;
use easel_db::{Page, StateChange, Store};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

both_backends!(
    fifty_concurrent_key_creations_all_succeed,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "busy@acme.test").await;
        let tasks: Vec<_> = (0..50)
            .map(|n| {
                let store: Arc<dyn Store> = store.clone();
                let mode = if n % 2 == 0 { Mode::Live } else { Mode::Test };
                let new = support::new_key(&account.id, &owner.id, mode);
                tokio::spawn(async move { store.create_key(new, support::audit()).await })
            })
            .collect();
        let mut created = Vec::new();
        for task in tasks {
            let key = task
                .await
                .unwrap_or_else(|e| panic!("create_key task panicked: {e}"))
                .unwrap_or_else(|e| panic!("concurrent create_key failed: {e}"));
            created.push(key.id);
        }
        created.sort();
        created.dedup();
        assert_eq!(created.len(), 50);

        let mut raw = Raw::connect(&db).await;
        assert_eq!(
            raw.count("api_keys WHERE account_id = $1", &[&account.id])
                .await,
            50
        );
        assert_eq!(raw.audit_rows(&account.id, action::KEY_CREATED).await, 50);
        let mut listed: Vec<String> = store
            .list_keys(&account.id, None, Page::first(100))
            .await
            .unwrap_or_else(|e| panic!("list_keys: {e}"))
            .into_iter()
            .map(|k| k.id)
            .collect();
        listed.sort();
        assert_eq!(listed, created);
        raw.close().await;
    }
);

/// Runs `n` copies of `call` at once (each with its index) and returns their results.
async fn all_at_once<T, F, Fut>(n: usize, call: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let fut = call(i);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        out.push(task.await.unwrap_or_else(|e| panic!("task panicked: {e}")));
    }
    out
}

both_backends!(
    concurrent_revokes_record_one_revocation,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "race-revoke@acme.test").await;
        let mut raw = Raw::connect(&db).await;
        for round in 0..10 {
            let (key, _) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
            let base = easel_core::time::now_ms();
            let results = all_at_once(8, |i| {
                let (store, account, key) = (store.clone(), account.id.clone(), key.id.clone());
                // Distinct times, so an overwritten revocation shows.
                let audit = support::audit_at(base + i as i64);
                async move { store.revoke_key(&account, None, &key, audit).await }
            })
            .await;
            let times: Vec<Option<i64>> = results
                .into_iter()
                .map(|r| r.unwrap_or_else(|e| panic!("revoke_key: {e}")).revoked_at)
                .collect();
            let stored = store
                .get_key(&account.id, None, &key.id)
                .await
                .unwrap_or_else(|e| panic!("get_key: {e}"))
                .revoked_at;
            // Every caller answered, and the key is revoked: equal `None`s would pass too.
            assert_eq!(times.len(), 8);
            let stored = stored
                .unwrap_or_else(|| panic!("round {round}: the key is not revoked after 8 revokes"));
            assert!(
                (base..base + 8).contains(&stored),
                "round {round}: revoked at {stored}, not at one of the callers' times from {base}"
            );
            let stored = Some(stored);
            assert!(
                times.iter().all(|t| *t == stored),
                "round {round}: callers saw different revocation times {times:?}, stored {stored:?}"
            );
            let rows = raw
                .count(
                    "audit_log WHERE action = $1 AND target_id = $2",
                    &[action::KEY_REVOKED, &key.id],
                )
                .await;
            assert_eq!(
                rows, 1,
                "round {round}: {rows} key.revoked rows for one key"
            );
        }
        raw.close().await;
    }
);

both_backends!(
    concurrent_terminations_terminate_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let mut raw = Raw::connect(&db).await;
        for round in 0..10 {
            let (account, _) =
                support::account(&store, &format!("race-terminate{round}@acme.test")).await;
            let results = all_at_once(4, |_| {
                let (store, account) = (store.clone(), account.id.clone());
                async move {
                    store
                        .change_account_state(&account, StateChange::Terminate, support::audit())
                        .await
                }
            })
            .await;
            let ok = results.iter().filter(|r| r.is_ok()).count();
            for r in results.iter().filter_map(|r| r.as_ref().err()) {
                assert_eq!(support::rule_code(r), Some("account_terminated"), "{r:?}");
            }
            assert_eq!(
                ok, 1,
                "round {round}: {ok} callers terminated the same account"
            );
            assert_eq!(
                raw.audit_rows(&account.id, action::ACCOUNT_TERMINATED)
                    .await,
                1
            );
        }
        raw.close().await;
    }
);

both_backends!(
    concurrent_demotions_keep_an_owner,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        for round in 0..10 {
            let (account, first) =
                support::account(&store, &format!("race-owner{round}@acme.test")).await;
            let second = store
                .add_member(
                    &account.id,
                    support::new_member(&format!("co-owner{round}@acme.test"), Role::Owner),
                    support::audit(),
                )
                .await
                .unwrap_or_else(|e| panic!("add_member: {e}"));
            let owners = [first.id.clone(), second.user_id.clone()];
            // Each owner steps down at the same moment; at most one may succeed.
            let results = all_at_once(2, |i| {
                let (store, account, user) = (store.clone(), account.id.clone(), owners[i].clone());
                async move {
                    store
                        .set_member_role(&account, &user, Role::Admin, support::audit())
                        .await
                }
            })
            .await;
            for r in results.iter().filter_map(|r| r.as_ref().err()) {
                assert_eq!(support::rule_code(r), Some("last_owner"), "{r:?}");
            }
            let owners_left = store
                .list_members(&account.id)
                .await
                .unwrap_or_else(|e| panic!("list_members: {e}"))
                .iter()
                .filter(|m| m.role == Role::Owner)
                .count();
            assert_eq!(
                owners_left, 1,
                "round {round}: the account has {owners_left} owners"
            );
        }
    }
);
