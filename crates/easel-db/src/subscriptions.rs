//! Plans paid as Stripe subscriptions: what the store keeps of each, what Stripe's webhooks
//! change, and the failed-payment sweep's steps.
//!
//! One row per account (its current or last subscription). Every change arrives as a
//! [`SubscriptionEvent`] and is applied in one transaction under the account's lock, with
//! the plan change and the lifting of a payment suspension it implies, so two deliveries
//! racing on two nodes apply in order or not at all. An event older than the newest one
//! applied changes nothing: Stripe does not deliver in order.

use async_trait::async_trait;

use crate::{Account, AuditContext, DbResult, SuspendJobs};

/// The subscription paying (or that paid) for an account's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub account_id: String,
    /// `sub_…`
    pub subscription_id: String,
    /// `cus_…`: whose billing portal the console opens.
    pub customer_id: String,
    /// The plan it pays for.
    pub plan: String,
    /// Stripe's word: `active`, `past_due`, `unpaid`, `canceled`, `incomplete`, …
    pub status: String,
    /// When the period paid for ends (ms).
    pub current_period_end: Option<i64>,
    /// It ends then instead of renewing.
    pub cancel_at_period_end: bool,
    /// When a payment first failed, while it still has (ms).
    pub past_due_since: Option<i64>,
    /// Failed-payment notices mailed since then.
    pub notices_sent: i32,
    /// When the sweep suspended the account for it (ms).
    pub suspended_at: Option<i64>,
    /// The `created` time of the newest event applied (ms).
    pub last_event_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Subscription {
    /// Whether it still pays (or tries to pay) for the plan: not ended, not abandoned at
    /// its first payment.
    pub fn is_live(&self) -> bool {
        status_is_live(&self.status)
    }
}

/// Whether a Stripe subscription status means the subscription still runs.
pub fn status_is_live(status: &str) -> bool {
    !matches!(status, "canceled" | "incomplete_expired" | "incomplete")
}

/// What the payment in an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    Paid,
    Failed,
}

/// What one Stripe event says about an account's subscription.
#[derive(Debug, Clone)]
pub struct SubscriptionEvent {
    pub account_id: String,
    pub subscription_id: String,
    pub customer_id: String,
    /// The plan its price is (when the event names one).
    pub plan: Option<String>,
    /// The subscription's status, when the event carries the subscription.
    pub status: Option<String>,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: Option<bool>,
    pub payment: Option<PaymentOutcome>,
    /// The subscription was deleted: the account goes back to `fallback_plan`.
    pub ended: bool,
    /// The default plan, for an ended subscription.
    pub fallback_plan: String,
    /// The reason the sweep gives its suspensions: a suspension with this reason is lifted
    /// once the payment succeeds; any other (the operator's) stays.
    pub payment_suspension_reason: String,
    /// The event's `created` (ms).
    pub event_at: i64,
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionApplied {
    /// The row after the event (unchanged when `ignored`).
    pub subscription: Option<Subscription>,
    /// `(from, to)` when the account's plan changed.
    pub plan_changed: Option<(String, String)>,
    /// A payment suspension was lifted.
    pub unsuspended: bool,
    /// Why nothing changed, if nothing did.
    pub ignored: Option<&'static str>,
}

/// Subscriptions and their failed payments.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// The account's current or last subscription.
    async fn get_subscription(&self, account_id: &str) -> DbResult<Option<Subscription>>;

    /// Applies a Stripe event (see the module docs): creates the row for a subscription the
    /// account did not have (or replaces an ended one), updates its status, period and
    /// payment state, changes the account's plan (audit `account.plan_changed` with actor
    /// `audit`), and lifts a payment suspension once paid (`account.unsuspended`). An event
    /// about another subscription while one is live, or older than the newest applied,
    /// changes nothing. A terminated account is refused (`account_terminated`).
    async fn apply_subscription_event(
        &self,
        event: SubscriptionEvent,
        audit: AuditContext,
    ) -> DbResult<SubscriptionApplied>;

    /// Subscriptions whose payment has failed and that have not suspended their account
    /// yet, oldest failure first.
    async fn past_due_subscriptions(&self, limit: i64) -> DbResult<Vec<Subscription>>;

    /// Moves the count of notices mailed for the failure that began at `past_due_since`
    /// from `sent` to `to`, if no one moved it yet: of several nodes exactly one mails it.
    async fn record_payment_notice(
        &self,
        account_id: &str,
        past_due_since: i64,
        sent: i32,
        to: i32,
    ) -> DbResult<bool>;

    /// Suspends the account for the failure that began at `past_due_since`, once: `None`
    /// if it was done already or the payment succeeded meanwhile. An account the operator
    /// suspended already stays as it is (only marked), and a terminated one is left alone.
    async fn suspend_for_payment(
        &self,
        account_id: &str,
        past_due_since: i64,
        reason: &str,
        jobs: SuspendJobs,
        audit: AuditContext,
    ) -> DbResult<Option<Account>>;
}
