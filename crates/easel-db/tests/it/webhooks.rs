//! Webhook endpoints: scoped to account and mode, audited, soft-deleted, and rotated with
//! an overlap during which the previous secret still signs.

use easel_core::audit::action;
use easel_core::mode::Mode;
use easel_db::{EnabledEvents, NewWebhookEndpoint, Page, WebhookEndpointPatch};
use easel_test_utils::{TestDb, both_backends};

use crate::support;

fn new_endpoint(account_id: &str, mode: Mode, events: EnabledEvents) -> NewWebhookEndpoint {
    NewWebhookEndpoint {
        account_id: account_id.into(),
        mode,
        url: "https://hooks.example.com/easel".into(),
        description: "orders".into(),
        enabled_events: events,
        secret: "whsec_first".into(),
        enabled: true,
    }
}

both_backends!(
    webhook_endpoints_are_scoped_updated_rotated_and_deleted,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (a, _) = support::account(&store, "hooks@acme.test").await;
        let (b, _) = support::account(&store, "other@acme.test").await;
        let only = EnabledEvents::Only(vec![
            "generation.succeeded".into(),
            "credits.granted".into(),
        ]);
        let e = store
            .create_webhook_endpoint(
                new_endpoint(&a.id, Mode::Live, only.clone()),
                support::audit_at(1_000),
            )
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        assert!(e.id.starts_with("whk_"));
        assert_eq!(
            (e.enabled_events.clone(), e.disabled_at, e.created_at),
            (only.clone(), None, 1_000)
        );
        assert!(
            e.enabled_events.includes("credits.granted")
                && !e.enabled_events.includes("generation.failed")
        );
        let all = store
            .create_webhook_endpoint(
                new_endpoint(&a.id, Mode::Live, EnabledEvents::All),
                support::audit_at(1_001),
            )
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        assert!(all.enabled_events.includes("anything.at_all"));
        // Other accounts and the other mode never see it.
        support::assert_not_found(store.get_webhook_endpoint(&b.id, Mode::Live, &e.id).await);
        support::assert_not_found(store.get_webhook_endpoint(&a.id, Mode::Test, &e.id).await);
        let listed = store
            .list_webhook_endpoints(&a.id, Mode::Live, Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        assert_eq!(
            listed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            [all.id.as_str(), e.id.as_str()]
        );

        // Disable, then re-enable: the failure streak is forgotten.
        let off = store
            .update_webhook_endpoint(
                &a.id,
                Mode::Live,
                &e.id,
                WebhookEndpointPatch {
                    enabled: Some(false),
                    ..Default::default()
                },
                support::audit_at(2_000),
            )
            .await
            .unwrap_or_else(|e| panic!("disable: {e}"));
        assert_eq!(off.disabled_at, Some(2_000));
        let on = store
            .update_webhook_endpoint(
                &a.id,
                Mode::Live,
                &e.id,
                WebhookEndpointPatch {
                    enabled: Some(true),
                    url: Some("https://hooks.example.com/v2".into()),
                    enabled_events: Some(EnabledEvents::All),
                    ..Default::default()
                },
                support::audit_at(3_000),
            )
            .await
            .unwrap_or_else(|e| panic!("enable: {e}"));
        assert_eq!(
            (on.disabled_at, on.failing_since, on.url.as_str()),
            (None, None, "https://hooks.example.com/v2")
        );
        assert_eq!(
            (on.enabled_events, on.description.as_str()),
            (EnabledEvents::All, "orders")
        );

        // Rotation with an overlap keeps the old secret signing until it ends; without one
        // the old secret is gone at once.
        let rotated = store
            .rotate_webhook_secret(
                &a.id,
                Mode::Live,
                &e.id,
                "whsec_second",
                90_000,
                support::audit_at(4_000),
            )
            .await
            .unwrap_or_else(|e| panic!("rotate: {e}"));
        assert_eq!(
            (
                rotated.secret.as_str(),
                rotated.previous_secret.as_deref(),
                rotated.previous_secret_expires_at
            ),
            ("whsec_second", Some("whsec_first"), Some(90_000))
        );
        let again = store
            .rotate_webhook_secret(
                &a.id,
                Mode::Live,
                &e.id,
                "whsec_third",
                5_000,
                support::audit_at(5_000),
            )
            .await
            .unwrap_or_else(|e| panic!("rotate: {e}"));
        assert_eq!(
            (again.previous_secret, again.previous_secret_expires_at),
            (None, None)
        );

        // Deleted: gone from every read, and only once.
        store
            .delete_webhook_endpoint(&a.id, Mode::Live, &e.id, support::audit_at(6_000))
            .await
            .unwrap_or_else(|e| panic!("delete: {e}"));
        support::assert_not_found(store.get_webhook_endpoint(&a.id, Mode::Live, &e.id).await);
        support::assert_not_found(
            store
                .delete_webhook_endpoint(&a.id, Mode::Live, &e.id, support::audit())
                .await,
        );
        let listed = store
            .list_webhook_endpoints(&a.id, Mode::Live, Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        assert_eq!(listed.len(), 1);

        let audit = store
            .list_audit(Some(&a.id), Page::first(100))
            .await
            .unwrap_or_else(|e| panic!("audit: {e}"));
        let count = |wanted: &str| audit.iter().filter(|e| e.action == wanted).count();
        assert_eq!(
            [
                count(action::WEBHOOK_ENDPOINT_CREATED),
                count(action::WEBHOOK_ENDPOINT_UPDATED),
                count(action::WEBHOOK_SECRET_ROTATED),
                count(action::WEBHOOK_ENDPOINT_DELETED),
            ],
            [2, 2, 2, 1]
        );
        assert!(
            audit
                .iter()
                .all(|e| !e.details.to_string().contains("whsec_")),
            "secrets never reach the audit log"
        );
    }
);
