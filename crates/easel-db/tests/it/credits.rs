//! Credits in the store: grants with their ledger entry, references credited once, and
//! the database itself refusing a negative balance or holding more than there is.

use easel_core::audit::Actor;
use easel_core::credits::LedgerType;
use easel_core::mode::Mode;
use easel_db::{AuditContext, DbError, LedgerFilter, NewCredit, Page};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

fn credit(account_id: &str, amount: i64, reference: Option<(&str, &str)>) -> NewCredit {
    NewCredit {
        account_id: account_id.into(),
        mode: Mode::Live,
        entry_type: LedgerType::Purchase,
        amount,
        reference: reference.map(|(t, id)| (t.to_string(), id.to_string())),
        reason: None,
        audit: AuditContext::new(Actor::system(), None),
    }
}

both_backends!(
    credits_add_up_and_references_count_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "credits@example.com").await;
        let first = store
            .add_credits(credit(&account.id, 700, Some(("payment", "cs_1"))))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (first.amount, first.balance_after, first.entry_type),
            (700, 700, LedgerType::Purchase)
        );
        let again = store
            .add_credits(credit(&account.id, 700, Some(("payment", "cs_1"))))
            .await;
        assert!(
            matches!(again, Err(DbError::Conflict("ledger_entries_reference"))),
            "{again:?}"
        );
        store
            .add_credits(credit(&account.id, 300, Some(("payment", "cs_2"))))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .add_credits(credit(&account.id, 1, None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let b = store
            .balance(&account.id, Mode::Live)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((b.balance, b.held, b.available()), (1001, 0, 1001));
        assert_eq!(
            store
                .balance(&account.id, Mode::Test)
                .await
                .ok()
                .map(|b| b.balance),
            Some(0)
        );
        for bad in [0, -1, easel_core::credits::MAX_MOVEMENT + 1] {
            assert!(
                matches!(
                    store.add_credits(credit(&account.id, bad, None)).await,
                    Err(DbError::Rule(_))
                ),
                "{bad}"
            );
        }
        let mut hold = credit(&account.id, 5, None);
        hold.entry_type = LedgerType::Hold;
        assert!(matches!(
            store.add_credits(hold).await,
            Err(DbError::Rule(_))
        ));
        let missing = store
            .add_credits(credit("acct_01m864a045xwwke0zd48j6933p", 5, None))
            .await;
        assert!(matches!(missing, Err(DbError::NotFound)), "{missing:?}");
        let entries = store
            .list_ledger(
                &account.id,
                Mode::Live,
                LedgerFilter::default(),
                Page::first(10),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            entries.iter().map(|e| e.amount).collect::<Vec<_>>(),
            [1, 300, 700],
            "newest first"
        );
        let filtered = store
            .list_ledger(
                &account.id,
                Mode::Live,
                LedgerFilter {
                    entry_type: Some(LedgerType::Grant),
                    ..Default::default()
                },
                Page::first(10),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(filtered.is_empty());
    }
);

both_backends!(
    the_database_refuses_what_would_break_the_balance,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "checks@example.com").await;
        store
            .add_credits(credit(&account.id, 10, None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let id = &account.id;
        let mut raw = Raw::connect(&db).await;
        // The same statement shape within the rules is accepted (and undone): a refusal
        // below is the rule's, not a typo's or a missing row's.
        for sql in [
            format!(
                "UPDATE credit_balances SET held = 10 WHERE account_id = '{id}' AND mode = 'live'"
            ),
            format!(
                "UPDATE credit_balances SET balance = 10, held = 0 WHERE account_id = '{id}' AND mode = 'live'"
            ),
        ] {
            let rows = raw
                .execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("the database refused `{sql}`: {e}"));
            assert_eq!(rows, 1, "{sql}");
        }
        for sql in [
            format!(
                "UPDATE credit_balances SET balance = -1, held = 0 WHERE account_id = '{id}' AND mode = 'live'"
            ),
            format!(
                "UPDATE credit_balances SET held = 11 WHERE account_id = '{id}' AND mode = 'live'"
            ),
            format!(
                "UPDATE credit_balances SET held = -1 WHERE account_id = '{id}' AND mode = 'live'"
            ),
        ] {
            assert_check_violation(raw.execute(&sql).await, &sql);
        }
        raw.close().await;
        let b = store
            .balance(&account.id, Mode::Live)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((b.balance, b.held), (10, 0));
    }
);

/// Asserts `res` is the database refusing a row through a CHECK constraint: any other
/// failure (a typo, a missing column, a lost connection) is a broken test, not a pass.
fn assert_check_violation(res: Result<u64, sqlx::Error>, sql: &str) {
    match res {
        Err(sqlx::Error::Database(e)) => assert_eq!(
            e.kind(),
            sqlx::error::ErrorKind::CheckViolation,
            "`{sql}` failed, but not on a CHECK constraint: {e}"
        ),
        Err(e) => panic!("`{sql}` failed outside the database's rules: {e}"),
        Ok(rows) => panic!("the database accepted `{sql}` ({rows} rows)"),
    }
}
