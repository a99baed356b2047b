//! Calls to deprecated operations: batches add up per account, mode and operation, and the
//! first and last times widen whatever order the batches arrive in.

use easel_core::mode::Mode;
use easel_db::DeprecatedCall;
use easel_test_utils::{TestDb, both_backends};

use crate::support;

fn call(account_id: &str, mode: Mode, calls: i64, first_at: i64, last_at: i64) -> DeprecatedCall {
    DeprecatedCall {
        account_id: account_id.into(),
        mode,
        method: "GET".into(),
        route: "/v1/models".into(),
        calls,
        first_at,
        last_at,
    }
}

both_backends!(
    deprecated_calls_add_up_per_account_mode_and_operation,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "calls@deprecated.test").await;
        let (other, _) = support::account(&store, "other@deprecated.test").await;
        let id = account.id.as_str();
        let record = |batch: Vec<DeprecatedCall>| {
            let store = store.clone();
            async move {
                store
                    .record_deprecated_calls(&batch)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        record(vec![
            call(id, Mode::Test, 3, 500, 900),
            call(&other.id, Mode::Live, 1, 1, 1),
        ])
        .await;
        // A later batch, and a late one from another node that saw earlier calls.
        record(vec![call(id, Mode::Test, 2, 1_000, 1_200)]).await;
        record(vec![
            call(id, Mode::Test, 1, 100, 150),
            call(id, Mode::Live, 4, 700, 800),
        ])
        .await;
        record(Vec::new()).await;
        let calls = store
            .deprecated_calls(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            calls,
            vec![
                call(id, Mode::Test, 6, 100, 1_200),
                call(id, Mode::Live, 4, 700, 800),
            ]
        );
    }
);
