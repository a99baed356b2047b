//! Leak reports: a reported secret revokes (or flags) its key exactly once, with one audit
//! entry and one `key.revoked` event, however often or concurrently it is reported; unknown
//! and dead secrets change nothing.

use std::sync::Arc;

use easel_core::api_key;
use easel_core::audit::action;
use easel_core::mode::Mode;
use easel_core::time::now_ms;
use easel_db::{ApiKey, LeakAction, LeakOutcome, LeakReport, Store};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

fn report(hash: &str, action: LeakAction) -> LeakReport {
    LeakReport {
        secret_hash: hash.to_string(),
        url: "https://github.com/acme/app/blob/main/.env".into(),
        source: Some("content".into()),
        action,
    }
}

/// The store call as the server makes it, with a small snapshot of the key as event data.
async fn leak(store: &Arc<dyn Store>, hash: &str, action: LeakAction) -> LeakOutcome {
    let snapshot = |k: &ApiKey| serde_json::json!({"object": "api_key", "id": k.id});
    store
        .report_leaked_key(report(hash, action), support::audit(), &snapshot)
        .await
        .unwrap_or_else(|e| panic!("report_leaked_key: {e}"))
}

async fn revoked_events(raw: &mut Raw, account_id: &str) -> i64 {
    raw.count(
        "events WHERE account_id = $1 AND type = 'key.revoked'",
        &[account_id],
    )
    .await
}

both_backends!(
    a_leaked_key_is_revoked_once_with_one_audit_entry_and_one_event,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let mut raw = Raw::connect(&db).await;
        let (account, owner) = support::account(&store, "leak@acme.test").await;
        let (key, hash) = support::key(&store, &account.id, &owner.id, Mode::Live).await;

        let LeakOutcome::Acted(revoked) = leak(&store, &hash, LeakAction::Revoke).await else {
            panic!("the first report must act");
        };
        assert_eq!(revoked.id, key.id);
        assert!(revoked.revoked_at.is_some());
        assert_eq!(revoked.revoked_reason.as_deref(), Some("leaked"));
        let seen = revoked
            .leak
            .clone()
            .unwrap_or_else(|| panic!("no leak recorded"));
        assert_eq!(seen.url, "https://github.com/acme/app/blob/main/.env");
        assert_eq!(seen.source.as_deref(), Some("content"));
        // What the API reads back is what was stored.
        let got = store
            .get_key(&account.id, Some(Mode::Live), &key.id)
            .await
            .unwrap_or_else(|e| panic!("get_key: {e}"));
        assert_eq!(got, revoked);
        let credential = store
            .find_credential(&hash)
            .await
            .unwrap_or_else(|e| panic!("find_credential: {e}"))
            .unwrap_or_else(|| panic!("the secret is still known"));
        assert!(
            credential.key.revoked_at.is_some(),
            "auth sees the revocation"
        );

        // Reported again: nothing more happens.
        assert!(matches!(
            leak(&store, &hash, LeakAction::Revoke).await,
            LeakOutcome::Unchanged(_)
        ));
        assert_eq!(raw.audit_rows(&account.id, action::KEY_REVOKED).await, 1);
        assert_eq!(revoked_events(&mut raw, &account.id).await, 1);
        let with_reason = raw
            .count(
                "events WHERE account_id = $1 AND type = 'key.revoked' AND mode = 'live' \
                 AND data LIKE '%\"reason\":\"leaked\"%' AND data LIKE $2",
                &[&account.id, &format!("%{}%", key.id)],
            )
            .await;
        assert_eq!(with_reason, 1, "the event carries the key and the reason");
        let details = raw
            .count(
                "audit_log WHERE account_id = $1 AND action = 'key.revoked' \
                 AND details LIKE '%leaked%' AND details LIKE '%acme/app%'",
                &[&account.id],
            )
            .await;
        assert_eq!(details, 1, "the audit entry says why and where");
        raw.close().await;
    }
);

both_backends!(
    a_key_revoked_by_its_owner_is_not_revoked_again_for_a_leak,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let mut raw = Raw::connect(&db).await;
        let (account, owner) = support::account(&store, "owner-revoked@acme.test").await;
        let (key, hash) = support::key(&store, &account.id, &owner.id, Mode::Test).await;
        store
            .revoke_key(&account.id, None, &key.id, support::audit())
            .await
            .unwrap_or_else(|e| panic!("revoke_key: {e}"));
        let LeakOutcome::Unchanged(same) = leak(&store, &hash, LeakAction::Revoke).await else {
            panic!("a revoked key is not revoked twice");
        };
        assert_eq!(
            same.revoked_reason, None,
            "the owner's revocation stands as it was"
        );
        assert_eq!(raw.audit_rows(&account.id, action::KEY_REVOKED).await, 1);
        assert_eq!(
            revoked_events(&mut raw, &account.id).await,
            1,
            "only the owner's revocation was told"
        );
        raw.close().await;
    }
);

both_backends!(unknown_secrets_change_nothing, |db: TestDb| async move {
    let store = support::store(&db).await;
    let mut raw = Raw::connect(&db).await;
    let (account, owner) = support::account(&store, "unknown@acme.test").await;
    support::key(&store, &account.id, &owner.id, Mode::Live).await;
    let before = raw.table_counts().await;
    let stranger = api_key::generate("vs", Mode::Live);
    for action in [LeakAction::Revoke, LeakAction::Flag] {
        assert_eq!(
            leak(&store, &stranger.hash, action).await,
            LeakOutcome::Unknown
        );
    }
    assert_eq!(raw.table_counts().await, before);
    raw.close().await;
});

both_backends!(
    a_flagged_key_keeps_working_and_is_flagged_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let mut raw = Raw::connect(&db).await;
        let (account, owner) = support::account(&store, "flag@acme.test").await;
        let (_, hash) = support::key(&store, &account.id, &owner.id, Mode::Live).await;

        let LeakOutcome::Acted(flagged) = leak(&store, &hash, LeakAction::Flag).await else {
            panic!("the first report must flag");
        };
        assert_eq!(
            (flagged.revoked_at, flagged.revoked_reason.as_deref()),
            (None, None)
        );
        assert!(flagged.leak.is_some(), "the key carries the report");
        assert!(matches!(
            leak(&store, &hash, LeakAction::Flag).await,
            LeakOutcome::Unchanged(_)
        ));
        assert_eq!(
            raw.audit_rows(&account.id, action::KEY_LEAK_REPORTED).await,
            1
        );
        assert_eq!(raw.audit_rows(&account.id, action::KEY_REVOKED).await, 0);
        assert_eq!(revoked_events(&mut raw, &account.id).await, 0);

        // If the operator switches to revoking, the next report of a flagged key revokes it.
        let LeakOutcome::Acted(revoked) = leak(&store, &hash, LeakAction::Revoke).await else {
            panic!("a flagged key is still revoked by a later revoking report");
        };
        assert_eq!(revoked.revoked_reason.as_deref(), Some("leaked"));
        assert_eq!(revoked_events(&mut raw, &account.id).await, 1);
        raw.close().await;
    }
);

both_backends!(
    a_rotated_out_secret_past_its_grace_revokes_nothing,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, owner) = support::account(&store, "rotated@acme.test").await;
        let (key, old_hash) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        let rotation = support::rotation(Mode::Live, 0, now_ms() - 1000);
        let new_hash = rotation.secret_hash.clone();
        store
            .rotate_key(&account.id, None, &key.id, rotation, support::audit())
            .await
            .unwrap_or_else(|e| panic!("rotate_key: {e}"));
        let LeakOutcome::Unchanged(still) = leak(&store, &old_hash, LeakAction::Revoke).await
        else {
            panic!("a dead secret opens nothing, so it revokes nothing");
        };
        assert_eq!(still.revoked_at, None);
        let LeakOutcome::Acted(revoked) = leak(&store, &new_hash, LeakAction::Revoke).await else {
            panic!("the current secret's leak revokes the key");
        };
        assert!(revoked.revoked_at.is_some());
    }
);

both_backends!(
    concurrent_reports_of_one_secret_act_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let mut raw = Raw::connect(&db).await;
        let (account, owner) = support::account(&store, "race@acme.test").await;
        let (_, hash) = support::key(&store, &account.id, &owner.id, Mode::Live).await;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (store, hash) = (store.clone(), hash.clone());
                tokio::spawn(async move { leak(&store, &hash, LeakAction::Revoke).await })
            })
            .collect();
        let mut acted = 0;
        for task in tasks {
            match task.await.unwrap_or_else(|e| panic!("task: {e}")) {
                LeakOutcome::Acted(_) => acted += 1,
                LeakOutcome::Unchanged(_) => {}
                LeakOutcome::Unknown => panic!("the secret is known"),
            }
        }
        assert_eq!(acted, 1);
        assert_eq!(raw.audit_rows(&account.id, action::KEY_REVOKED).await, 1);
        assert_eq!(revoked_events(&mut raw, &account.id).await, 1);
        raw.close().await;
    }
);
