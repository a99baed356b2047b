//! `changed_accounts_since`: what other nodes poll to drop cached credentials.

use std::collections::BTreeMap;

use easel_core::mode::Mode;
use easel_core::roles::Role;
use easel_core::time::now_ms;
use easel_db::StateChange;
use easel_test_utils::{TestDb, both_backends};

use crate::support;

both_backends!(
    changed_accounts_since_reports_changed_accounts_only,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        // Everything is set up a minute in the past; the watermark is now.
        let past = now_ms() - 60_000;
        let setup = |email: &'static str| {
            let store = store.clone();
            async move {
                let (account, _) =
                    support::create_account(&store, support::new_account_at(email, past)).await;
                let member = store
                    .add_member(
                        &account.id,
                        support::new_member_at(&format!("dev-{email}"), Role::Developer, past),
                        support::audit_at(past),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("add_member: {e}"));
                let (key, _) = support::create_key(
                    &store,
                    support::new_key_at(&account.id, &member.user_id, Mode::Live, past),
                )
                .await;
                (account.id, member.user_id, key.id)
            }
        };
        let revoked = setup("revoked@acme.test").await;
        let role = setup("role@acme.test").await;
        let state = setup("state@acme.test").await;
        let rotated = setup("rotated@acme.test").await;
        let removed = setup("removed@acme.test").await;
        let untouched = setup("untouched@acme.test").await;

        let watermark = now_ms();
        let nothing = store
            .changed_accounts_since(watermark)
            .await
            .unwrap_or_else(|e| panic!("changed_accounts_since: {e}"));
        assert!(nothing.is_empty(), "nothing changed yet: {nothing:?}");

        store
            .revoke_key(&revoked.0, None, &revoked.2, support::audit())
            .await
            .unwrap_or_else(|e| panic!("revoke_key: {e}"));
        store
            .set_member_role(&role.0, &role.1, Role::Viewer, support::audit())
            .await
            .unwrap_or_else(|e| panic!("set_member_role: {e}"));
        store
            .change_account_state(
                &state.0,
                StateChange::Suspend {
                    reason: "review".into(),
                    until: None,
                    jobs: easel_db::SuspendJobs::Finish,
                },
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("suspend: {e}"));
        store
            .rotate_key(
                &rotated.0,
                None,
                &rotated.2,
                support::rotation(Mode::Live, 0, now_ms()),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("rotate_key: {e}"));
        store
            .remove_member(&removed.0, &removed.1, support::audit())
            .await
            .unwrap_or_else(|e| panic!("remove_member: {e}"));
        let after = now_ms();

        let changed: BTreeMap<String, i64> = store
            .changed_accounts_since(watermark)
            .await
            .unwrap_or_else(|e| panic!("changed_accounts_since: {e}"))
            .into_iter()
            .collect();
        let mut expected = vec![
            revoked.0.clone(),
            role.0.clone(),
            state.0.clone(),
            rotated.0.clone(),
            removed.0.clone(),
        ];
        expected.sort();
        assert_eq!(changed.keys().cloned().collect::<Vec<_>>(), expected);
        assert!(!changed.contains_key(&untouched.0));
        for (account, at) in &changed {
            assert!(
                (watermark..=after).contains(at),
                "{account} changed at {at}, outside {watermark}..={after}"
            );
        }
        // Everything shows from the beginning of time, untouched accounts included.
        let all = store
            .changed_accounts_since(0)
            .await
            .unwrap_or_else(|e| panic!("changed_accounts_since(0): {e}"));
        assert_eq!(all.len(), 6);
        let untouched_at = all
            .iter()
            .find(|(id, _)| *id == untouched.0)
            .map(|(_, at)| *at);
        assert_eq!(untouched_at, Some(past));
        // A watermark after the last change sees nothing.
        let later = store
            .changed_accounts_since(after + 1)
            .await
            .unwrap_or_else(|e| panic!("changed_accounts_since: {e}"));
        assert!(later.is_empty(), "{later:?}");
    }
);
