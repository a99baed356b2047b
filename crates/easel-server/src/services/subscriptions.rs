//! Plans paid as Stripe subscriptions.
//!
//! A member subscribes from the console's Plans page through Stripe Checkout (subscription
//! mode); switching between sold plans updates the subscription's price, going back to the
//! default plan cancels it at the end of the period, and the payment method is managed in
//! Stripe's billing portal. None of these changes the account directly: Stripe's webhooks
//! (`api::v1::payments::stripe`) do, through [`apply`], so what the account has is always
//! what Stripe bills.
//!
//! A renewal that fails makes the subscription past due. The sweep ([`sweep`]) mails the
//! owners when it fails, halfway and the day before, and suspends the account once
//! `payments.stripe.past_due_suspend_days` have passed; the payment succeeding lifts that
//! suspension (and only that one).

use easel_core::audit::{Actor, action};
use easel_core::credits::LedgerType;
use easel_core::mode::Mode;
use easel_core::roles::Role;
use easel_db::{
    AuditContext, DbError, NewCredit, Subscription, SubscriptionApplied, SubscriptionEvent,
};
use serde::Deserialize;

use crate::app::{App, AppState};
use crate::cli::output::day;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::Mail;
use crate::services::stripe_api::{self, HostedPage};

/// The reason of the suspensions the sweep makes; a payment lifts only a suspension with
/// exactly this reason.
pub const PAYMENT_SUSPENSION_REASON: &str = "The subscription's payment failed and stayed unpaid. Update the payment method on the Plans page: the account reopens as soon as the payment succeeds.";

/// How often a node looks for past-due subscriptions.
const SWEEP_EVERY_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// The plan a Stripe Price is sold as.
pub fn plan_of_price(app: &App, price: &str) -> Option<String> {
    app.config
        .plans
        .iter()
        .find(|(_, p)| p.stripe_price.as_deref() == Some(price))
        .map(|(name, _)| name.clone())
}

/// A sold plan by name, or `parameter_invalid` on `plan`.
fn sold_plan<'a>(app: &'a App, plan: &str) -> ApiResult<&'a str> {
    app.config
        .plan(plan)
        .and_then(|p| p.stripe_price.as_deref())
        .ok_or_else(|| {
            ApiError::invalid(
                "plan",
                format!("The plan `{plan}` cannot be bought here; contact us for it."),
            )
        })
}

/// Whether plans can be bought at all on this server.
pub fn selling(app: &App) -> bool {
    app.config.payments.stripe.checkout_enabled() && app.config.plans.values().any(|p| p.sold())
}

fn require_selling(app: &App) -> ApiResult<()> {
    if selling(app) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::service_unavailable,
            "Plans are not sold on this server; contact the operator to change plans.",
        ))
    }
}

/// Who subscribes.
#[derive(Debug, Clone, Copy)]
pub struct Subscriber<'a> {
    pub account_id: &'a str,
    /// Prefilled on Stripe's page for a new customer.
    pub email: &'a str,
}

/// Creates the Checkout Session (subscription mode) for `plan`; returns its id and the URL
/// of Stripe's page. Refused while the account has a running subscription (change it
/// instead: two subscriptions would bill twice).
pub async fn subscribe(
    state: &AppState,
    who: Subscriber<'_>,
    plan: &str,
    audit: AuditContext,
) -> ApiResult<(String, String)> {
    require_selling(state)?;
    let price = sold_plan(state, plan)?;
    let current = state.store.get_subscription(who.account_id).await?;
    if current.as_ref().is_some_and(Subscription::is_live) {
        return Err(ApiError::new(
            ErrorCode::subscription_active,
            "The account already has a subscription: change its plan instead of subscribing again.",
        )
        .param("plan"));
    }
    let public = state.config.public_url();
    let success = format!("{public}/console/plans?checkout=success");
    let cancel = format!("{public}/console/plans?checkout=canceled");
    let mut form: Vec<(&str, &str)> = vec![
        ("mode", "subscription"),
        ("line_items[0][price]", price),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", who.account_id),
        ("metadata[account_id]", who.account_id),
        ("metadata[plan]", plan),
        // Copied to the subscription, and from it to every invoice: how renewals find
        // their account.
        ("subscription_data[metadata][account_id]", who.account_id),
        ("subscription_data[metadata][plan]", plan),
        ("success_url", &success),
        ("cancel_url", &cancel),
        ("locale", "auto"),
    ];
    // A returning customer keeps their Stripe customer (saved cards, invoices).
    match &current {
        Some(old) => form.push(("customer", &old.customer_id)),
        None => form.push(("customer_email", who.email)),
    }
    let what = "start the subscription";
    let session: HostedPage =
        stripe_api::call(state, "/v1/checkout/sessions", Some(&form), what).await?;
    let (id, url) = session.url(what)?;
    tracing::info!(account.id = who.account_id, session.id = %id, plan, "Stripe subscription Checkout Session created");
    record(
        state,
        who.account_id,
        action::SUBSCRIPTION_CHECKOUT_CREATED,
        ("checkout_session", &id),
        audit.with("plan", plan),
    )
    .await;
    Ok((id, url))
}

/// An audit line about a call to Stripe that already happened: losing it must not fail
/// the member's request.
async fn record(
    state: &AppState,
    account_id: &str,
    name: &'static str,
    target: (&str, &str),
    audit: AuditContext,
) {
    let recorded = state
        .store
        .append_audit(Some(account_id), name, target, audit)
        .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "could not record a subscription change in the audit log");
    }
}

/// The account's running subscription, or `subscription_missing`.
async fn live_subscription(state: &AppState, account_id: &str) -> ApiResult<Subscription> {
    match state.store.get_subscription(account_id).await? {
        Some(s) if s.is_live() => Ok(s),
        _ => Err(ApiError::new(
            ErrorCode::subscription_missing,
            "The account has no subscription to change; subscribe to a plan first.",
        )),
    }
}

#[derive(Debug, Deserialize)]
struct StripeSubscription {
    items: List<Item>,
}

#[derive(Debug, Deserialize)]
struct List<T> {
    data: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct Item {
    id: String,
}

/// What a member asks of their subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Move the account to this plan (another sold plan now, the default plan when the
    /// period paid for ends).
    MoveTo(&'a str),
    /// Keep the current plan: undo a cancellation at the period's end.
    Keep,
}

/// What a request means for the subscription at Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    /// Another sold plan, from now (Stripe prorates).
    Plan(String),
    /// Back to the default plan when the period paid for ends.
    CancelAtPeriodEnd,
    /// Keep renewing after all.
    Resume,
}

/// What moving the account to `plan` means for its subscription.
fn change_to(state: &AppState, current: &Subscription, plan: &str) -> ApiResult<Change> {
    if plan == state.config.default_plan {
        return Ok(Change::CancelAtPeriodEnd);
    }
    sold_plan(state, plan)?;
    if plan == current.plan {
        return Ok(Change::Resume);
    }
    Ok(Change::Plan(plan.to_string()))
}

/// Asks Stripe to change the account's subscription; the webhook that follows applies it.
pub async fn change(
    state: &AppState,
    account_id: &str,
    request: Request<'_>,
    audit: AuditContext,
) -> ApiResult<()> {
    require_selling(state)?;
    let current = live_subscription(state, account_id).await?;
    let change = match request {
        Request::MoveTo(plan) => change_to(state, &current, plan)?,
        Request::Keep => Change::Resume,
    };
    let path = format!("/v1/subscriptions/{}", current.subscription_id);
    let what = "change the subscription";
    let detail = match &change {
        Change::Plan(plan) => {
            let price = sold_plan(state, plan)?;
            // The item to re-price: a subscription made here has exactly one.
            let found: StripeSubscription = stripe_api::call(state, &path, None, what).await?;
            let Some(item) = found.items.data.first() else {
                return Err(stripe_api::unavailable(
                    what,
                    &format!("{} has no items", current.subscription_id),
                ));
            };
            let form = [
                ("items[0][id]", item.id.as_str()),
                ("items[0][price]", price),
                ("proration_behavior", "create_prorations"),
                ("cancel_at_period_end", "false"),
                ("metadata[plan]", plan.as_str()),
            ];
            stripe_api::call::<serde_json::Value>(state, &path, Some(&form), what).await?;
            format!("plan {plan}")
        }
        Change::CancelAtPeriodEnd | Change::Resume => {
            let cancel = if change == Change::Resume {
                "false"
            } else {
                "true"
            };
            let form = [("cancel_at_period_end", cancel)];
            stripe_api::call::<serde_json::Value>(state, &path, Some(&form), what).await?;
            format!("cancel_at_period_end {cancel}")
        }
    };
    tracing::info!(account.id = account_id, subscription = %current.subscription_id, change = %detail, "subscription change requested");
    record(
        state,
        account_id,
        action::SUBSCRIPTION_CHANGE_REQUESTED,
        ("subscription", &current.subscription_id),
        audit.with("change", detail),
    )
    .await;
    Ok(())
}

/// A billing portal session for the account's Stripe customer (payment method, invoices,
/// cancellation); returns the portal's URL.
pub async fn portal(state: &AppState, account_id: &str) -> ApiResult<String> {
    require_selling(state)?;
    let Some(current) = state.store.get_subscription(account_id).await? else {
        return Err(ApiError::new(
            ErrorCode::subscription_missing,
            "The account has never subscribed, so Stripe has no billing details for it yet.",
        ));
    };
    let back = format!("{}/console/plans", state.config.public_url());
    let form = [
        ("customer", current.customer_id.as_str()),
        ("return_url", back.as_str()),
    ];
    let what = "open the billing portal";
    let session: HostedPage =
        stripe_api::call(state, "/v1/billing_portal/sessions", Some(&form), what).await?;
    Ok(session.url(what)?.1)
}

/// A paid invoice that brings the plan's monthly credits: its id is the ledger reference
/// that credits it once.
#[derive(Debug, Clone)]
pub struct PaidPeriod {
    pub invoice_id: String,
}

/// What a webhook delivery did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Monthly credits added now.
    pub credited: i64,
    /// The invoice was credited already (a redelivery).
    pub duplicate: bool,
}

/// Applies one Stripe event to the account's subscription and plan, then credits the plan's
/// monthly credits for a paid period, once per invoice.
pub async fn apply(
    app: &App,
    event: SubscriptionEvent,
    period: Option<PaidPeriod>,
    audit: AuditContext,
) -> ApiResult<Applied> {
    let account_id = event.account_id.clone();
    let applied: SubscriptionApplied = match app
        .store
        .apply_subscription_event(event, audit.another())
        .await
    {
        Ok(applied) => applied,
        // Termination is final: Stripe is told the event was received, nothing changes.
        Err(DbError::Rule(easel_core::DomainError::Invalid {
            code: "account_terminated",
            ..
        })) => {
            tracing::info!(account.id = %account_id, "stripe subscription event for a terminated account ignored");
            return Ok(Applied::default());
        }
        Err(DbError::NotFound) => return Err(ApiError::not_found("account", &account_id)),
        Err(e) => return Err(e.into()),
    };
    if let Some(why) = applied.ignored {
        tracing::info!(account.id = %account_id, why, "stripe subscription event changed nothing");
    }
    if applied.plan_changed.is_some() || applied.unsuspended {
        app.auth.invalidate_account(&account_id);
    }
    if let Some((from, to)) = &applied.plan_changed {
        tracing::info!(account.id = %account_id, from = %from, to = %to, "plan changed by its subscription");
    }
    let Some(period) = period else {
        return Ok(Applied::default());
    };
    // The credits of the plan the subscription pays for (after this event).
    let plan = match &applied.subscription {
        Some(s) => s.plan.clone(),
        None => return Ok(Applied::default()),
    };
    let credits = app.config.plan(&plan).map_or(0, |p| p.monthly_credits);
    if credits <= 0 {
        return Ok(Applied::default());
    }
    let new = NewCredit {
        account_id: account_id.clone(),
        mode: Mode::Live,
        entry_type: LedgerType::PlanAllowance,
        amount: credits,
        reference: Some(("stripe_invoice".into(), period.invoice_id.clone())),
        reason: Some(format!("{plan} plan, Stripe invoice {}", period.invoice_id)),
        audit: audit.with("stripe_invoice", period.invoice_id.as_str()),
    };
    match app.store.add_credits(new).await {
        Ok(entry) => Ok(Applied {
            credited: entry.amount,
            duplicate: false,
        }),
        Err(DbError::Conflict(_)) => Ok(Applied {
            credited: 0,
            duplicate: true,
        }),
        Err(DbError::Rule(_)) => Ok(Applied::default()),
        Err(e) => Err(e.into()),
    }
}

/// The days after the first failure on which notices go out: at once, halfway, and the day
/// before the suspension (fewer when the grace is short).
pub fn notice_days(suspend_days: u32) -> Vec<i64> {
    let n = i64::from(suspend_days);
    let mut days = vec![0, n / 2, n - 1];
    days.retain(|d| *d >= 0 && *d < n);
    days.dedup();
    days
}

/// What the sweep should do for a past-due subscription now.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Mail notice number `to` (1-based), counting every earlier one as sent.
    Notice {
        to: i32,
    },
    Suspend,
}

/// The sweep's next step for `s` at `now` (pure: the schedule, apart from the mail and SQL).
pub fn next_step(s: &Subscription, suspend_days: u32, now: i64) -> Step {
    let Some(since) = s.past_due_since else {
        return Step::Nothing;
    };
    if now >= since + i64::from(suspend_days) * DAY_MS {
        return Step::Suspend;
    }
    // After downtime, only the latest notice due goes out.
    let due = notice_days(suspend_days)
        .iter()
        .filter(|d| now >= since + *d * DAY_MS)
        .count() as i32;
    if due > s.notices_sent {
        Step::Notice { to: due }
    } else {
        Step::Nothing
    }
}

/// Whom to tell about an account's payments: its owners and its contact address.
async fn billing_contacts(app: &App, account_id: &str) -> ApiResult<Vec<String>> {
    let account = app.store.get_account(account_id).await?;
    let mut to: Vec<String> = app
        .store
        .list_members(account_id)
        .await?
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .map(|m| m.email)
        .collect();
    to.push(account.contact_email);
    to.sort();
    to.dedup();
    Ok(to)
}

/// Every minute or so (per node) until the work is done: mails the notices that are due
/// and suspends the accounts whose payment stayed failed too long. Each step is counted
/// in the database before it acts, so of several nodes exactly one mails a notice and one
/// suspends.
pub async fn sweep(app: &App, last_run: &mut i64, now: i64) {
    if !app.config.payments.stripe.enabled() || now - *last_run < SWEEP_EVERY_MS {
        return;
    }
    *last_run = now;
    let due = match app.store.past_due_subscriptions(100).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for past-due subscriptions");
            return;
        }
    };
    for s in due {
        if let Err(e) = step(app, &s, now).await {
            tracing::warn!(account.id = %s.account_id, error = ?e.message, "past-due subscription step failed; will retry");
        }
    }
}

async fn step(app: &App, s: &Subscription, now: i64) -> ApiResult<()> {
    let days = app.config.payments.stripe.past_due_suspend_days;
    let Some(since) = s.past_due_since else {
        return Ok(());
    };
    let suspend_on = day(since + i64::from(days) * DAY_MS);
    let plans = format!("{}/console/plans", app.config.public_url());
    match next_step(s, days, now) {
        Step::Nothing => Ok(()),
        Step::Notice { to } => {
            if !app
                .store
                .record_payment_notice(&s.account_id, since, s.notices_sent, to)
                .await?
            {
                return Ok(());
            }
            let body = format!(
                "The payment for your {plan} plan on {public} failed on {failed}.\n\n\
                 Update your payment method in the billing portal ({plans}, \"Manage billing\"). \
                 If the payment has not succeeded by {suspend_on}, the account is suspended \
                 and its API keys stop working until it does.\n",
                plan = s.plan,
                public = app.config.public_url(),
                failed = day(since),
            );
            let subject = format!("Payment failed: update your payment method before {suspend_on}");
            tell(app, &s.account_id, &subject, &body).await?;
            let audit = AuditContext::new(Actor::system(), None)
                .with("notice", to)
                .with("suspend_on", suspend_on.as_str());
            // The notice went out and is counted; a lost audit line must not resend it.
            if let Err(e) = app
                .store
                .append_audit(
                    Some(&s.account_id),
                    action::SUBSCRIPTION_PAYMENT_NOTICE,
                    ("subscription", &s.subscription_id),
                    audit,
                )
                .await
            {
                tracing::warn!(account.id = %s.account_id, error = %e, "could not record a payment notice in the audit log");
            }
            Ok(())
        }
        Step::Suspend => {
            let audit = AuditContext::new(Actor::system(), None)
                .with("subscription", s.subscription_id.as_str());
            let suspended = app
                .store
                .suspend_for_payment(
                    &s.account_id,
                    since,
                    PAYMENT_SUSPENSION_REASON,
                    // Work already paid for finishes.
                    easel_db::SuspendJobs::Finish,
                    audit,
                )
                .await?;
            if suspended.is_none() {
                return Ok(());
            }
            app.auth.invalidate_account(&s.account_id);
            tracing::warn!(account.id = %s.account_id, subscription = %s.subscription_id, "account suspended: subscription payment unpaid");
            let body = format!(
                "The payment for your {plan} plan on {public} has been failing since {failed}, \
                 so the account is now suspended: its API keys are refused.\n\n\
                 Update your payment method in the billing portal ({plans}, \"Manage billing\"); \
                 the account reopens as soon as the payment succeeds.\n",
                plan = s.plan,
                public = app.config.public_url(),
                failed = day(since),
            );
            tell(
                app,
                &s.account_id,
                "Account suspended: payment failed",
                &body,
            )
            .await
        }
    }
}

async fn tell(app: &App, account_id: &str, subject: &str, body: &str) -> ApiResult<()> {
    for to in billing_contacts(app, account_id).await? {
        app.mailer
            .send(Mail {
                to,
                subject: subject.to_string(),
                body: body.to_string(),
            })
            .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn past_due(since: i64, sent: i32) -> Subscription {
        Subscription {
            account_id: "acct_1".into(),
            subscription_id: "sub_1".into(),
            customer_id: "cus_1".into(),
            plan: "pro".into(),
            status: "past_due".into(),
            current_period_end: None,
            cancel_at_period_end: false,
            past_due_since: Some(since),
            notices_sent: sent,
            suspended_at: None,
            last_event_at: since,
            created_at: 0,
            updated_at: since,
        }
    }

    #[test]
    fn notices_go_out_at_once_halfway_and_the_day_before() {
        assert_eq!(notice_days(7), vec![0, 3, 6]);
        assert_eq!(notice_days(2), vec![0, 1]);
        assert_eq!(notice_days(1), vec![0]);
        let t0 = 1_000_000;
        assert_eq!(next_step(&past_due(t0, 0), 7, t0), Step::Notice { to: 1 });
        assert_eq!(next_step(&past_due(t0, 1), 7, t0 + DAY_MS), Step::Nothing);
        assert_eq!(
            next_step(&past_due(t0, 1), 7, t0 + 3 * DAY_MS),
            Step::Notice { to: 2 }
        );
        assert_eq!(
            next_step(&past_due(t0, 2), 7, t0 + 6 * DAY_MS),
            Step::Notice { to: 3 }
        );
        assert_eq!(
            next_step(&past_due(t0, 3), 7, t0 + 7 * DAY_MS - 1),
            Step::Nothing
        );
        assert_eq!(
            next_step(&past_due(t0, 3), 7, t0 + 7 * DAY_MS),
            Step::Suspend
        );
        // A node that was down for days sends only the latest notice due.
        assert_eq!(
            next_step(&past_due(t0, 0), 7, t0 + 6 * DAY_MS),
            Step::Notice { to: 3 }
        );
        // Past the grace, the suspension comes first, whatever was mailed.
        assert_eq!(
            next_step(&past_due(t0, 0), 7, t0 + 30 * DAY_MS),
            Step::Suspend
        );
    }
}
