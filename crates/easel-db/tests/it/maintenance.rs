//! Maintenance windows: announcing one tells every account that is not terminated (an
//! event in both modes) in the same transaction as the window and its audit entry; lists
//! show windows not over or canceled; canceling works once.

use easel_core::audit::action;
use easel_core::ids::IdKind;
use easel_db::{Maintenance, StateChange};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

fn window(starts_at: i64, ends_at: i64) -> Maintenance {
    Maintenance {
        id: IdKind::Maintenance.generate(),
        starts_at,
        ends_at,
        message: "Database upgrade".into(),
        components: vec!["api".into(), "database".into()],
        emergency: false,
        created_at: 0,
        canceled_at: None,
    }
}

both_backends!(
    a_window_tells_every_open_account_and_is_listed_until_it_ends,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (open, _) = support::account(&store, "open@maint.test").await;
        let (gone, _) = support::account(&store, "gone@maint.test").await;
        store
            .change_account_state(&gone.id, StateChange::Terminate, support::audit())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut raw = Raw::connect(&db).await;
        let planned = window(10_000, 20_000);
        let told = store
            .announce_maintenance(
                planned.clone(),
                serde_json::json!({"id": planned.id}),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(told, 1);
        let events = |account: &str| {
            format!("events WHERE account_id = '{account}' AND type = 'maintenance.scheduled'")
        };
        assert_eq!(raw.count(&events(&open.id), &[]).await, 2, "test and live");
        assert_eq!(raw.count(&events(&gone.id), &[]).await, 0);
        assert_eq!(
            raw.count(
                "audit_log WHERE account_id IS NULL AND action = $1",
                &[action::MAINTENANCE_ANNOUNCED]
            )
            .await,
            1
        );
        let later = window(30_000, 40_000);
        store
            .announce_maintenance(later.clone(), serde_json::json!({}), support::audit())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let listed = store
            .list_maintenance(0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            listed.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
            [planned.id.as_str(), later.id.as_str()]
        );
        assert_eq!(listed[0].components, ["api", "database"]);
        // Over: no longer listed, no longer cancelable.
        let after_first = store
            .list_maintenance(20_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after_first.len(), 1);
        let mut late = support::audit();
        late.now = 25_000;
        support::assert_not_found(store.cancel_maintenance(&planned.id, late.clone()).await);
        let canceled = store
            .cancel_maintenance(&later.id, late.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(canceled.canceled_at, Some(25_000));
        support::assert_not_found(store.cancel_maintenance(&later.id, late).await);
        assert!(
            store
                .list_maintenance(0)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .all(|w| w.id != later.id)
        );
    }
);
