//! Idempotency keys: one claim wins among concurrent requests, answers replay, other
//! bodies are refused, claims of dead requests and old rows lapse.

use std::sync::Arc;

use easel_core::mode::Mode;
use easel_db::{IdempotencyBegin, IdempotencyKey, IdempotencyTimes, Store};
use easel_test_utils::{TestDb, both_backends};

use crate::support;

const T0: i64 = 1_800_000_000_000;

fn times(now: i64) -> IdempotencyTimes {
    IdempotencyTimes {
        now,
        forget_before: now - 86_400_000,
        locked_until: now + 75_000,
    }
}

fn key(account_id: &str, mode: Mode, key: &str) -> IdempotencyKey {
    IdempotencyKey {
        account_id: account_id.into(),
        mode,
        key: key.into(),
    }
}

both_backends!(
    one_of_many_concurrent_claims_wins,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "idem@example.com").await;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let store: Arc<dyn Store> = Arc::clone(&store);
            let k = key(&account.id, Mode::Live, "same");
            tasks.push(tokio::spawn(async move {
                store.begin_idempotent(&k, "h1", times(T0)).await
            }));
        }
        let mut started = 0;
        for task in tasks {
            match task.await.unwrap_or_else(|e| panic!("{e}")) {
                Ok(IdempotencyBegin::Started) => started += 1,
                Ok(IdempotencyBegin::InFlight) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(started, 1);
    }
);

both_backends!(
    answers_replay_and_other_bodies_are_refused,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "idem@example.com").await;
        let k = key(&account.id, Mode::Live, "k");
        assert_eq!(
            store.begin_idempotent(&k, "h1", times(T0)).await.ok(),
            Some(IdempotencyBegin::Started)
        );
        store
            .finish_idempotent(&k, 202, "{\"id\":1}")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.begin_idempotent(&k, "h1", times(T0 + 1)).await.ok(),
            Some(IdempotencyBegin::Replay {
                status: 202,
                response: "{\"id\":1}".into()
            })
        );
        assert_eq!(
            store.begin_idempotent(&k, "h2", times(T0 + 1)).await.ok(),
            Some(IdempotencyBegin::Mismatch)
        );
        // The same key in the other mode is another key.
        let test = key(&account.id, Mode::Test, "k");
        assert_eq!(
            store
                .begin_idempotent(&test, "h2", times(T0 + 1))
                .await
                .ok(),
            Some(IdempotencyBegin::Started)
        );
        // A day later the key is forgotten.
        assert_eq!(
            store
                .begin_idempotent(&k, "h2", times(T0 + 86_400_001))
                .await
                .ok(),
            Some(IdempotencyBegin::Started)
        );
    }
);

both_backends!(
    released_and_abandoned_claims_can_be_taken_again,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "idem@example.com").await;
        let k = key(&account.id, Mode::Live, "k");
        assert_eq!(
            store.begin_idempotent(&k, "h1", times(T0)).await.ok(),
            Some(IdempotencyBegin::Started)
        );
        store
            .release_idempotent(&k)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.begin_idempotent(&k, "h1", times(T0 + 1)).await.ok(),
            Some(IdempotencyBegin::Started)
        );
        assert_eq!(
            store.begin_idempotent(&k, "h1", times(T0 + 2)).await.ok(),
            Some(IdempotencyBegin::InFlight)
        );
        // The node holding it died: past its lock, the key is free again.
        assert_eq!(
            store
                .begin_idempotent(&k, "h1", times(T0 + 75_002))
                .await
                .ok(),
            Some(IdempotencyBegin::Started)
        );
        // Releasing never removes a finished answer.
        store
            .finish_idempotent(&k, 200, "{}")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .release_idempotent(&k)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            store.begin_idempotent(&k, "h1", times(T0 + 75_003)).await,
            Ok(IdempotencyBegin::Replay { .. })
        ));
    }
);
