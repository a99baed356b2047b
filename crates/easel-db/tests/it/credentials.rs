//! What authentication reads: credentials by secret hash, and batched last-used times.

use easel_core::account::AccountState;
use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::roles::Role;
use easel_core::time::now_ms;
use easel_db::StateChange;
use easel_test_utils::{TestDb, both_backends};

use crate::support;

both_backends!(
    find_credential_reports_role_account_state_and_plan,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let mut new = support::new_account("cred-owner@acme.test");
        new.plan = "pro".into();
        let (account, _) = support::create_account(&store, new).await;
        let dev = store
            .add_member(
                &account.id,
                support::new_member("cred-dev@acme.test", Role::Developer),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("add_member: {e}"));
        let (key, hash) = support::key(&store, &account.id, &dev.user_id, Mode::Live).await;

        let find = |hash: String| {
            let store = store.clone();
            async move {
                store
                    .find_credential(&hash)
                    .await
                    .unwrap_or_else(|e| panic!("find_credential: {e}"))
            }
        };
        let credential = find(hash.clone())
            .await
            .unwrap_or_else(|| panic!("no credential for a fresh key"));
        assert_eq!(credential.key, key);
        assert_eq!(credential.role, Some(Role::Developer));
        assert_eq!(credential.account_state, AccountState::Active);
        assert_eq!(credential.account_suspended_until, None);
        assert_eq!(credential.account_plan, "pro");
        assert_eq!(credential.secret_expires_at, None);

        // Role and state changes show at the next lookup.
        store
            .set_member_role(&account.id, &dev.user_id, Role::Viewer, support::audit())
            .await
            .unwrap_or_else(|e| panic!("set_member_role: {e}"));
        let until = now_ms() + 60_000;
        store
            .change_account_state(
                &account.id,
                StateChange::Suspend {
                    reason: "review".into(),
                    until: Some(until),
                    jobs: easel_db::SuspendJobs::Finish,
                },
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("suspend: {e}"));
        let credential = find(hash)
            .await
            .unwrap_or_else(|| panic!("no credential after changes"));
        assert_eq!(credential.role, Some(Role::Viewer));
        assert_eq!(credential.account_state, AccountState::Suspended);
        assert_eq!(credential.account_suspended_until, Some(until));

        assert!(
            find(easel_core::api_key::hash("vs_live_unknown"))
                .await
                .is_none()
        );
        assert!(find(String::new()).await.is_none());
    }
);

both_backends!(
    touch_keys_never_moves_last_used_backwards,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "touch@acme.test").await;
        let (k1, _) = support::key(&store, &account.id, &owner.id, Mode::Test).await;
        let (k2, _) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        let last_used = |id: String| {
            let (store, account) = (store.clone(), account.id.clone());
            async move {
                store
                    .get_key(&account, None, &id)
                    .await
                    .unwrap_or_else(|e| panic!("get_key: {e}"))
                    .last_used_at
            }
        };
        let touch = |used: Vec<(String, i64)>| {
            let store = store.clone();
            async move {
                store
                    .touch_keys(&used)
                    .await
                    .unwrap_or_else(|e| panic!("touch_keys {used:?}: {e}"))
            }
        };
        touch(Vec::new()).await;
        assert_eq!(last_used(k1.id.clone()).await, None);

        touch(vec![(k1.id.clone(), 2000)]).await;
        assert_eq!(last_used(k1.id.clone()).await, Some(2000));
        touch(vec![(k1.id.clone(), 1000)]).await;
        assert_eq!(
            last_used(k1.id.clone()).await,
            Some(2000),
            "moved backwards"
        );
        touch(vec![(k1.id.clone(), 2000)]).await;
        assert_eq!(last_used(k1.id.clone()).await, Some(2000));
        // One batch, several keys (one twice, out of order) and an unknown id.
        touch(vec![
            (k1.id.clone(), 5000),
            (k2.id.clone(), 3000),
            (IdKind::ApiKey.generate(), 9000),
            (k1.id.clone(), 4000),
        ])
        .await;
        assert_eq!(last_used(k1.id.clone()).await, Some(5000));
        assert_eq!(last_used(k2.id.clone()).await, Some(3000));
    }
);
