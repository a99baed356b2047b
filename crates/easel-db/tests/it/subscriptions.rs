//! Stripe subscriptions: the plan follows the subscription, events apply in order or not at
//! all, a failed payment is past due from its first failure until paid, and the sweep's
//! notices and suspension happen once however many nodes race for them.

use std::sync::Arc;

use easel_core::account::AccountState;
use easel_core::audit::action;
use easel_db::{
    PaymentOutcome, StateChange, Store, SubscriptionApplied, SubscriptionEvent, SuspendJobs,
};
use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

const UNPAID: &str = "Payment failed and unpaid for 7 days.";

fn event(account_id: &str, sub: &str, at: i64) -> SubscriptionEvent {
    SubscriptionEvent {
        account_id: account_id.into(),
        subscription_id: sub.into(),
        customer_id: "cus_1".into(),
        plan: None,
        status: None,
        current_period_end: None,
        cancel_at_period_end: None,
        payment: None,
        ended: false,
        fallback_plan: "free".into(),
        payment_suspension_reason: UNPAID.into(),
        event_at: at,
    }
}

async fn apply(store: &Arc<dyn Store>, e: SubscriptionEvent) -> SubscriptionApplied {
    store
        .apply_subscription_event(e, support::audit())
        .await
        .unwrap_or_else(|e| panic!("apply_subscription_event: {e}"))
}

async fn plan_of(store: &Arc<dyn Store>, account_id: &str) -> String {
    store
        .get_account(account_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .plan
}

both_backends!(
    the_plan_follows_the_subscription_and_late_events_change_nothing,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "subs@plan.test").await;
        let mut raw = Raw::connect(&db).await;
        let id = account.id.as_str();
        let start = apply(
            &store,
            SubscriptionEvent {
                plan: Some("pro".into()),
                status: Some("active".into()),
                current_period_end: Some(5_000),
                ..event(id, "sub_a", 1_000)
            },
        )
        .await;
        assert_eq!(start.ignored, None);
        assert_eq!(start.plan_changed, Some(("free".into(), "pro".into())));
        assert_eq!(plan_of(&store, id).await, "pro");
        assert_eq!(raw.audit_rows(id, action::ACCOUNT_PLAN_CHANGED).await, 1);
        // A downgrade in the portal moves the plan; an event from before it does nothing.
        let down = apply(
            &store,
            SubscriptionEvent {
                plan: Some("starter".into()),
                status: Some("active".into()),
                ..event(id, "sub_a", 3_000)
            },
        )
        .await;
        assert_eq!(down.plan_changed, Some(("pro".into(), "starter".into())));
        let late = apply(
            &store,
            SubscriptionEvent {
                plan: Some("pro".into()),
                status: Some("active".into()),
                ..event(id, "sub_a", 2_000)
            },
        )
        .await;
        assert_eq!(late.ignored, Some("stale"));
        assert_eq!(plan_of(&store, id).await, "starter");
        // A second subscription while this one runs is not this account's plan.
        let other = apply(
            &store,
            SubscriptionEvent {
                plan: Some("pro".into()),
                ..event(id, "sub_b", 4_000)
            },
        )
        .await;
        assert_eq!(other.ignored, Some("other_subscription"));
        let row = store
            .get_subscription(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no subscription"));
        assert_eq!(
            (row.subscription_id.as_str(), row.plan.as_str()),
            ("sub_a", "starter")
        );
        assert_eq!(row.current_period_end, Some(5_000));
        // Ended: back to the default plan; a new subscription then replaces the row.
        let ended = apply(
            &store,
            SubscriptionEvent {
                ended: true,
                status: Some("canceled".into()),
                ..event(id, "sub_a", 5_000)
            },
        )
        .await;
        assert_eq!(ended.plan_changed, Some(("starter".into(), "free".into())));
        let again = apply(
            &store,
            SubscriptionEvent {
                plan: Some("pro".into()),
                status: Some("active".into()),
                ..event(id, "sub_b", 6_000)
            },
        )
        .await;
        assert_eq!(again.plan_changed, Some(("free".into(), "pro".into())));
        let row = store
            .get_subscription(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no subscription"));
        assert_eq!(
            (row.subscription_id.as_str(), row.status.as_str()),
            ("sub_b", "active")
        );
        // The old subscription's deletion arriving late does not end the new one.
        let old_end = apply(
            &store,
            SubscriptionEvent {
                ended: true,
                ..event(id, "sub_a", 7_000)
            },
        )
        .await;
        assert_eq!(old_end.ignored, Some("other_subscription"));
        assert_eq!(plan_of(&store, id).await, "pro");
        // A first payment that fails (`incomplete`) does not give the plan.
        let (other_account, _) = support::account(&store, "subs@incomplete.test").await;
        let incomplete = apply(
            &store,
            SubscriptionEvent {
                plan: Some("pro".into()),
                status: Some("incomplete".into()),
                ..event(&other_account.id, "sub_c", 1_000)
            },
        )
        .await;
        assert_eq!(incomplete.plan_changed, None);
        assert_eq!(plan_of(&store, &other_account.id).await, "free");
    }
);

both_backends!(
    an_unpaid_subscription_is_noticed_and_suspended_once_and_lifted_when_paid,
    |db: TestDb| async move {
        let store = support::store(&db).await;
        let (account, _) = support::account(&store, "subs@unpaid.test").await;
        let mut raw = Raw::connect(&db).await;
        let id = account.id.clone();
        apply(
            &store,
            SubscriptionEvent {
                plan: Some("pro".into()),
                status: Some("active".into()),
                ..event(&id, "sub_u", 1_000)
            },
        )
        .await;
        apply(
            &store,
            SubscriptionEvent {
                payment: Some(PaymentOutcome::Failed),
                ..event(&id, "sub_u", 2_000)
            },
        )
        .await;
        let due = store
            .past_due_subscriptions(10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].past_due_since, Some(2_000));
        // Eight nodes race for the first notice: one counts it.
        let notices: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let id = id.clone();
                tokio::spawn(async move { store.record_payment_notice(&id, 2_000, 0, 1).await })
            })
            .collect();
        let mut won = 0;
        for task in notices {
            if task
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}"))
            {
                won += 1;
            }
        }
        assert_eq!(won, 1);
        // A notice for a failure that is not the current one counts nothing.
        assert!(
            !store
                .record_payment_notice(&id, 1_999, 1, 2)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        let suspensions: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    store
                        .suspend_for_payment(
                            &id,
                            2_000,
                            UNPAID,
                            SuspendJobs::Finish,
                            support::audit(),
                        )
                        .await
                })
            })
            .collect();
        let mut suspended = 0;
        for task in suspensions {
            if task
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}"))
                .is_some()
            {
                suspended += 1;
            }
        }
        assert_eq!(suspended, 1);
        assert_eq!(raw.audit_rows(&id, action::ACCOUNT_SUSPENDED).await, 1);
        let now = store
            .get_account(&id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(now.state, AccountState::Suspended);
        assert_eq!(now.suspended_reason.as_deref(), Some(UNPAID));
        assert!(
            store
                .past_due_subscriptions(10)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
        // Paid (with a new plan on the same invoice: two audit entries in one change): the
        // suspension the sweep made is lifted, once.
        let paid = apply(
            &store,
            SubscriptionEvent {
                payment: Some(PaymentOutcome::Paid),
                plan: Some("starter".into()),
                ..event(&id, "sub_u", 3_000)
            },
        )
        .await;
        assert!(paid.unsuspended);
        assert_eq!(paid.plan_changed, Some(("pro".into(), "starter".into())));
        let row = paid.subscription.unwrap_or_else(|| panic!("no row"));
        assert_eq!((row.past_due_since, row.suspended_at), (None, None));
        let again = apply(
            &store,
            SubscriptionEvent {
                payment: Some(PaymentOutcome::Paid),
                ..event(&id, "sub_u", 3_000)
            },
        )
        .await;
        assert!(!again.unsuspended);
        assert_eq!(
            store
                .get_account(&id)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .state,
            AccountState::Active
        );
        assert_eq!(raw.audit_rows(&id, action::ACCOUNT_UNSUSPENDED).await, 1);

        // The operator's own suspension is theirs: a payment does not lift it, and the
        // sweep does not replace its reason.
        apply(
            &store,
            SubscriptionEvent {
                payment: Some(PaymentOutcome::Failed),
                ..event(&id, "sub_u", 4_000)
            },
        )
        .await;
        store
            .change_account_state(
                &id,
                StateChange::Suspend {
                    reason: "Abuse under review".into(),
                    until: None,
                    jobs: SuspendJobs::Finish,
                },
                support::audit(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let swept = store
            .suspend_for_payment(&id, 4_000, UNPAID, SuspendJobs::Finish, support::audit())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(swept.is_none());
        let paid = apply(
            &store,
            SubscriptionEvent {
                payment: Some(PaymentOutcome::Paid),
                ..event(&id, "sub_u", 5_000)
            },
        )
        .await;
        assert!(!paid.unsuspended);
        let now = store
            .get_account(&id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(now.suspended_reason.as_deref(), Some("Abuse under review"));

        // A terminated account takes no subscription changes.
        store
            .change_account_state(&id, StateChange::Terminate, support::audit())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = store
            .apply_subscription_event(event(&id, "sub_u", 6_000), support::audit())
            .await;
        support::assert_rule(refused, "account_terminated");
    }
);
