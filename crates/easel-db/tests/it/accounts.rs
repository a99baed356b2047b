//! Accounts: creation with the owner in one transaction, lookups and pagination.

use std::time::Duration;

use easel_core::account::AccountState;
use easel_core::audit::{ActorType, action};
use easel_core::roles::Role;
use easel_db::{DbError, Page};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

both_backends!(
    create_account_writes_owner_membership_and_audit,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let new = support::new_account("ada@acme.test");
        let expected = new.clone();
        let audit = support::audit().with("plan", "free");
        let audit_id = audit.id.clone();
        let (account, owner) = store
            .create_account(new, audit)
            .await
            .unwrap_or_else(|e| panic!("create_account: {e}"));

        assert_eq!(account.id, expected.id);
        assert_eq!(account.name, expected.name);
        assert_eq!(account.legal_name, expected.legal_name);
        assert_eq!(account.contact_email, expected.contact_email);
        assert_eq!(account.contact_phone, expected.contact_phone);
        assert_eq!(account.address, expected.address);
        assert_eq!(account.country, expected.country);
        assert_eq!(account.plan, "free");
        assert_eq!(account.state, AccountState::Active);
        assert_eq!(
            (
                account.suspended_reason.as_deref(),
                account.suspended_until,
                account.terminated_at
            ),
            (None, None, None)
        );
        assert_eq!(
            (account.created_at, account.updated_at),
            (expected.now, expected.now)
        );

        assert_eq!(owner.id, expected.owner.id);
        assert_eq!(owner.email, "ada@acme.test");
        assert_eq!(owner.name, expected.owner.name);
        assert_eq!(owner.adult_attested_at, Some(expected.now));
        assert_eq!(owner.terms_version.as_deref(), Some("2026-11-01"));
        assert_eq!(owner.terms_accepted_at, Some(expected.now));
        assert_eq!(owner.created_at, expected.now);

        let got = store
            .get_account(&account.id)
            .await
            .unwrap_or_else(|e| panic!("get_account: {e}"));
        assert_eq!(got, account);

        let members = store
            .list_members(&account.id)
            .await
            .unwrap_or_else(|e| panic!("list_members: {e}"));
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].user_id, owner.id);
        assert_eq!(members[0].email, owner.email);
        assert_eq!(members[0].role, Role::Owner);
        assert_eq!(members[0].account_id, account.id);

        let entries = store
            .list_audit(Some(&account.id), Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("list_audit: {e}"));
        assert_eq!(entries.len(), 1, "{entries:?}");
        let entry = &entries[0];
        assert_eq!(entry.id, audit_id);
        assert_eq!(entry.action, action::ACCOUNT_CREATED);
        assert_eq!(
            (entry.actor_type, entry.actor_id.as_str()),
            (ActorType::Operator, "cli")
        );
        assert_eq!(entry.target_type.as_deref(), Some("account"));
        assert_eq!(entry.target_id.as_deref(), Some(account.id.as_str()));
        assert_eq!(entry.details, serde_json::json!({"plan": "free"}));
    }
);

both_backends!(
    a_taken_email_conflicts_and_creates_nothing,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        support::account(&store, "taken@acme.test").await;
        let mut raw = Raw::connect(&db).await;
        let before = raw.table_counts().await;

        let dup = support::new_account("taken@acme.test");
        let dup_id = dup.id.clone();
        support::assert_conflict(
            store.create_account(dup, support::audit()).await,
            "users_email_key",
        );
        assert_eq!(
            raw.table_counts().await,
            before,
            "the failed create left rows behind"
        );
        assert_eq!(raw.count("accounts WHERE id = $1", &[&dup_id]).await, 0);
        support::assert_not_found(store.get_account(&dup_id).await);
        // The store stays usable after the failed transaction.
        support::account(&store, "free@acme.test").await;
        raw.close().await;
    }
);

both_backends!(
    a_failed_audit_insert_rolls_the_whole_account_back,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (first, _) = support::account(&store, "first@acme.test").await;
        let existing = store
            .list_audit(Some(&first.id), Page::first(1))
            .await
            .unwrap_or_else(|e| panic!("list_audit: {e}"));
        let mut raw = Raw::connect(&db).await;
        let before = raw.table_counts().await;
        // Reusing an audit id makes the last insert of the transaction fail.
        let mut audit = support::audit();
        audit.id = existing[0].id.clone();
        let new = support::new_account("second@acme.test");
        let res = store.create_account(new.clone(), audit).await;
        assert!(
            matches!(res, Err(DbError::Other(_))),
            "a duplicate audit id must fail the create, got {res:?}"
        );
        assert_eq!(
            raw.table_counts().await,
            before,
            "account, user or member left behind"
        );
        // The owner's email is free again.
        support::create_account(&store, new).await;
        raw.close().await;
    }
);

both_backends!(get_unknown_account_is_not_found, |db: TestDb| async move {
    let store = support::store(&db).await;
    support::account(&store, "someone@acme.test").await;
    support::assert_not_found(
        store
            .get_account(&easel_core::ids::IdKind::Account.generate())
            .await,
    );
    support::assert_not_found(store.get_account("").await);
});

both_backends!(
    list_accounts_is_newest_first_with_a_lookahead_row,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let empty = store
            .list_accounts(Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("list_accounts on an empty store: {e}"));
        assert!(empty.is_empty());
        // Ids are ULIDs: a millisecond apart, they sort in creation order.
        let mut ids = Vec::new();
        for n in 0..5 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let (a, _) = support::account(&store, &format!("list{n}@acme.test")).await;
            ids.push(a.id);
        }
        ids.reverse(); // newest first

        let page = |limit, after: Option<&String>| Page {
            limit,
            starting_after: after.cloned(),
        };
        let list = |p: Page| {
            let store = store.clone();
            async move {
                store
                    .list_accounts(p)
                    .await
                    .unwrap_or_else(|e| panic!("list_accounts: {e}"))
                    .into_iter()
                    .map(|a| a.id)
                    .collect::<Vec<_>>()
            }
        };
        // limit 2: the store returns 3 rows so the caller knows there is more.
        assert_eq!(list(page(2, None)).await, ids[0..3]);
        assert_eq!(list(page(2, Some(&ids[1]))).await, ids[2..5]);
        assert_eq!(list(page(2, Some(&ids[3]))).await, ids[4..5]);
        assert!(list(page(2, Some(&ids[4]))).await.is_empty());
        assert_eq!(list(page(10, None)).await, ids);
        assert_eq!(list(page(0, None)).await, ids[0..1]);
        // Full rows come back, not just ids.
        let full = store
            .list_accounts(Page::first(1))
            .await
            .unwrap_or_else(|e| panic!("list_accounts: {e}"));
        let one = store
            .get_account(&ids[0])
            .await
            .unwrap_or_else(|e| panic!("get_account: {e}"));
        assert_eq!(full[0], one);
    }
);

both_backends!(
    list_accounts_does_not_depend_on_the_collation,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        if db.backend == easel_test_utils::Backend::Postgres {
            // What a database created with an `en_US.UTF-8` (or ICU `en-US`) default locale
            // gives every text column, the default of many installs and of the official
            // Docker image. SQLite always compares text bytewise.
            let mut raw = Raw::connect(&db).await;
            raw.execute(r#"ALTER TABLE accounts ALTER COLUMN id TYPE TEXT COLLATE "en-US-x-icu""#)
                .await
                .unwrap_or_else(|e| panic!("cannot give accounts.id an en-US collation: {e}"));
            raw.close().await;
        }
        let (a, _) = support::account(&store, "collation-a@acme.test").await;
        tokio::time::sleep(Duration::from_millis(2)).await;
        let (b, _) = support::account(&store, "collation-b@acme.test").await;
        let ids: Vec<String> = store
            .list_accounts(Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("list_accounts: {e}"))
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, vec![b.id, a.id], "the first page lists every account");
    }
);
