//! The store's key and balance events: `key.created|rotated|revoked` in the transaction of
//! the change, on every path (one `key.revoked` per key for bulk revocations), carrying the
//! server's view of the key; `key.expiring` once per key however many sweeps race;
//! `credits.low` once per crossing of the live threshold.

use std::sync::Arc;

use easel_core::credits::LedgerType;
use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::models::ModelKind;
use easel_core::roles::Role;
use easel_core::time::now_ms;
use easel_db::{ApiKey, Event, NewCredit, NewGeneration, NewJob, Page, StateChange, Store};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

/// The server's view stand-in: marks the data as built by it, and leaks nothing else.
fn view(store: &Arc<dyn Store>) {
    store.set_key_view(Arc::new(|k: &ApiKey| {
        serde_json::json!({"object": "api_key", "id": k.id, "livemode": k.mode.is_live(),
            "previous_secret_expires_at": k.previous_secret_expires_at.map(|ms| ms / 1000),
            "view": "server"})
    }));
}

/// An account's events of `event_type` in `mode`, oldest first.
async fn events(store: &Arc<dyn Store>, account: &str, mode: Mode, event_type: &str) -> Vec<Event> {
    let mut all = store
        .list_events(account, mode, Page::first(100))
        .await
        .unwrap_or_else(|e| panic!("list_events: {e}"));
    all.retain(|e| e.event_type == event_type);
    all.reverse();
    all
}

fn ids(events: &[Event]) -> Vec<String> {
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e.data["id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

both_backends!(
    key_changes_are_told_once_in_the_keys_mode_as_the_server_shows_it,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        view(&store);
        let (account, owner) = support::account(&store, "key-events@acme.test").await;
        let (key, hash) = support::key(&store, &account.id, &owner.id, Mode::Live).await;

        let created = events(&store, &account.id, Mode::Live, "key.created").await;
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].data["id"], key.id.as_str());
        assert_eq!(
            created[0].data["view"], "server",
            "the server's view of the key"
        );
        assert!(
            !created[0].data.to_string().contains(&hash),
            "never the secret's hash"
        );
        assert!(
            events(&store, &account.id, Mode::Test, "key.created")
                .await
                .is_empty(),
            "in the key's mode only"
        );

        let now = now_ms();
        let rotation = support::rotation(Mode::Live, 3_600_000, now);
        let new_hash = rotation.secret_hash.clone();
        store
            .rotate_key(&account.id, None, &key.id, rotation, support::audit())
            .await
            .unwrap_or_else(|e| panic!("rotate_key: {e}"));
        let rotated = events(&store, &account.id, Mode::Live, "key.rotated").await;
        assert_eq!(rotated.len(), 1);
        assert_eq!(
            rotated[0].data["previous_secret_expires_at"],
            (now + 3_600_000) / 1000,
            "when the old secret stops working"
        );
        assert!(!rotated[0].data.to_string().contains(&new_hash));

        for _ in 0..2 {
            store
                .revoke_key(&account.id, Some(Mode::Live), &key.id, support::audit())
                .await
                .unwrap_or_else(|e| panic!("revoke_key: {e}"));
        }
        let revoked = events(&store, &account.id, Mode::Live, "key.revoked").await;
        assert_eq!(revoked.len(), 1, "revoking a revoked key tells nothing");
        assert_eq!(revoked[0].data["reason"], "requested");
        assert_eq!(revoked[0].data["view"], "server");
    }
);

both_backends!(
    a_store_without_the_servers_view_still_writes_no_secret,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "no-view@acme.test").await;
        let (key, _) = support::key(&store, &account.id, &owner.id, Mode::Test).await;
        let created = events(&store, &account.id, Mode::Test, "key.created").await;
        assert_eq!(
            created[0].data,
            serde_json::json!({"object": "api_key", "id": key.id, "name": key.name,
                "livemode": false})
        );
    }
);

both_backends!(
    bulk_revocations_tell_each_revoked_key_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        view(&store);
        let (account, owner) = support::account(&store, "bulk@acme.test").await;
        let dev = store
            .add_member(
                &account.id,
                support::new_member("dev@acme.test", Role::Developer),
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("add_member: {e}"));
        let (dev_live, _) = support::key(&store, &account.id, &dev.user_id, Mode::Live).await;
        let (dev_test, _) = support::key(&store, &account.id, &dev.user_id, Mode::Test).await;
        let (owner_live, _) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        let (owner_gone, _) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        store
            .revoke_key(&account.id, None, &owner_gone.id, support::audit())
            .await
            .unwrap_or_else(|e| panic!("revoke_key: {e}"));

        store
            .remove_member(&account.id, &dev.user_id, support::audit())
            .await
            .unwrap_or_else(|e| panic!("remove_member: {e}"));
        let live = events(&store, &account.id, Mode::Live, "key.revoked").await;
        let test = events(&store, &account.id, Mode::Test, "key.revoked").await;
        assert_eq!(ids(&test), vec![dev_test.id.clone()]);
        assert_eq!(test[0].data["reason"], "member_removed");
        let mut expected = vec![dev_live.id.clone(), owner_gone.id.clone()];
        expected.sort();
        assert_eq!(ids(&live), expected);

        store
            .change_account_state(&account.id, StateChange::Terminate, support::audit())
            .await
            .unwrap_or_else(|e| panic!("terminate: {e}"));
        let live = events(&store, &account.id, Mode::Live, "key.revoked").await;
        assert_eq!(live.len(), 3, "only the key still working is told again");
        let last = &live[2];
        assert_eq!(last.data["id"], owner_live.id.as_str());
        assert_eq!(last.data["reason"], "account_terminated");
        let test = events(&store, &account.id, Mode::Test, "key.revoked").await;
        assert_eq!(test.len() + live.len(), 4, "four keys, four events");
    }
);

both_backends!(
    an_expiring_key_is_told_once_even_by_racing_sweeps,
    |db: TestDb| async move {
        // Two stores on one database are two nodes sweeping at the same moment.
        let stores = [support::store(&db).await, support::connect(&db).await];
        for s in &stores {
            view(s);
        }
        let store = &stores[0];
        let (account, owner) = support::account(store, "expiring@acme.test").await;
        let now = now_ms();
        let day = 86_400_000;
        let mut soon = support::new_key_at(&account.id, &owner.id, Mode::Live, now);
        soon.expires_at = Some(now + 2 * day);
        let (soon, _) = support::create_key(store, soon).await;
        let mut later = support::new_key_at(&account.id, &owner.id, Mode::Live, now);
        later.expires_at = Some(now + 30 * day);
        support::create_key(store, later).await;
        let mut never = support::new_key_at(&account.id, &owner.id, Mode::Test, now);
        never.expires_at = None;
        support::create_key(store, never).await;
        let mut revoked = support::new_key_at(&account.id, &owner.id, Mode::Test, now);
        revoked.expires_at = Some(now + day);
        let (revoked, _) = support::create_key(store, revoked).await;
        store
            .revoke_key(&account.id, None, &revoked.id, support::audit())
            .await
            .unwrap_or_else(|e| panic!("revoke_key: {e}"));

        let by = now + 7 * day;
        let mut told = 0;
        for _ in 0..3 {
            let sweeps: Vec<_> = stores
                .iter()
                .map(|s| {
                    let s = Arc::clone(s);
                    tokio::spawn(async move { s.notify_expiring_keys(now, by, 100).await })
                })
                .collect();
            for sweep in sweeps {
                told += sweep
                    .await
                    .unwrap_or_else(|e| panic!("sweep panicked: {e}"))
                    .unwrap_or_else(|e| panic!("notify_expiring_keys: {e}"));
            }
        }
        assert_eq!(told, 1, "one key, told once between every sweep");
        let expiring = events(store, &account.id, Mode::Live, "key.expiring").await;
        assert_eq!(ids(&expiring), vec![soon.id.clone()]);
        assert_eq!(expiring[0].data["view"], "server");
        assert!(
            events(store, &account.id, Mode::Test, "key.expiring")
                .await
                .is_empty(),
            "neither keys that never expire nor revoked ones"
        );
        let mut raw = Raw::connect(&db).await;
        let marked = raw
            .count(
                "api_keys WHERE id = $1 AND expiring_notified_at IS NOT NULL",
                &[&soon.id],
            )
            .await;
        assert_eq!(marked, 1);
        raw.close().await;
    }
);

fn generation(account: &str, key: &str, mode: Mode, credits: i64, now: i64) -> NewGeneration {
    NewGeneration {
        id: IdKind::Generation.generate(),
        account_id: account.into(),
        api_key_id: key.into(),
        mode,
        model: "sandbox-image".into(),
        kind: ModelKind::Image,
        input: serde_json::json!({"prompt": "a red fox"}),
        end_user: None,
        metadata: None,
        licence: "non_commercial".into(),
        credits_estimated: credits,
        spend_cap: None,
        max_open: None,
        job: NewJob {
            id: IdKind::Job.generate(),
            queue: "generation:sandbox-image".into(),
            kind: "run_generation".into(),
            payload: "{}".into(),
            max_attempts: 3,
            run_at: now,
            expires_at: Some(now + 600_000),
            now,
        },
    }
}

async fn grant(store: &Arc<dyn Store>, account: &str, mode: Mode, amount: i64) {
    store
        .add_credits(NewCredit {
            account_id: account.into(),
            mode,
            entry_type: LedgerType::Grant,
            amount,
            reference: None,
            reason: None,
            audit: support::audit(),
        })
        .await
        .unwrap_or_else(|e| panic!("add_credits: {e}"));
}

both_backends!(
    credits_low_is_told_once_per_crossing_of_the_live_threshold,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        store.set_low_balance_credits(1000);
        let (account, owner) = support::account(&store, "low@acme.test").await;
        let (key, _) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        let (test_key, _) = support::key(&store, &account.id, &owner.id, Mode::Test).await;
        grant(&store, &account.id, Mode::Live, 1500).await;
        grant(&store, &account.id, Mode::Test, 1500).await;
        let now = now_ms();
        let create = |mode: Mode, credits: i64| {
            let key = if mode.is_live() {
                &key.id
            } else {
                &test_key.id
            };
            generation(&account.id, key, mode, credits, now)
        };
        let low = || events(&store, &account.id, Mode::Live, "credits.low");

        let first = store
            .create_generation(create(Mode::Live, 400), now)
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        assert!(low().await.is_empty(), "1100 available: not below");
        store
            .create_generation(create(Mode::Live, 200), now)
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        let told = low().await;
        assert_eq!(told.len(), 1, "1500 → 900 crossed");
        assert_eq!(
            (
                &told[0].data["available"],
                &told[0].data["held"],
                &told[0].data["threshold"]
            ),
            (
                &serde_json::json!(900),
                &serde_json::json!(600),
                &serde_json::json!(1000)
            )
        );
        assert_eq!(told[0].data["available_eur"], "0.900");
        store
            .create_generation(create(Mode::Live, 100), now)
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        store
            .charge_invalid_input_fee(
                &account.id,
                Mode::Live,
                50,
                "req_1",
                &easel_core::audit::Actor::system(),
                now,
            )
            .await
            .unwrap_or_else(|e| panic!("fee: {e}"));
        assert_eq!(low().await.len(), 1, "still below: no second event");
        for _ in 0..4 {
            store
                .create_generation(create(Mode::Test, 300), now)
                .await
                .unwrap_or_else(|e| panic!("create test: {e}"));
        }
        assert!(
            events(&store, &account.id, Mode::Test, "credits.low")
                .await
                .is_empty(),
            "test mode is never told"
        );

        // Back above (credits added), then below again: a second crossing.
        grant(&store, &account.id, Mode::Live, 500).await;
        store
            .cancel_generation(&account.id, Mode::Live, &first.id, now)
            .await
            .unwrap_or_else(|e| panic!("cancel: {e}"));
        assert_eq!(low().await.len(), 1, "going up tells nothing");
        store
            .charge_invalid_input_fee(
                &account.id,
                Mode::Live,
                700,
                "req_2",
                &easel_core::audit::Actor::system(),
                now,
            )
            .await
            .unwrap_or_else(|e| panic!("fee: {e}"));
        let told = low().await;
        assert_eq!(
            told.len(),
            2,
            "1650 → 950: an invalid-input fee crossed again"
        );
        assert_eq!(told[1].data["available"], 950);
    }
);

both_backends!(
    racing_holds_on_two_nodes_cross_the_threshold_once,
    |db: TestDb| async move {
        let stores = [support::store(&db).await, support::connect(&db).await];
        for s in &stores {
            s.set_low_balance_credits(1000);
        }
        let (account, owner) = support::account(&stores[0], "race-low@acme.test").await;
        let (key, _) = support::key(&stores[0], &account.id, &owner.id, Mode::Live).await;
        grant(&stores[0], &account.id, Mode::Live, 2000).await;
        let now = now_ms();
        let tasks: Vec<_> = (0..60)
            .map(|i| {
                let store = Arc::clone(&stores[i % 2]);
                let new = generation(&account.id, &key.id, Mode::Live, 40, now);
                tokio::spawn(async move { store.create_generation(new, now).await })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            if task
                .await
                .unwrap_or_else(|e| panic!("task panicked: {e}"))
                .is_ok()
            {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 50, "2000 credits cover exactly 50 holds of 40");
        let told = events(&stores[0], &account.id, Mode::Live, "credits.low").await;
        assert_eq!(told.len(), 1, "{told:?}");
    }
);
