//! `POST /v1/payments/stripe/webhook`: credit top-ups paid through Stripe Checkout.
//!
//! Stripe signs each delivery in `Stripe-Signature`; it is checked over the raw body bytes
//! (never a re-serialised JSON) before anything is read from it (`signature.rs`). What the
//! event pays for is read in `session.rs`.
//!
//! A paid Checkout session credits the account's live balance exactly once: the ledger
//! entry's reference is `("payment", <session id>)`, which the ledger's unique index
//! accepts only once per account, so a redelivery, a replay or a second event about the
//! same session is answered 200 `duplicate` with nothing written. Events that do not pay
//! for anything are answered 200 too, so Stripe stops sending them.

mod session;
mod signature;
mod subscription;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use easel_core::audit::{Actor, ActorType};
use easel_core::credits::LedgerType;
use easel_core::mode::Mode;
use easel_db::{AuditContext, DbError, NewCredit};
use serde::Serialize;
use utoipa::ToSchema;

use self::session::{Event, Purchase, purchase_of};
use self::signature::check_signature;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode, ErrorEnvelope};
use crate::http::middleware::RequestId;

/// The header Stripe signs deliveries in.
const SIGNATURE_HEADER: &str = "stripe-signature";

/// The answer to a delivery Stripe should not send again.
#[derive(Debug, Serialize, ToSchema)]
pub struct StripeWebhookReceipt {
    /// Always `true`.
    pub received: bool,
    /// Credits added by this delivery: 0 for a duplicate or an event that pays nothing.
    pub credited: i64,
    /// The session or invoice was already credited (a redelivery or a second event about
    /// it).
    pub duplicate: bool,
}

/// Receive a Stripe webhook
///
/// Point a Stripe webhook endpoint here and set `payments.stripe.webhook_secret`. No API
/// key: the `Stripe-Signature` header is the permission.
///
/// Credits: a paid Checkout Session in `payment` mode (events `checkout.session.completed`,
/// `checkout.session.async_payment_succeeded`) credits the live balance of the account in
/// `client_reference_id` (or `metadata.account_id`) with `metadata.credits`, or else with
/// its EUR `amount_total` × `credits_per_eur` / 100, exactly once per session.
///
/// Plans: for subscriptions started from the console (their metadata names the account),
/// `checkout.session.completed` in `subscription` mode applies the plan, `invoice.paid`
/// of a period (first or renewal) credits the plan's monthly credits exactly once per
/// invoice and ends a failed payment, `invoice.payment_failed` starts the failed-payment
/// grace period, and `customer.subscription.updated` / `.deleted` follow plan changes,
/// cancellations and the end of the subscription (back to the default plan). Events older
/// than the last one applied to a subscription change nothing.
///
/// Other events, and subscriptions Easel did not create, are acknowledged and ignored. A
/// bad signature, a stale timestamp or an event that cannot be read is 400; an unknown
/// account 404.
#[utoipa::path(
    post,
    path = "/v1/payments/stripe/webhook",
    tag = tags::BILLING,
    operation_id = "receive_stripe_webhook",
    security(()),
    params(
        ("Stripe-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"{t}.{body}\">`, as Stripe sends it"),
    ),
    request_body(content = Object, content_type = "application/json", description = "A Stripe event, byte for byte as Stripe sent it"),
    responses(
        (status = 200, description = "Received: credited, already credited, or ignored", body = StripeWebhookReceipt),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn receive_stripe_webhook(
    state: AppState,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<StripeWebhookReceipt>> {
    let stripe = &state.config.payments.stripe;
    if !stripe.enabled() {
        return Err(ApiError::new(
            ErrorCode::resource_missing,
            "Stripe payments are not configured.",
        ));
    }
    let now = easel_core::time::now_ms() / 1000;
    check_signature(stripe, headers.get(SIGNATURE_HEADER), &body, now)?;
    let event = Event::parse(&body)?;
    let request_id = request_id.map(|Extension(id)| id.0);
    if let Some(purchase) = purchase_of(&event, stripe.credits_per_eur)? {
        return credit(&state, &event, purchase, request_id).await;
    }
    if let Some((change, period)) = subscription::change_of(&state, &event)? {
        let audit = stripe_audit(&event, request_id)
            .with("stripe_subscription", change.subscription_id.as_str());
        let applied = crate::services::subscriptions::apply(&state, change, period, audit).await?;
        return Ok(receipt(applied.credited, applied.duplicate));
    }
    tracing::debug!(stripe.event = %event.id, stripe.type = %event.kind, "stripe event ignored");
    Ok(receipt(0, false))
}

/// The audit context of what an event does: Stripe as the actor, the event named.
fn stripe_audit(event: &Event, request_id: Option<String>) -> AuditContext {
    let actor = Actor {
        kind: ActorType::System,
        id: "stripe".into(),
    };
    AuditContext::new(actor, request_id)
        .with("stripe_event", event.id.as_str())
        .with("stripe_livemode", event.livemode)
}

/// Adds the purchase to the ledger, once.
async fn credit(
    state: &AppState,
    event: &Event,
    purchase: Purchase,
    request_id: Option<String>,
) -> ApiResult<Json<StripeWebhookReceipt>> {
    let audit = stripe_audit(event, request_id)
        .with("stripe_checkout_session", purchase.session_id.as_str());
    let new = NewCredit {
        account_id: purchase.account_id.clone(),
        mode: Mode::Live,
        entry_type: LedgerType::Purchase,
        amount: purchase.credits,
        reference: Some(("payment".into(), purchase.session_id.clone())),
        reason: Some(format!(
            "Stripe Checkout {} (event {})",
            purchase.session_id, event.id
        )),
        audit,
    };
    match state.store.add_credits(new).await {
        Ok(entry) => {
            tracing::info!(account.id = %purchase.account_id, stripe.session = %purchase.session_id, stripe.event = %event.id, credits = entry.amount, "stripe purchase credited");
            Ok(receipt(entry.amount, false))
        }
        Err(DbError::Conflict("ledger_entries_reference")) => {
            tracing::info!(account.id = %purchase.account_id, stripe.session = %purchase.session_id, stripe.event = %event.id, "stripe purchase already credited");
            Ok(receipt(0, true))
        }
        Err(DbError::NotFound) => Err(ApiError::not_found("account", &purchase.account_id)
            .param("data.object.client_reference_id")),
        Err(e) => Err(e.into()),
    }
}

/// A 200 answer.
fn receipt(credited: i64, duplicate: bool) -> Json<StripeWebhookReceipt> {
    Json(StripeWebhookReceipt {
        received: true,
        credited,
        duplicate,
    })
}
