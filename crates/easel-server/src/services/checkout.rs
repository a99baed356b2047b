//! Buying credits: a Stripe Checkout Session (payment mode, EUR) for an account's live
//! balance. Stripe hosts the payment page; its `checkout.session.completed` webhook
//! (`api::v1::payments::stripe`) credits the session exactly once, from the
//! `metadata.credits` written here.
//!
//! The call itself goes through `stripe_api`.

use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::services::stripe_api::{self, HostedPage};

/// A top-up to pay for.
#[derive(Debug, Clone)]
pub struct TopUp<'a> {
    pub account_id: &'a str,
    /// Prefilled on Stripe's page, and where Stripe mails the receipt.
    pub email: &'a str,
    pub eur: u64,
}

/// Whole euros a member may buy now: one of the offered amounts or within the range.
pub fn check_amount(state: &AppState, eur: u64) -> ApiResult<()> {
    let stripe = &state.config.payments.stripe;
    if (stripe.min_top_up_eur..=stripe.max_top_up_eur).contains(&eur) {
        return Ok(());
    }
    Err(ApiError::invalid(
        "eur",
        format!(
            "A top-up is between €{} and €{}, in whole euros.",
            stripe.min_top_up_eur, stripe.max_top_up_eur
        ),
    ))
}

/// Creates the Checkout Session for `top_up`; returns its id and the URL of Stripe's page.
/// The session is recorded in the account's audit log (`credits.checkout_created`).
pub async fn create_session(
    state: &AppState,
    top_up: TopUp<'_>,
    audit: easel_db::AuditContext,
) -> ApiResult<(String, String)> {
    let stripe = &state.config.payments.stripe;
    if !stripe.checkout_enabled() {
        return Err(ApiError::new(
            ErrorCode::service_unavailable,
            "Buying credits is not set up on this server.",
        ));
    }
    check_amount(state, top_up.eur)?;
    let credits = top_up.eur.saturating_mul(stripe.credits_per_eur);
    let public = state.config.public_url.trim_end_matches('/');
    let cents = top_up.eur.saturating_mul(100).to_string();
    let credits_text = credits.to_string();
    let success =
        format!("{public}/console/billing?checkout=success&session_id={{CHECKOUT_SESSION_ID}}");
    let cancel = format!("{public}/console/billing?checkout=canceled");
    let product = format!("{credits} credits");
    let form: [(&str, &str); 14] = [
        ("mode", "payment"),
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][currency]", "eur"),
        ("line_items[0][price_data][unit_amount]", &cents),
        ("line_items[0][price_data][product_data][name]", &product),
        ("client_reference_id", top_up.account_id),
        ("customer_email", top_up.email),
        ("metadata[account_id]", top_up.account_id),
        ("metadata[credits]", &credits_text),
        // Stripe copies the metadata to the payment, so refunds can be traced too.
        (
            "payment_intent_data[metadata][account_id]",
            top_up.account_id,
        ),
        ("payment_intent_data[metadata][credits]", &credits_text),
        ("success_url", &success),
        ("cancel_url", &cancel),
        ("locale", "auto"),
    ];
    let what = "start the payment";
    let session: HostedPage =
        stripe_api::call(state, "/v1/checkout/sessions", Some(&form), what).await?;
    let (id, page) = session.url(what)?;
    tracing::info!(account.id = top_up.account_id, session.id = %id, eur = top_up.eur, "Stripe Checkout Session created");
    let recorded = state
        .store
        .append_audit(
            Some(top_up.account_id),
            easel_core::audit::action::CHECKOUT_CREATED,
            ("checkout_session", &id),
            audit,
        )
        .await;
    // The payment page exists either way; a lost audit line must not strand the member.
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "could not record a checkout session in the audit log");
    }
    Ok((id, page))
}
