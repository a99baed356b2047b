//! Registering, finding, revoking and touching workers.

use easel_test_utils::{TestDb, both_backends};

use super::*;
use crate::support::Raw;

both_backends!(
    workers_are_registered_found_and_revoked_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let new = new_worker("gpu-1", T0);
        let hash = new.token_hash.clone();
        let prefix = new.display_prefix.clone();
        let w = store
            .create_worker(new, support::audit_at(T0))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (w.name.as_str(), w.display_prefix.as_str(), w.created_at),
            ("gpu-1", prefix.as_str(), T0)
        );
        assert!(w.id.starts_with("wrk_"));
        assert_eq!(w.models, vec!["sdxl".to_string(), "flux-dev".to_string()]);
        assert_eq!(
            (
                w.serving.len(),
                w.version.clone(),
                w.last_seen_at,
                w.revoked_at
            ),
            (0, None, None, None)
        );
        assert_eq!(
            (
                w.jobs_done,
                w.jobs_failed,
                w.leases_lost,
                w.quarantined_until
            ),
            (0, 0, 0, None)
        );
        assert_eq!(get_worker(&store, &w.id).await, w);
        assert_eq!(get_worker(&store, "gpu-1").await, w);
        assert_eq!(
            store
                .find_worker(&hash)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Some(w.clone())
        );
        let stranger = worker_token::generate("vs").hash;
        assert_eq!(
            store
                .find_worker(&stranger)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            None
        );
        support::assert_not_found(store.get_worker("gpu-404").await);

        // Listed by name, whatever the creation order.
        let other = worker(&store, "gpu-0").await;
        let names: Vec<String> = store
            .list_workers()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names, vec!["gpu-0", "gpu-1"]);

        // A worker named like another's id: the id wins, the name still finds its own.
        let impostor = worker(&store, &other.id).await;
        assert_eq!(get_worker(&store, &other.id).await.id, other.id);
        assert_eq!(get_worker(&store, &impostor.id).await.name, other.id);

        let revoked = store
            .revoke_worker("gpu-1", support::audit_at(T0 + 10), T0 + 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(revoked.revoked_at, Some(T0 + 10));
        let again = store
            .revoke_worker(&w.id, support::audit_at(T0 + 20), T0 + 20)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, revoked, "revoking twice changes nothing");
        assert_eq!(
            store
                .find_worker(&hash)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .and_then(|w| w.revoked_at),
            Some(T0 + 10),
            "a revoked worker is still found, so the API can say why it is refused"
        );
        assert_eq!(
            get_worker(&store, &other.id).await.revoked_at,
            None,
            "only the named worker"
        );
        support::assert_not_found(
            store
                .revoke_worker("gpu-404", support::audit_at(T0), T0)
                .await,
        );

        let mut raw = Raw::connect(&db).await;
        for (action, expected) in [("worker.created", 1), ("worker.revoked", 1)] {
            assert_eq!(
                raw.count(
                    "audit_log WHERE action = $1 AND target_type = 'worker' AND target_id = $2 \
                     AND account_id IS NULL AND actor_type = 'operator'",
                    &[action, &w.id],
                )
                .await,
                expected,
                "{action}"
            );
        }
        raw.close().await;
    }
);

both_backends!(a_taken_name_is_a_conflict, |db: TestDb| async move {
    let store = support::store(&db).await;
    let first = worker(&store, "gpu-1").await;
    support::assert_conflict(
        store
            .create_worker(new_worker("gpu-1", T0 + 1), support::audit_at(T0 + 1))
            .await,
        "workers_name_key",
    );
    // Names are taken as typed: another spelling is another worker.
    worker(&store, "GPU-1").await;
    let mut raw = Raw::connect(&db).await;
    assert_eq!(
        raw.count("audit_log WHERE action = 'worker.created'", &[])
            .await,
        2,
        "the refused creation left no audit entry"
    );
    assert_eq!(raw.count("workers WHERE name = 'gpu-1'", &[]).await, 1);
    raw.close().await;
    assert_eq!(get_worker(&store, "gpu-1").await, first);
});

both_backends!(
    touch_writes_only_after_the_gap_or_on_a_change,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let w = worker(&store, "gpu-1").await;
        let gap = 60_000;
        let touch = |version: Option<&'static str>, serving: Option<Vec<String>>, now: i64| {
            let store = store.clone();
            let id = w.id.clone();
            async move {
                store
                    .touch_worker(&id, version, serving.as_deref(), gap, now)
                    .await
                    .unwrap_or_else(|e| panic!("touch_worker: {e}"));
                get_worker(&store, &id).await
            }
        };
        let seen = |w: &Worker| (w.last_seen_at, w.version.clone(), w.serving.clone());
        let sdxl = vec!["sdxl".to_string()];

        assert_eq!(seen(&touch(None, None, T0).await), (Some(T0), None, vec![]));
        assert_eq!(
            touch(None, None, T0 + 30_000).await.last_seen_at,
            Some(T0),
            "within the gap: no write"
        );
        let v1 = Some("easel-worker/0.1.0 comfyui");
        assert_eq!(
            seen(&touch(v1, None, T0 + 30_000).await),
            (Some(T0 + 30_000), v1.map(String::from), vec![]),
            "a new version is written at once"
        );
        assert_eq!(
            touch(v1, None, T0 + 40_000).await.last_seen_at,
            Some(T0 + 30_000),
            "the same version is no change"
        );
        assert_eq!(
            seen(&touch(None, Some(sdxl.clone()), T0 + 45_000).await),
            (Some(T0 + 45_000), v1.map(String::from), sdxl.clone()),
            "new served models are written at once, the version kept"
        );
        assert_eq!(
            touch(v1, Some(sdxl.clone()), T0 + 50_000)
                .await
                .last_seen_at,
            Some(T0 + 45_000)
        );
        assert_eq!(
            seen(&touch(None, None, T0 + 105_001).await),
            (Some(T0 + 105_001), v1.map(String::from), sdxl.clone()),
            "after the gap it is written, and None erases nothing"
        );
        // A node whose clock lags reports a new version: written, but the time stays.
        let v2 = Some("easel-worker/0.2.0 comfyui");
        assert_eq!(
            seen(&touch(v2, None, T0 + 100).await),
            (Some(T0 + 105_001), v2.map(String::from), sdxl),
        );
        store
            .touch_worker("wrk_unknown", v1, None, gap, T0)
            .await
            .unwrap_or_else(|e| panic!("an unknown worker is no error: {e}"));
    }
);
