//! Account states: suspend, unsuspend, terminate (final, revoking every key at once).

use easel_core::account::AccountState;
use easel_core::audit::action;
use easel_core::mode::Mode;
use easel_core::time::now_ms;
use easel_db::{DbError, Page, StateChange};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

both_backends!(
    suspend_unsuspend_terminate_with_audit,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "states@acme.test").await;
        let (live, live_hash) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        let (test, _) = support::key(&store, &account.id, &owner.id, Mode::Test).await;
        let early = store
            .revoke_key(
                &account.id,
                None,
                &test.id,
                support::audit_at(now_ms() - 5_000),
            )
            .await
            .unwrap_or_else(|e| panic!("revoke_key: {e}"));
        let early_revoked_at = early.revoked_at;
        assert!(early_revoked_at.is_some());
        let mut raw = Raw::connect(&db).await;

        let until = now_ms() + 3_600_000;
        let audit = support::audit();
        let at = audit.now;
        let suspended = store
            .change_account_state(
                &account.id,
                StateChange::Suspend {
                    reason: "unpaid invoice".into(),
                    until: Some(until),
                    jobs: easel_db::SuspendJobs::Finish,
                },
                audit,
            )
            .await
            .unwrap_or_else(|e| panic!("suspend: {e}"));
        assert_eq!(suspended.state, AccountState::Suspended);
        assert_eq!(
            suspended.suspended_reason.as_deref(),
            Some("unpaid invoice")
        );
        assert_eq!(suspended.suspended_until, Some(until));
        assert_eq!(suspended.updated_at, at);
        assert_eq!(suspended.terminated_at, None);
        assert_eq!(
            store
                .get_account(&account.id)
                .await
                .unwrap_or_else(|e| panic!("get_account: {e}")),
            suspended
        );
        assert_eq!(
            raw.audit_rows(&account.id, action::ACCOUNT_SUSPENDED).await,
            1
        );
        let credential = store
            .find_credential(&live_hash)
            .await
            .unwrap_or_else(|e| panic!("find_credential: {e}"))
            .unwrap_or_else(|| panic!("the live key's credential is gone"));
        assert_eq!(credential.account_state, AccountState::Suspended);
        assert_eq!(credential.account_suspended_until, Some(until));
        assert_eq!(
            credential.key.revoked_at, None,
            "suspension revokes nothing"
        );

        let active = store
            .change_account_state(&account.id, StateChange::Unsuspend, support::audit())
            .await
            .unwrap_or_else(|e| panic!("unsuspend: {e}"));
        assert_eq!(active.state, AccountState::Active);
        assert_eq!(
            (active.suspended_reason, active.suspended_until),
            (None, None)
        );
        assert_eq!(
            raw.audit_rows(&account.id, action::ACCOUNT_UNSUSPENDED)
                .await,
            1
        );

        let audit = support::audit();
        let at = audit.now;
        let terminated = store
            .change_account_state(&account.id, StateChange::Terminate, audit)
            .await
            .unwrap_or_else(|e| panic!("terminate: {e}"));
        assert_eq!(terminated.state, AccountState::Terminated);
        assert_eq!(terminated.terminated_at, Some(at));
        assert_eq!(
            raw.audit_rows(&account.id, action::ACCOUNT_TERMINATED)
                .await,
            1
        );
        // Every key is revoked by the termination itself; an earlier revocation keeps its time.
        let live = store
            .get_key(&account.id, None, &live.id)
            .await
            .unwrap_or_else(|e| panic!("get_key: {e}"));
        assert_eq!(live.revoked_at, Some(at));
        let test = store
            .get_key(&account.id, None, &test.id)
            .await
            .unwrap_or_else(|e| panic!("get_key: {e}"));
        assert_eq!(test.revoked_at, early_revoked_at);
        assert_eq!(
            raw.count(
                "api_keys WHERE account_id = $1 AND revoked_at IS NULL",
                &[&account.id]
            )
            .await,
            0
        );
        // Termination is one audited action, not one per key.
        assert_eq!(raw.audit_rows(&account.id, action::KEY_REVOKED).await, 1);
        let credential = store
            .find_credential(&live_hash)
            .await
            .unwrap_or_else(|e| panic!("find_credential: {e}"))
            .unwrap_or_else(|| panic!("the live key's credential is gone"));
        assert_eq!(credential.account_state, AccountState::Terminated);
        assert_eq!(credential.key.revoked_at, Some(at));
        raw.close().await;
    }
);

both_backends!(
    a_failed_termination_revokes_nothing,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "atomic-terminate@acme.test").await;
        let (key, _) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        let existing = store
            .list_audit(Some(&account.id), Page::first(1))
            .await
            .unwrap_or_else(|e| panic!("list_audit: {e}"));
        // A reused audit id makes the audit insert, the last write, fail.
        let mut audit = support::audit();
        audit.id = existing[0].id.clone();
        let res = store
            .change_account_state(&account.id, StateChange::Terminate, audit)
            .await;
        assert!(matches!(res, Err(DbError::Other(_))), "got {res:?}");
        let after = store
            .get_account(&account.id)
            .await
            .unwrap_or_else(|e| panic!("get_account: {e}"));
        assert_eq!(after, account, "the state change was not rolled back");
        let key = store
            .get_key(&account.id, None, &key.id)
            .await
            .unwrap_or_else(|e| panic!("get_key: {e}"));
        assert_eq!(
            key.revoked_at, None,
            "the key revocation was not rolled back"
        );
    }
);

both_backends!(
    termination_is_final_and_unsuspend_needs_a_suspension,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "final@acme.test").await;
        let mut raw = Raw::connect(&db).await;

        support::assert_rule(
            store
                .change_account_state(&account.id, StateChange::Unsuspend, support::audit())
                .await,
            "account_not_suspended",
        );
        assert_eq!(
            store
                .get_account(&account.id)
                .await
                .unwrap_or_else(|e| panic!("get_account: {e}")),
            account,
            "a refused unsuspend changed the account"
        );
        assert_eq!(
            raw.audit_rows(&account.id, action::ACCOUNT_UNSUSPENDED)
                .await,
            0
        );

        let terminated = store
            .change_account_state(&account.id, StateChange::Terminate, support::audit())
            .await
            .unwrap_or_else(|e| panic!("terminate: {e}"));
        let audit_rows = raw.count("audit_log", &[]).await;
        for change in [
            StateChange::Suspend {
                reason: "again".into(),
                until: None,
                jobs: easel_db::SuspendJobs::Finish,
            },
            StateChange::Unsuspend,
            StateChange::Terminate,
        ] {
            let what = format!("{change:?}");
            let res = store
                .change_account_state(&account.id, change, support::audit())
                .await;
            assert_eq!(
                res.as_ref().err().and_then(support::rule_code),
                Some("account_terminated"),
                "{what} on a terminated account: {res:?}"
            );
        }
        assert_eq!(
            store
                .get_account(&account.id)
                .await
                .unwrap_or_else(|e| panic!("get_account: {e}")),
            terminated
        );
        assert_eq!(raw.count("audit_log", &[]).await, audit_rows);
        support::assert_not_found(
            store
                .change_account_state(
                    &easel_core::ids::IdKind::Account.generate(),
                    StateChange::Terminate,
                    support::audit(),
                )
                .await,
        );
        raw.close().await;
    }
);
