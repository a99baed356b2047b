//! API keys: account and mode isolation, pagination, rotation with a grace period and
//! idempotent revocation.

use std::time::Duration;

use easel_core::audit::action;
use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::time::now_ms;
use easel_db::Page;
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

both_backends!(
    keys_are_confined_to_their_account_and_mode,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (a, owner_a) = support::account(&store, "key-a@acme.test").await;
        let (b, owner_b) = support::account(&store, "key-b@acme.test").await;
        let new = support::new_key(&a.id, &owner_a.id, Mode::Test);
        let expected = new.clone();
        let (test_key, _) = support::create_key(&store, new).await;
        let (live_key, _) = support::key(&store, &a.id, &owner_a.id, Mode::Live).await;
        let (b_key, _) = support::key(&store, &b.id, &owner_b.id, Mode::Test).await;

        // What was stored comes back.
        assert_eq!(test_key.id, expected.id);
        assert_eq!(test_key.account_id, a.id);
        assert_eq!(test_key.user_id, owner_a.id);
        assert_eq!(test_key.mode, Mode::Test);
        assert_eq!(test_key.name, expected.name);
        assert_eq!(test_key.scopes, expected.scopes);
        assert_eq!(test_key.allowed_models, expected.allowed_models);
        assert_eq!(test_key.display_prefix, expected.display_prefix);
        assert_eq!(test_key.expires_at, expected.expires_at);
        assert_eq!(test_key.created_at, expected.now);
        assert_eq!(
            (
                test_key.revoked_at,
                test_key.rotated_at,
                test_key.last_used_at
            ),
            (None, None, None)
        );
        assert_eq!(test_key.previous_secret_expires_at, None);

        let get = |account: &str, mode: Option<Mode>, id: &str| {
            let (store, account, id) = (store.clone(), account.to_string(), id.to_string());
            async move { store.get_key(&account, mode, &id).await }
        };
        for mode in [None, Some(Mode::Test)] {
            let got = get(&a.id, mode, &test_key.id)
                .await
                .unwrap_or_else(|e| panic!("get_key {mode:?}: {e}"));
            assert_eq!(got, test_key);
        }
        support::assert_not_found(get(&a.id, Some(Mode::Live), &test_key.id).await);
        support::assert_not_found(get(&a.id, Some(Mode::Test), &live_key.id).await);
        support::assert_not_found(get(&b.id, None, &test_key.id).await);
        support::assert_not_found(get(&b.id, Some(Mode::Test), &test_key.id).await);
        support::assert_not_found(get(&a.id, None, &b_key.id).await);
        support::assert_not_found(get(&a.id, None, &IdKind::ApiKey.generate()).await);

        let ids = |mode: Option<Mode>, account: &str| {
            let (store, account) = (store.clone(), account.to_string());
            async move {
                store
                    .list_keys(&account, mode, Page::first(10))
                    .await
                    .unwrap_or_else(|e| panic!("list_keys: {e}"))
                    .into_iter()
                    .map(|k| k.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            ids(Some(Mode::Test), &a.id).await,
            vec![test_key.id.clone()]
        );
        assert_eq!(
            ids(Some(Mode::Live), &a.id).await,
            vec![live_key.id.clone()]
        );
        assert_eq!(ids(None, &a.id).await.len(), 2);
        assert_eq!(ids(None, &b.id).await, vec![b_key.id.clone()]);
        assert!(ids(Some(Mode::Live), &b.id).await.is_empty());

        // Changes through the wrong account or mode are not found and change nothing.
        let mut raw = Raw::connect(&db).await;
        let before = raw.table_counts().await;
        support::assert_not_found(
            store
                .revoke_key(&b.id, None, &test_key.id, support::audit())
                .await,
        );
        support::assert_not_found(
            store
                .revoke_key(&a.id, Some(Mode::Live), &test_key.id, support::audit())
                .await,
        );
        support::assert_not_found(
            store
                .rotate_key(
                    &b.id,
                    None,
                    &test_key.id,
                    support::rotation(Mode::Test, 1000, now_ms()),
                    support::audit(),
                )
                .await,
        );
        support::assert_not_found(
            store
                .rotate_key(
                    &a.id,
                    Some(Mode::Live),
                    &test_key.id,
                    support::rotation(Mode::Test, 1000, now_ms()),
                    support::audit(),
                )
                .await,
        );
        assert_eq!(raw.table_counts().await, before);
        assert_eq!(
            get(&a.id, None, &test_key.id)
                .await
                .unwrap_or_else(|e| panic!("get_key: {e}")),
            test_key
        );
        // Operator tools find a key's account by id alone.
        assert_eq!(
            store
                .key_account(&b_key.id)
                .await
                .unwrap_or_else(|e| panic!("key_account: {e}")),
            b.id
        );
        support::assert_not_found(store.key_account(&IdKind::ApiKey.generate()).await);
        assert_eq!(raw.audit_rows(&a.id, action::KEY_CREATED).await, 2);
        assert_eq!(raw.audit_rows(&b.id, action::KEY_CREATED).await, 1);
        raw.close().await;
    }
);

both_backends!(
    list_keys_is_newest_first_with_a_lookahead_row,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "many-keys@acme.test").await;
        let mut ids = Vec::new();
        for n in 0..5 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let mode = if n % 2 == 0 { Mode::Live } else { Mode::Test };
            let (key, _) = support::key(&store, &account.id, &owner.id, mode).await;
            ids.push(key.id);
        }
        ids.reverse();
        let list = |mode: Option<Mode>, limit: u32, after: Option<&String>| {
            let store = store.clone();
            let account = account.id.clone();
            let page = Page {
                limit,
                starting_after: after.cloned(),
            };
            async move {
                store
                    .list_keys(&account, mode, page)
                    .await
                    .unwrap_or_else(|e| panic!("list_keys: {e}"))
                    .into_iter()
                    .map(|k| k.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(list(None, 2, None).await, ids[0..3]);
        assert_eq!(list(None, 2, Some(&ids[1])).await, ids[2..5]);
        assert_eq!(list(None, 2, Some(&ids[3])).await, ids[4..5]);
        // ids (newest first) are live, test, live, test, live.
        assert_eq!(
            list(Some(Mode::Live), 1, None).await,
            vec![ids[0].clone(), ids[2].clone()]
        );
        assert_eq!(list(Some(Mode::Live), 1, Some(&ids[2])).await, ids[4..5]);
        assert_eq!(
            list(Some(Mode::Test), 5, None).await,
            vec![ids[1].clone(), ids[3].clone()]
        );
    }
);

both_backends!(
    rotation_keeps_the_old_secret_for_the_grace_period,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "rotate@acme.test").await;
        let (key, first_hash) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        let mut raw = Raw::connect(&db).await;

        let grace = 3_600_000;
        let now = now_ms();
        let rotation = support::rotation(Mode::Live, grace, now);
        let (second_hash, second_prefix) = (
            rotation.secret_hash.clone(),
            rotation.display_prefix.clone(),
        );
        let rotated = store
            .rotate_key(
                &account.id,
                Some(Mode::Live),
                &key.id,
                rotation,
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("rotate_key: {e}"));
        assert_eq!(rotated.id, key.id);
        assert_eq!(rotated.rotated_at, Some(now));
        assert_eq!(
            rotated.display_prefix, second_prefix,
            "the listing shows the new secret"
        );
        assert_eq!(rotated.previous_secret_expires_at, Some(now + grace));
        assert_eq!(rotated.revoked_at, None);

        let secret_expiry = |hash: String| {
            let store = store.clone();
            async move {
                store
                    .find_credential(&hash)
                    .await
                    .unwrap_or_else(|e| panic!("find_credential: {e}"))
                    .unwrap_or_else(|| panic!("no credential for {hash}"))
                    .secret_expires_at
            }
        };
        assert_eq!(secret_expiry(first_hash.clone()).await, Some(now + grace));
        assert_eq!(secret_expiry(second_hash.clone()).await, None);
        assert_eq!(raw.audit_rows(&account.id, action::KEY_ROTATED).await, 1);
        let entries = store
            .list_audit(Some(&account.id), Page::first(1))
            .await
            .unwrap_or_else(|e| panic!("list_audit: {e}"));
        assert_eq!(entries[0].action, action::KEY_ROTATED);
        assert_eq!(
            entries[0].details["previous_secret_expires_at"],
            serde_json::json!(now + grace)
        );

        // Rotating again with no grace ends both older secrets at once, and never extends
        // an earlier, shorter expiry.
        let later = now + 1_000;
        let rotation = support::rotation(Mode::Live, 0, later);
        let third_hash = rotation.secret_hash.clone();
        let again = store
            .rotate_key(&account.id, None, &key.id, rotation, support::audit())
            .await
            .unwrap_or_else(|e| panic!("second rotate_key: {e}"));
        assert_eq!(again.rotated_at, Some(later));
        assert_eq!(secret_expiry(first_hash.clone()).await, Some(later));
        assert_eq!(secret_expiry(second_hash.clone()).await, Some(later));
        assert_eq!(secret_expiry(third_hash.clone()).await, None);
        let rotation = support::rotation(Mode::Live, grace, later + 1_000);
        store
            .rotate_key(&account.id, None, &key.id, rotation, support::audit())
            .await
            .unwrap_or_else(|e| panic!("third rotate_key: {e}"));
        assert_eq!(secret_expiry(first_hash).await, Some(later));
        assert_eq!(secret_expiry(third_hash).await, Some(later + 1_000 + grace));
        assert_eq!(
            raw.count("api_key_secrets WHERE key_id = $1", &[&key.id])
                .await,
            4
        );
        raw.close().await;
    }
);

both_backends!(a_revoked_key_cannot_be_rotated, |db: TestDb| async move {
    let store = support::store(&db).await;
    let (account, owner) = support::account(&store, "revoked-rotate@acme.test").await;
    let (key, _) = support::key(&store, &account.id, &owner.id, Mode::Test).await;
    let revoked = store
        .revoke_key(&account.id, Some(Mode::Test), &key.id, support::audit())
        .await
        .unwrap_or_else(|e| panic!("revoke_key: {e}"));
    let rotation = support::rotation(Mode::Test, 60_000, now_ms());
    let new_hash = rotation.secret_hash.clone();
    support::assert_rule(
        store
            .rotate_key(&account.id, None, &key.id, rotation, support::audit())
            .await,
        "api_key_revoked",
    );
    assert!(
        store
            .find_credential(&new_hash)
            .await
            .unwrap_or_else(|e| panic!("find_credential: {e}"))
            .is_none(),
        "a refused rotation stored its secret"
    );
    let after = store
        .get_key(&account.id, None, &key.id)
        .await
        .unwrap_or_else(|e| panic!("get_key: {e}"));
    assert_eq!(after, revoked);
    let mut raw = Raw::connect(&db).await;
    assert_eq!(raw.audit_rows(&account.id, action::KEY_ROTATED).await, 0);
    raw.close().await;
});

both_backends!(
    revoking_twice_keeps_the_first_revocation,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "revoke@acme.test").await;
        let (key, hash) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        let audit = support::audit();
        let at = audit.now;
        let first = store
            .revoke_key(&account.id, Some(Mode::Live), &key.id, audit)
            .await
            .unwrap_or_else(|e| panic!("revoke_key: {e}"));
        assert_eq!(first.revoked_at, Some(at));
        let second = store
            .revoke_key(&account.id, None, &key.id, support::audit_at(at + 60_000))
            .await
            .unwrap_or_else(|e| panic!("second revoke_key: {e}"));
        assert_eq!(second.revoked_at, Some(at));
        assert_eq!(second, first);
        let mut raw = Raw::connect(&db).await;
        assert_eq!(raw.audit_rows(&account.id, action::KEY_REVOKED).await, 1);
        // The secret still resolves, so authentication can say "revoked" rather than "unknown".
        let credential = store
            .find_credential(&hash)
            .await
            .unwrap_or_else(|e| panic!("find_credential: {e}"))
            .unwrap_or_else(|| panic!("revoked key's credential is gone"));
        assert_eq!(credential.key.revoked_at, Some(at));
        raw.close().await;
    }
);
