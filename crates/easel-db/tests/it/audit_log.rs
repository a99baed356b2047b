//! The audit log: append-only in the database itself, and listed newest first per account.

use easel_core::audit::{ActorType, action};
use easel_db::Page;
use easel_test_utils::{Backend, TestDb, both_backends};

use crate::support::{self, Raw};

both_backends!(
    audit_log_refuses_updates_and_deletes,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "append-only@example.com").await;
        let mut raw = Raw::connect(&db).await;
        let rows = raw.count("audit_log", &[]).await;
        assert!(rows >= 1, "create_account wrote an audit row");

        let mut statements = vec![
            "UPDATE audit_log SET action = 'tampered'".to_string(),
            format!(
                "UPDATE audit_log SET details = '{{}}' WHERE account_id = '{}'",
                account.id
            ),
            format!("DELETE FROM audit_log WHERE account_id = '{}'", account.id),
            "DELETE FROM audit_log".to_string(),
        ];
        if db.backend == Backend::Postgres {
            statements.push("TRUNCATE audit_log".to_string());
        }
        for sql in &statements {
            match raw.execute(sql).await {
                Err(sqlx::Error::Database(e)) => assert!(
                    e.message().contains("append-only"),
                    "`{sql}` failed for another reason: {e}"
                ),
                other => panic!("`{sql}` must fail on an append-only audit log, got {other:?}"),
            }
        }
        assert_eq!(raw.count("audit_log", &[]).await, rows, "no row deleted");
        assert_eq!(
            raw.audit_rows(&account.id, action::ACCOUNT_CREATED).await,
            1,
            "no row changed"
        );
        // Appending still works.
        raw.execute(&format!(
            "INSERT INTO audit_log (id, account_id, actor_type, actor_id, action, details, created_at) \
             VALUES ('aud_raw', '{}', 'system', 'easel', 'test.raw', '{{}}', 1)",
            account.id
        ))
        .await
        .unwrap_or_else(|e| panic!("insert into audit_log: {e}"));
        raw.close().await;
    }
);

both_backends!(
    audit_entries_are_listed_per_account_newest_first,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (a, _) = support::account(&store, "audit-a@example.com").await;
        let (b, _) = support::account(&store, "audit-b@example.com").await;
        // Entries stamped a millisecond apart so their ULIDs sort in time order.
        let mut ids = Vec::new();
        for n in 0..4 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            let audit = support::audit().with("n", n);
            ids.push(audit.id.clone());
            store
                .append_audit(
                    Some(&a.id),
                    action::OPERATOR_LOGIN_FAILED,
                    ("operator", "op_x"),
                    audit,
                )
                .await
                .unwrap_or_else(|e| panic!("append_audit: {e}"));
        }
        let global = support::audit();
        let global_id = global.id.clone();
        store
            .append_audit(
                None,
                action::OPERATOR_LOGIN_FAILED,
                ("operator", "admin"),
                global,
            )
            .await
            .unwrap_or_else(|e| panic!("append_audit without account: {e}"));

        // a: account.created + 4 appended; the store returns limit + 1 rows.
        let page = store
            .list_audit(Some(&a.id), Page::first(2))
            .await
            .unwrap_or_else(|e| panic!("list_audit: {e}"));
        let got: Vec<&str> = page.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(got, vec![ids[3].as_str(), ids[2].as_str(), ids[1].as_str()]);
        let first = &page[0];
        assert_eq!(first.account_id.as_deref(), Some(a.id.as_str()));
        assert_eq!(first.actor_type, ActorType::Operator);
        assert_eq!(first.actor_id, "cli");
        assert_eq!(first.action, action::OPERATOR_LOGIN_FAILED);
        assert_eq!(first.target_type.as_deref(), Some("operator"));
        assert_eq!(first.target_id.as_deref(), Some("op_x"));
        assert_eq!(first.details, serde_json::json!({"n": 3}));
        let next = store
            .list_audit(
                Some(&a.id),
                Page {
                    limit: 2,
                    starting_after: Some(ids[2].clone()),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("list_audit page 2: {e}"));
        let got: Vec<&str> = next.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            got,
            vec![
                action::OPERATOR_LOGIN_FAILED,
                action::OPERATOR_LOGIN_FAILED,
                action::ACCOUNT_CREATED
            ]
        );
        assert_eq!(next[0].id, ids[1]);

        // b sees only its own entry; `None` sees everything, global entries included.
        let of_b = store
            .list_audit(Some(&b.id), Page::first(100))
            .await
            .unwrap_or_else(|e| panic!("list_audit b: {e}"));
        assert_eq!(of_b.len(), 1);
        assert_eq!(of_b[0].action, action::ACCOUNT_CREATED);
        let all = store
            .list_audit(None, Page::first(100))
            .await
            .unwrap_or_else(|e| panic!("list_audit all: {e}"));
        assert_eq!(all.len(), 7);
        assert!(
            all.iter()
                .any(|e| e.id == global_id && e.account_id.is_none())
        );
    }
);
