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

/// A `credits.granted` event (in live mode) at `now`.
async fn grant_event(store: &std::sync::Arc<dyn easel_db::Store>, account_id: &str, now: i64) {
    let mut audit = support::audit_at(now);
    audit.now = now;
    store
        .add_credits(easel_db::NewCredit {
            account_id: account_id.into(),
            mode: Mode::Live,
            entry_type: easel_core::credits::LedgerType::Purchase,
            amount: 100,
            reference: None,
            reason: None,
            audit,
        })
        .await
        .unwrap_or_else(|e| panic!("grant: {e}"));
}

fn outcome(
    delivery_id: &str,
    worker: &str,
    at: i64,
    succeeded: bool,
    retry_at: Option<i64>,
) -> easel_db::AttemptOutcome {
    easel_db::AttemptOutcome {
        delivery_id: delivery_id.into(),
        worker: worker.into(),
        attempted_at: at,
        status_code: Some(if succeeded { 200 } else { 500 }),
        latency_ms: 12,
        response_body: Some("ok".into()),
        error: (!succeeded).then(|| "HTTP 500".to_string()),
        succeeded,
        retry_at,
        hold_others_until: None,
        disable_after_ms: 1_000_000,
        gone: false,
    }
}

both_backends!(
    events_become_deliveries_that_are_claimed_once_retried_and_replayed,
    |db: TestDb| async move {
        use easel_db::{AttemptRecorded, DeliveryState};
        let store = support::store(&db).await;
        let (a, _) = support::account(&store, "outbox@acme.test").await;
        let (b, _) = support::account(&store, "stranger@acme.test").await;
        let create = |mode, events, enabled| {
            let store = store.clone();
            let mut new = new_endpoint(&a.id, mode, events);
            new.enabled = enabled;
            async move {
                store
                    .create_webhook_endpoint(new, support::audit_at(1_000))
                    .await
                    .unwrap_or_else(|e| panic!("create: {e}"))
            }
        };
        let only = |t: &str| EnabledEvents::Only(vec![t.to_string(), "invoice.created".into()]);
        let all = create(Mode::Live, EnabledEvents::All, true).await;
        let granted = create(Mode::Live, only("credits.granted"), true).await;
        let other_type = create(Mode::Live, only("generation.succeeded"), true).await;
        let test_mode = create(Mode::Test, EnabledEvents::All, true).await;
        let disabled = create(Mode::Live, EnabledEvents::All, false).await;
        let deleted = create(Mode::Live, EnabledEvents::All, true).await;
        store
            .delete_webhook_endpoint(&a.id, Mode::Live, &deleted.id, support::audit_at(1_500))
            .await
            .unwrap_or_else(|e| panic!("delete: {e}"));

        grant_event(&store, &a.id, 2_000).await;
        let mut due = store
            .due_webhook_deliveries(2_000, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("due: {e}"));
        due.sort_by(|x, y| x.1.cmp(&y.1));
        let mut want = vec![all.id.clone(), granted.id.clone()];
        want.sort();
        assert_eq!(due.iter().map(|d| d.1.clone()).collect::<Vec<_>>(), want);
        for (id, _) in &due {
            assert!(
                easel_core::ids::IdKind::WebhookDelivery.is_valid(id),
                "{id}"
            );
        }
        for unwanted in [&other_type, &test_mode, &disabled, &deleted] {
            assert!(due.iter().all(|d| d.1 != unwanted.id), "{unwanted:?}");
        }
        assert!(
            store
                .due_webhook_deliveries(1_999, 100, &[])
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
        let skipped = store
            .due_webhook_deliveries(2_000, 100, std::slice::from_ref(&all.id))
            .await
            .unwrap_or_else(|e| panic!("due: {e}"));
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].1, granted.id);

        // Two nodes race for the same deliveries: each is claimed exactly once.
        let ids: Vec<String> = due.iter().map(|d| d.0.clone()).collect();
        let (one, two) = tokio::join!(
            store.claim_webhook_deliveries(&ids, "node-1", 2_000, 32_000),
            store.claim_webhook_deliveries(&ids, "node-2", 2_000, 32_000),
        );
        let (one, two) = (one.unwrap_or_default(), two.unwrap_or_default());
        assert_eq!(one.len() + two.len(), 2, "{one:?} {two:?}");
        let mut tasks = one.clone();
        tasks.extend(two.clone());
        let worker_of = |id: &str| {
            if one.iter().any(|t| t.delivery.id == id) {
                "node-1"
            } else {
                "node-2"
            }
        };
        assert!(
            store
                .due_webhook_deliveries(2_000, 100, &[])
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty(),
            "leased"
        );
        let task = tasks
            .iter()
            .find(|t| t.endpoint.id == all.id)
            .unwrap_or_else(|| panic!("no task for the catch-all endpoint"));
        let data: serde_json::Value =
            serde_json::from_str(&task.event_data).unwrap_or_else(|e| panic!("data: {e}"));
        assert_eq!(data["amount"], 100, "{data}");
        assert_eq!(
            (
                task.event_created_at,
                task.account_state.as_str(),
                task.endpoint_deleted
            ),
            (2_000, "active", false)
        );
        assert_eq!(task.delivery.event_type, "credits.granted");
        let d = &task.delivery;
        let w = worker_of(&d.id);

        // A failure schedules a retry and starts the endpoint's failure streak; a node
        // that lost the lease writes nothing.
        let lost = store
            .record_webhook_attempt(outcome(&d.id, "node-9", 2_100, true, None))
            .await
            .unwrap_or_else(|e| panic!("record: {e}"));
        assert_eq!(lost, AttemptRecorded::LeaseLost);
        let recorded = store
            .record_webhook_attempt(outcome(&d.id, w, 2_100, false, Some(7_100)))
            .await
            .unwrap_or_else(|e| panic!("record: {e}"));
        assert_eq!(recorded, AttemptRecorded::Recorded);
        let after = store
            .get_webhook_delivery(&a.id, Mode::Live, &d.id)
            .await
            .unwrap_or_else(|e| panic!("get: {e}"));
        assert_eq!(
            (
                after.state,
                after.attempts,
                after.next_attempt_at,
                after.last_status
            ),
            (DeliveryState::Pending, 1, Some(7_100), Some(500))
        );
        assert_eq!(after.attempt_log.len(), 1);
        assert_eq!(after.attempt_log[0].error.as_deref(), Some("HTTP 500"));
        let e = store
            .get_webhook_endpoint(&a.id, Mode::Live, &all.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.failing_since, Some(2_100));
        support::assert_not_found(store.get_webhook_delivery(&b.id, Mode::Live, &d.id).await);
        support::assert_not_found(store.get_webhook_delivery(&a.id, Mode::Test, &d.id).await);
        assert!(
            store
                .due_webhook_deliveries(7_099, 100, &[])
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .all(|x| x.0 != d.id)
        );

        // The retry succeeds: the streak ends.
        let again = store
            .claim_webhook_deliveries(std::slice::from_ref(&d.id), "node-3", 7_100, 37_100)
            .await
            .unwrap_or_else(|e| panic!("claim: {e}"));
        assert_eq!(again.len(), 1);
        store
            .record_webhook_attempt(outcome(&d.id, "node-3", 7_200, true, None))
            .await
            .unwrap_or_else(|e| panic!("record: {e}"));
        let done = store
            .get_webhook_delivery(&a.id, Mode::Live, &d.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (done.state, done.attempts, done.next_attempt_at),
            (DeliveryState::Succeeded, 2, None)
        );
        let e = store
            .get_webhook_endpoint(&a.id, Mode::Live, &all.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.failing_since, None);

        // A replay of the ended delivery: one manual attempt, which fails without
        // starting a new schedule or counting as a scheduled attempt.
        let replayed = store
            .replay_webhook_delivery(&a.id, Mode::Live, &d.id, support::audit_at(8_000))
            .await
            .unwrap_or_else(|e| panic!("replay: {e}"));
        assert_eq!(
            (replayed.state, replayed.manual, replayed.next_attempt_at),
            (DeliveryState::Pending, true, Some(8_000))
        );
        store
            .claim_webhook_deliveries(std::slice::from_ref(&d.id), "node-3", 8_000, 38_000)
            .await
            .unwrap_or_else(|e| panic!("claim: {e}"));
        store
            .record_webhook_attempt(outcome(&d.id, "node-3", 8_100, false, Some(13_100)))
            .await
            .unwrap_or_else(|e| panic!("record: {e}"));
        let ended = store
            .get_webhook_delivery(&a.id, Mode::Live, &d.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (ended.state, ended.attempts, ended.manual),
            (DeliveryState::Failed, 2, false)
        );
        assert_eq!(
            ended
                .attempt_log
                .iter()
                .map(|x| (x.manual, x.status_code))
                .collect::<Vec<_>>(),
            [(false, Some(500)), (false, Some(200)), (true, Some(500))]
        );
        let mut raw = support::Raw::connect(&db).await;
        assert_eq!(
            raw.audit_rows(&a.id, action::WEBHOOK_DELIVERY_REPLAYED)
                .await,
            1
        );

        // The log lists an endpoint's deliveries with their attempts, only to its owner.
        let log = store
            .list_webhook_deliveries(&a.id, Mode::Live, &all.id, Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].attempt_log.len(), 3);
        support::assert_not_found(
            store
                .list_webhook_deliveries(&b.id, Mode::Live, &all.id, Page::first(10))
                .await,
        );

        // Abandoning (the endpoint went away) fails a delivery without an attempt.
        let other = tasks
            .iter()
            .find(|t| t.endpoint.id == granted.id)
            .unwrap_or_else(|| panic!("no task"));
        store
            .abandon_webhook_delivery(
                &other.delivery.id,
                worker_of(&other.delivery.id),
                "the endpoint was deleted",
                9_000,
            )
            .await
            .unwrap_or_else(|e| panic!("abandon: {e}"));
        let gone = store
            .get_webhook_delivery(&a.id, Mode::Live, &other.delivery.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                gone.state,
                gone.last_error.as_deref(),
                gone.attempt_log.len()
            ),
            (DeliveryState::Failed, Some("the endpoint was deleted"), 0)
        );
        raw.close().await;
    }
);

both_backends!(
    an_endpoint_failing_past_the_window_is_disabled_once_with_its_event,
    |db: TestDb| async move {
        use easel_db::{AttemptRecorded, DeliveryState};
        let store = support::store(&db).await;
        let (a, _) = support::account(&store, "failing@acme.test").await;
        let dead = store
            .create_webhook_endpoint(
                new_endpoint(
                    &a.id,
                    Mode::Live,
                    EnabledEvents::Only(vec!["credits.granted".into()]),
                ),
                support::audit_at(1_000),
            )
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        let watcher = store
            .create_webhook_endpoint(
                new_endpoint(
                    &a.id,
                    Mode::Live,
                    EnabledEvents::Only(vec!["webhook_endpoint.disabled".into()]),
                ),
                support::audit_at(1_000),
            )
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        for at in [2_000, 2_001, 2_002, 2_003] {
            grant_event(&store, &a.id, at).await;
        }
        let due = store
            .due_webhook_deliveries(2_000, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(due.len(), 1, "only the first is due at 2000");
        let due = store
            .due_webhook_deliveries(3_000, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(due.len(), 4);
        let ids: Vec<String> = due.iter().map(|d| d.0.clone()).collect();
        let first = ids[0].clone();
        // Two attempts in flight at once, as one node would run them.
        let claimed = store
            .claim_webhook_deliveries(&ids[..2], "n", 3_000, 60_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claimed.len(), 2);

        // A failure holds the endpoint's other due deliveries back (the circuit breaker),
        // but not the one in flight.
        let mut o = outcome(&first, "n", 3_100, false, Some(8_100));
        o.hold_others_until = Some(8_100);
        o.disable_after_ms = 10_000;
        assert_eq!(
            store
                .record_webhook_attempt(o)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            AttemptRecorded::Recorded
        );
        let still_due = store
            .due_webhook_deliveries(3_200, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(still_due.is_empty(), "held back: {still_due:?}");
        assert_eq!(
            store
                .due_webhook_deliveries(8_100, 100, &[])
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .len(),
            3
        );

        // Failing again 10 s after the streak began disables the endpoint: once, with an
        // event to the endpoints that listen for it, an audit entry, and every pending
        // delivery failed.
        let mut o = outcome(&ids[1], "n", 13_100, false, Some(20_000));
        o.disable_after_ms = 10_000;
        let recorded = store
            .record_webhook_attempt(o)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let AttemptRecorded::EndpointDisabled(endpoint) = recorded else {
            panic!("not disabled: {recorded:?}");
        };
        assert_eq!(
            (
                endpoint.id.as_str(),
                endpoint.disabled_at,
                endpoint.failing_since
            ),
            (dead.id.as_str(), Some(13_100), Some(3_100))
        );
        assert!(
            endpoint
                .disabled_reason
                .as_deref()
                .unwrap_or("")
                .contains("failed"),
            "{endpoint:?}"
        );
        let log = store
            .list_webhook_deliveries(&a.id, Mode::Live, &dead.id, Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log.len(), 4);
        assert!(
            log.iter().all(|d| d.state == DeliveryState::Failed),
            "{log:?}"
        );
        let notices = store
            .due_webhook_deliveries(13_100, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            notices.iter().map(|d| d.1.as_str()).collect::<Vec<_>>(),
            [watcher.id.as_str()]
        );
        let mut raw = support::Raw::connect(&db).await;
        assert_eq!(
            raw.audit_rows(&a.id, action::WEBHOOK_ENDPOINT_DISABLED)
                .await,
            1
        );
        assert_eq!(
            raw.count(
                "events WHERE account_id = $1 AND type = 'webhook_endpoint.disabled'",
                &[&a.id]
            )
            .await,
            1
        );
        raw.close().await;

        // A 410 Gone disables at once.
        let gone = store
            .create_webhook_endpoint(
                new_endpoint(
                    &a.id,
                    Mode::Live,
                    EnabledEvents::Only(vec!["credits.granted".into()]),
                ),
                support::audit_at(20_000),
            )
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        grant_event(&store, &a.id, 21_000).await;
        let due = store
            .due_webhook_deliveries(21_000, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mine: Vec<String> = due
            .iter()
            .filter(|d| d.1 == gone.id)
            .map(|d| d.0.clone())
            .collect();
        assert_eq!(mine.len(), 1);
        store
            .claim_webhook_deliveries(&mine, "n", 21_000, 50_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut o = outcome(&mine[0], "n", 21_100, false, Some(30_000));
        o.status_code = Some(410);
        o.gone = true;
        assert!(matches!(
            store.record_webhook_attempt(o).await,
            Ok(AttemptRecorded::EndpointDisabled(_))
        ));
    }
);

both_backends!(
    a_recovered_endpoint_gets_what_the_breaker_held_at_once,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (a, _) = support::account(&store, "recover@acme.test").await;
        store
            .create_webhook_endpoint(
                new_endpoint(&a.id, Mode::Live, EnabledEvents::All),
                support::audit_at(1_000),
            )
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        for at in [2_000, 2_001, 2_002] {
            grant_event(&store, &a.id, at).await;
        }
        let ids: Vec<String> = store
            .due_webhook_deliveries(3_000, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|d| d.0)
            .collect();
        assert_eq!(ids.len(), 3);
        store
            .claim_webhook_deliveries(&ids[..2], "n", 3_000, 60_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut o = outcome(&ids[0], "n", 3_100, false, Some(8_100));
        o.hold_others_until = Some(60_000);
        store
            .record_webhook_attempt(o)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            store
                .due_webhook_deliveries(3_200, 100, &[])
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
        // The other attempt in flight succeeds: the held delivery is due again at once, the
        // failed one keeps its retry time.
        store
            .record_webhook_attempt(outcome(&ids[1], "n", 3_300, true, None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let due: Vec<String> = store
            .due_webhook_deliveries(3_300, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|d| d.0)
            .collect();
        assert_eq!(due, [ids[2].clone()]);
        let failed = store
            .get_webhook_delivery(&a.id, Mode::Live, &ids[0])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(failed.next_attempt_at, Some(8_100));
    }
);

both_backends!(
    ended_deliveries_are_purged_after_retention_with_their_attempts,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (a, _) = support::account(&store, "purge@acme.test").await;
        let e = store
            .create_webhook_endpoint(
                new_endpoint(&a.id, Mode::Live, EnabledEvents::All),
                support::audit_at(1_000),
            )
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        for at in [2_000, 3_000, 4_000] {
            grant_event(&store, &a.id, at).await;
        }
        let ids: Vec<String> = store
            .due_webhook_deliveries(5_000, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|d| d.0)
            .collect();
        // The first two end (one succeeded, one failed for good); the third stays pending.
        store
            .claim_webhook_deliveries(&ids[..2], "n", 5_000, 60_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .record_webhook_attempt(outcome(&ids[0], "n", 5_100, true, None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .record_webhook_attempt(outcome(&ids[1], "n", 5_100, false, None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Only deliveries of events before the cutoff go (their ids carry the event's real
        // creation time), at most `limit` at a time, and never pending ones.
        let now = easel_core::time::now_ms();
        let purge = |before: i64, limit: i64| {
            let store = store.clone();
            async move {
                store
                    .purge_webhook_deliveries(before, limit)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        assert_eq!(
            purge(now - 60_000, 100).await,
            0,
            "the events are newer than a minute ago"
        );
        assert_eq!(purge(now + 60_000, 1).await, 1);
        assert_eq!(purge(now + 60_000, 100).await, 1);
        assert_eq!(purge(now + 60_000, 100).await, 0);
        let left = store
            .list_webhook_deliveries(&a.id, Mode::Live, &e.id, Page::first(10))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            left.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            [ids[2].as_str()]
        );
        let mut raw = support::Raw::connect(&db).await;
        assert_eq!(raw.count("webhook_attempts", &[]).await, 0);
        raw.close().await;
    }
);

/// Two live endpoints of `account` taking every event: their ids.
async fn two_endpoints(store: &std::sync::Arc<dyn easel_db::Store>, account: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..2 {
        let endpoint = store
            .create_webhook_endpoint(
                new_endpoint(account, Mode::Live, EnabledEvents::All),
                support::audit_at(1_000),
            )
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        ids.push(endpoint.id);
    }
    ids
}

both_backends!(
    attempts_recorded_together_keep_their_own_outcomes,
    |db: TestDb| async move {
        use easel_db::{AttemptRecorded, DeliveryState};
        // Attempts that end at the same moment share a transaction: successes, failures
        // with a retry and a breaker hold, and one from a node that lost its lease, each
        // recorded (or refused) as if alone.
        let store = support::store(&db).await;
        let (a, _) = support::account(&store, "together@acme.test").await;
        let endpoints = two_endpoints(&store, &a.id).await;
        let (healthy, failing) = (endpoints[0].clone(), endpoints[1].clone());
        for n in 0..12 {
            grant_event(&store, &a.id, 2_000 + n).await;
        }
        let due = store
            .due_webhook_deliveries(3_000, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("due: {e}"));
        assert_eq!(due.len(), 24);
        let ids: Vec<String> = due.iter().map(|d| d.0.clone()).collect();
        let tasks = store
            .claim_webhook_deliveries(&ids, "node-1", 3_000, 33_000)
            .await
            .unwrap_or_else(|e| panic!("claim: {e}"));
        assert_eq!(tasks.len(), 24);
        let lost = tasks
            .iter()
            .find(|t| t.endpoint.id == healthy)
            .map(|t| t.delivery.id.clone())
            .unwrap_or_else(|| panic!("no delivery to the healthy endpoint"));
        // Held back until every attempt is queued, so that they are written together:
        // SQLite's write lock, or (PostgreSQL) the deliveries' rows the batch updates.
        let mut hold = support::Raw::hold_the_writer(
            &db,
            &format!(
                "SELECT 1 FROM webhook_deliveries WHERE id IN ('{}') FOR UPDATE",
                ids.join("', '")
            ),
        )
        .await;
        let calls: Vec<_> = tasks
            .iter()
            .map(|t| {
                let id = t.delivery.id.as_str();
                let o = if id == lost {
                    outcome(id, "node-2", 3_100, true, None)
                } else if t.endpoint.id == healthy {
                    outcome(id, "node-1", 3_100, true, None)
                } else {
                    let mut o = outcome(id, "node-1", 3_100, false, Some(9_000));
                    o.hold_others_until = Some(8_000);
                    o
                };
                let store = store.clone();
                tokio::spawn(async move {
                    (o.delivery_id.clone(), store.record_webhook_attempt(o).await)
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        hold.execute("COMMIT")
            .await
            .unwrap_or_else(|e| panic!("COMMIT: {e}"));
        hold.close().await;
        for call in calls {
            let (id, recorded) = call.await.unwrap_or_else(|e| panic!("task: {e}"));
            let recorded = recorded.unwrap_or_else(|e| panic!("record {id}: {e:?}"));
            let want = if id == lost {
                AttemptRecorded::LeaseLost
            } else {
                AttemptRecorded::Recorded
            };
            assert_eq!(recorded, want, "{id}");
        }
        for t in &tasks {
            let d = store
                .get_webhook_delivery(&a.id, Mode::Live, &t.delivery.id)
                .await
                .unwrap_or_else(|e| panic!("get: {e}"));
            if d.id == lost {
                assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
                assert!(d.attempt_log.is_empty());
            } else if d.endpoint_id == healthy {
                assert_eq!((d.state, d.attempts), (DeliveryState::Succeeded, 1));
                assert_eq!(d.attempt_log.len(), 1);
            } else {
                assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 1));
                assert_eq!(d.next_attempt_at, Some(9_000));
                assert_eq!(d.attempt_log.len(), 1);
            }
        }
        let mut raw = support::Raw::connect(&db).await;
        assert_eq!(raw.count("webhook_attempts", &[]).await, 23);
        if db.backend == easel_test_utils::Backend::Postgres {
            // PostgreSQL stamps each row with the transaction that wrote it: the first
            // attempt's batch, held back, and one for everything queued behind it.
            let writers = raw
                .scalar(
                    "SELECT COUNT(DISTINCT xmin::text) FROM webhook_attempts",
                    &[],
                )
                .await;
            assert!(
                writers.is_some_and(|n| n <= 2),
                "23 attempts in {writers:?} transactions"
            );
        }
        assert_eq!(
            raw.count(
                "webhook_endpoints WHERE id = $1 AND failing_since = 3100",
                &[&failing]
            )
            .await,
            1
        );
        assert_eq!(
            raw.count(
                "webhook_endpoints WHERE id = $1 AND failing_since IS NULL",
                &[&healthy]
            )
            .await,
            1
        );
        raw.close().await;
    }
);

both_backends!(
    a_breaker_hold_is_one_row_that_claims_and_replays_respect,
    |db: TestDb| async move {
        // A failure holds its endpoint: one row changes, no delivery is rewritten; claims
        // pass over the endpoint until the hold ends (and the dispatcher is told when);
        // another endpoint is not held; a replay ends the hold.
        let store = support::store(&db).await;
        let (a, _) = support::account(&store, "hold@acme.test").await;
        let endpoints = two_endpoints(&store, &a.id).await;
        for at in [2_000, 2_001, 2_002] {
            grant_event(&store, &a.id, at).await;
        }
        let due = store
            .due_webhook_deliveries(3_000, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(due.len(), 6);
        let held: Vec<String> = due
            .iter()
            .filter(|d| d.1 == endpoints[0])
            .map(|d| d.0.clone())
            .collect();
        store
            .claim_webhook_deliveries(&held[..1], "n", 3_000, 60_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut o = outcome(&held[0], "n", 3_100, false, Some(50_000));
        o.hold_others_until = Some(40_000);
        store
            .record_webhook_attempt(o)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let mut raw = support::Raw::connect(&db).await;
        // The held deliveries keep their own times: nothing but the endpoint row moved.
        assert_eq!(
            raw.count(
                "webhook_deliveries WHERE endpoint_id = $1 AND attempts = 0 AND next_attempt_at < 3000",
                &[&endpoints[0]]
            )
            .await,
            2
        );
        let ids = |d: Vec<(String, String)>| d.into_iter().map(|d| d.1).collect::<Vec<_>>();
        let due = store
            .due_webhook_deliveries(3_200, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ids(due),
            vec![endpoints[1].clone(); 3],
            "only the healthy endpoint"
        );
        // With the healthy endpoint's deliveries sent, the next time anything can go is the
        // end of the hold.
        let healthy: Vec<String> = store
            .due_webhook_deliveries(3_200, 100, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|d| d.0)
            .collect();
        store
            .claim_webhook_deliveries(&healthy, "n", 3_200, 60_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for id in &healthy {
            store
                .record_webhook_attempt(outcome(id, "n", 3_300, true, None))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(
            store
                .next_delivery_due(3_400)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            Some(40_000)
        );
        assert_eq!(
            store
                .due_webhook_deliveries(40_000, 100, &[])
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .len(),
            2,
            "the hold ended"
        );
        // A replay of a held delivery ends the hold at once.
        store
            .replay_webhook_delivery(&a.id, Mode::Live, &held[1], support::audit_at(3_500))
            .await
            .unwrap_or_else(|e| panic!("replay: {e}"));
        assert_eq!(
            store
                .due_webhook_deliveries(3_600, 100, &[])
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .len(),
            2
        );
        raw.close().await;
    }
);
