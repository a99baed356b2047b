//! Reading the Stripe events about plan subscriptions: a Checkout Session completed in
//! subscription mode, an invoice paid or failed, a subscription updated or deleted.
//!
//! The account is the one Easel wrote into the session (`client_reference_id`) and the
//! subscription's metadata (`account_id`, copied by Stripe to every invoice). Stripe moved
//! an invoice's subscription from `subscription` and `subscription_details` to
//! `parent.subscription_details`, and line prices from `price.id` to
//! `pricing.price_details.price` (API version 2025-03-31); both shapes are read. Events
//! about subscriptions Easel did not create (no `account_id`) are not ours and are ignored.

use easel_db::{PaymentOutcome, SubscriptionEvent};
use serde_json::Value;

use super::session::{Event, MAX_ID_LEN, invalid};
use crate::app::App;
use crate::http::error::ApiResult;
use crate::services::subscriptions::{PAYMENT_SUSPENSION_REASON, PaidPeriod, plan_of_price};

const SESSION_COMPLETED: &str = "checkout.session.completed";
const INVOICE_PAID: &str = "invoice.paid";
/// Sent with `invoice.paid` for invoices paid by charging; either credits once.
const INVOICE_PAYMENT_SUCCEEDED: &str = "invoice.payment_succeeded";
const INVOICE_PAYMENT_FAILED: &str = "invoice.payment_failed";
const SUBSCRIPTION_UPDATED: &str = "customer.subscription.updated";
const SUBSCRIPTION_DELETED: &str = "customer.subscription.deleted";

/// The id of an expandable field: the string, or the expanded object's `id`.
fn id_of(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("id").and_then(Value::as_str),
        _ => None,
    }
}

/// A Stripe id with the right prefix, or `stripe_event_invalid` on `param`.
fn checked_id(v: Option<&str>, prefix: &str, param: &'static str) -> ApiResult<String> {
    match v {
        Some(id) if id.starts_with(prefix) && id.len() <= MAX_ID_LEN => Ok(id.to_string()),
        _ => Err(invalid(
            param,
            format!("`{param}` must be a Stripe id like `{prefix}…`."),
        )),
    }
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The account a piece of Easel metadata names, if it names one.
fn account_in(metadata: Option<&Value>) -> ApiResult<Option<String>> {
    match metadata
        .and_then(|m| m.get("account_id"))
        .and_then(Value::as_str)
    {
        None | Some("") => Ok(None),
        Some(a) if a.len() <= MAX_ID_LEN => Ok(Some(a.to_string())),
        Some(_) => Err(invalid(
            "data.object.metadata.account_id",
            "The account id is too long.",
        )),
    }
}

/// A plan named in metadata, if it is one the server sells.
fn sold_plan_in(app: &App, metadata: Option<&Value>) -> Option<String> {
    let plan = metadata?.get("plan")?.as_str()?;
    app.config
        .plan(plan)
        .is_some_and(|p| p.sold())
        .then(|| plan.to_string())
}

/// The subscription change `event` makes, with the paid period it credits; `None` for an
/// event that is not about an Easel subscription.
pub(super) fn change_of(
    app: &App,
    event: &Event,
) -> ApiResult<Option<(SubscriptionEvent, Option<PaidPeriod>)>> {
    let object = &event.data.object;
    let kind = event.kind.as_str();
    let parsed = match kind {
        SESSION_COMPLETED => completed_session(app, object)?,
        INVOICE_PAID | INVOICE_PAYMENT_SUCCEEDED | INVOICE_PAYMENT_FAILED => {
            invoice(app, object, kind != INVOICE_PAYMENT_FAILED)?
        }
        SUBSCRIPTION_UPDATED | SUBSCRIPTION_DELETED => {
            subscription(app, object, kind == SUBSCRIPTION_DELETED)?
        }
        _ => None,
    };
    let Some((mut change, period)) = parsed else {
        return Ok(None);
    };
    if event.created <= 0 {
        return Err(invalid(
            "created",
            "The event has no `created` time to order it by.",
        ));
    }
    change.event_at = event.created.saturating_mul(1000);
    change.fallback_plan = app.config.default_plan.clone();
    change.payment_suspension_reason = PAYMENT_SUSPENSION_REASON.to_string();
    Ok(Some((change, period)))
}

fn base(account_id: String, subscription_id: String, customer_id: String) -> SubscriptionEvent {
    SubscriptionEvent {
        account_id,
        subscription_id,
        customer_id,
        plan: None,
        status: None,
        current_period_end: None,
        cancel_at_period_end: None,
        payment: None,
        ended: false,
        fallback_plan: String::new(),
        payment_suspension_reason: String::new(),
        event_at: 0,
    }
}

type Parsed = Option<(SubscriptionEvent, Option<PaidPeriod>)>;

/// A Checkout Session in subscription mode: the subscription starts.
fn completed_session(app: &App, s: &Value) -> ApiResult<Parsed> {
    if text(s, &["mode"]) != Some("subscription") {
        return Ok(None);
    }
    let metadata = s.get("metadata");
    let account = text(s, &["client_reference_id"])
        .map(str::to_string)
        .or(account_in(metadata)?);
    let Some(account) = account.filter(|a| a.len() <= MAX_ID_LEN) else {
        return Ok(None);
    };
    let subscription = checked_id(
        s.get("subscription").and_then(id_of),
        "sub_",
        "data.object.subscription",
    )?;
    let customer = checked_id(
        s.get("customer").and_then(id_of),
        "cus_",
        "data.object.customer",
    )?;
    let mut change = base(account, subscription, customer);
    change.plan = sold_plan_in(app, metadata);
    // Paid now, or free to start (a trial); a payment still pending starts nothing yet.
    change.status = Some(
        match text(s, &["payment_status"]) {
            Some("paid") => "active",
            Some("no_payment_required") => "trialing",
            _ => "incomplete",
        }
        .to_string(),
    );
    Ok(Some((change, None)))
}

/// The price ids on an invoice's lines, in both API shapes.
fn line_prices(invoice: &Value) -> impl Iterator<Item = &str> {
    invoice
        .pointer("/lines/data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|line| {
            line.pointer("/pricing/price_details/price")
                .and_then(id_of)
                .or_else(|| line.get("price").and_then(id_of))
        })
}

/// An invoice of a subscription, paid or failed.
fn invoice(app: &App, inv: &Value, paid: bool) -> ApiResult<Parsed> {
    let parent = inv.pointer("/parent/subscription_details");
    let subscription = parent
        .and_then(|p| p.get("subscription"))
        .or_else(|| inv.get("subscription"))
        .and_then(id_of);
    let metadata = parent
        .and_then(|p| p.get("metadata"))
        .or_else(|| inv.pointer("/subscription_details/metadata"));
    let (Some(subscription), Some(account)) = (subscription, account_in(metadata)?) else {
        // A one-off invoice, or a subscription Easel did not create.
        return Ok(None);
    };
    let reason = text(inv, &["billing_reason"]).unwrap_or_default();
    // The first invoice is paid inside Checkout: if it fails, there is no subscription
    // yet, and nothing is past due.
    if !paid && reason == "subscription_create" {
        return Ok(None);
    }
    let subscription = checked_id(Some(subscription), "sub_", "data.object.subscription")?;
    let customer = checked_id(
        inv.get("customer").and_then(id_of),
        "cus_",
        "data.object.customer",
    )?;
    let invoice_id = checked_id(text(inv, &["id"]), "in_", "data.object.id")?;
    let mut change = base(account, subscription, customer);
    change.payment = Some(if paid {
        PaymentOutcome::Paid
    } else {
        PaymentOutcome::Failed
    });
    // A period's invoice (first or renewal) brings the plan's monthly credits; a proration
    // invoice of a mid-period change does not, so switching plans back and forth gains
    // nothing.
    let period = paid && matches!(reason, "subscription_create" | "subscription_cycle");
    if period {
        change.plan = line_prices(inv)
            .find_map(|p| plan_of_price(app, p))
            .or_else(|| sold_plan_in(app, metadata));
        // The period this invoice pays for ends when the next renewal is due.
        change.current_period_end = inv
            .pointer("/lines/data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|line| line.pointer("/period/end").and_then(Value::as_i64))
            .max()
            .map(|s| s.saturating_mul(1000));
    }
    Ok(Some((change, period.then_some(PaidPeriod { invoice_id }))))
}

/// A subscription object, updated (status, plan, renewal) or deleted.
fn subscription(app: &App, sub: &Value, deleted: bool) -> ApiResult<Parsed> {
    let metadata = sub.get("metadata");
    let Some(account) = account_in(metadata)? else {
        return Ok(None);
    };
    let id = checked_id(text(sub, &["id"]), "sub_", "data.object.id")?;
    let customer = checked_id(
        sub.get("customer").and_then(id_of),
        "cus_",
        "data.object.customer",
    )?;
    let mut change = base(account, id, customer);
    let items = sub
        .pointer("/items/data")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    change.plan = items
        .iter()
        .filter_map(|i| i.pointer("/price/id").and_then(Value::as_str))
        .find_map(|p| plan_of_price(app, p));
    change.status = text(sub, &["status"])
        .filter(|s| s.len() <= 32)
        .map(str::to_string);
    change.cancel_at_period_end = sub.get("cancel_at_period_end").and_then(Value::as_bool);
    change.current_period_end = sub
        .get("current_period_end")
        .or_else(|| items.first().and_then(|i| i.get("current_period_end")))
        .and_then(Value::as_i64)
        .map(|s| s.saturating_mul(1000));
    change.ended = deleted;
    Ok(Some((change, None)))
}
