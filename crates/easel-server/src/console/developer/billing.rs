//! `/console/billing`: the ledger (every movement of credits, newest first, a page at a
//! time) and the monthly invoices with their PDFs (`/console/invoices/{id}/pdf`, the API's
//! own rendering). Both read `billing:read`, as `GET /v1/ledger` and `/v1/invoices` do.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use easel_core::ids::IdKind;
use easel_core::roles::{Action, Scope};
use easel_db::{LedgerFilter, Page};
use minijinja::context;

use super::keys::forbidden;
use super::member::Member;
use crate::api::v1::invoices::{check_id, pdf::pdf_response};
use crate::app::AppState;
use crate::console::form::Form;
use crate::console::pages::render;
use crate::http::error::ApiError;
use crate::services::OrNotFound;
use crate::services::checkout::{self, TopUp};

/// Ledger entries per page.
const PER_PAGE: u32 = 50;

fn when(ms: i64) -> String {
    crate::cli::output::when(Some(ms.div_euclid(1000)))
}

/// `?after=led_…`: the page after that entry.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Paging {
    after: Option<String>,
}

/// `?after=led_…&checkout=success|canceled`: the page, as Stripe sends the member back.
#[derive(Debug, Default, serde::Deserialize)]
pub struct BillingQuery {
    after: Option<String>,
    checkout: Option<String>,
}

/// `GET /console/billing`.
pub async fn page(state: AppState, member: Member, Query(q): Query<BillingQuery>) -> Response {
    let notice = match q.checkout.as_deref() {
        Some("success") => Some(
            "Thank you: the payment went through. The credits appear here as soon as Stripe confirms it, usually within seconds.",
        ),
        Some("canceled") => Some("The payment was canceled; nothing was charged."),
        _ => None,
    };
    let paging = Paging { after: q.after };
    billing_page(&state, &member, paging, StatusCode::OK, None, notice).await
}

/// "Buy credits", when Stripe Checkout is set up: the amounts offered and whether this
/// member may buy (owners and admins manage billing).
fn buy(state: &AppState, member: &Member) -> Option<minijinja::Value> {
    let stripe = &state.config.payments.stripe;
    stripe.checkout_enabled().then(|| {
        let offers: Vec<_> = stripe
            .top_up_eur
            .iter()
            .map(|eur| context! { eur => eur, credits => eur.saturating_mul(stripe.credits_per_eur) })
            .collect();
        context! {
            offers => offers,
            min => stripe.min_top_up_eur,
            max => stripe.max_top_up_eur,
            credits_per_eur => stripe.credits_per_eur,
            allowed => member.caller.require_action(Action::ManageBilling).is_ok(),
        }
    })
}

async fn billing_page(
    state: &AppState,
    member: &Member,
    paging: Paging,
    status: StatusCode,
    error: Option<String>,
    notice: Option<&str>,
) -> Response {
    if let Err(e) = member.require(Scope::BillingRead) {
        return forbidden(member, e);
    }
    let after = paging.after.filter(|id| IdKind::LedgerEntry.is_valid(id));
    let page = Page {
        limit: PER_PAGE,
        starting_after: after.clone(),
    };
    let account = member.account.id.as_str();
    let (mut entries, invoices, card, subscription) = match tokio::try_join!(
        async {
            state
                .store
                .list_ledger(account, member.mode, LedgerFilter::default(), page)
                .await
                .map_err(ApiError::from)
        },
        async {
            state
                .store
                .list_invoices(account, member.mode, Page::first(100))
                .await
                .map_err(ApiError::from)
        },
        super::overview::credits(state, member),
        super::plans::past_due_notice(state, member),
    ) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    // The store reads one row more than asked, to tell whether another page exists.
    let more = entries.len() > PER_PAGE as usize;
    entries.truncate(PER_PAGE as usize);
    let next = more.then(|| entries.last().map(|e| e.id.clone())).flatten();
    let ledger: Vec<_> = entries
        .iter()
        .map(|e| {
            context! {
                when => when(e.created_at),
                kind => serde_json::to_value(e.entry_type).ok().and_then(|v| v.as_str().map(str::to_string)),
                amount => e.amount,
                held_change => e.held_change,
                balance_after => e.balance_after,
                held_after => e.held_after,
                reference => e.reference_id,
                reason => e.reason,
            }
        })
        .collect();
    let invoices: Vec<_> = invoices
        .iter()
        .take(100)
        .map(|i| {
            context! {
                id => i.id, number => i.number, period => i.period,
                credits => i.subtotal_credits, eur => i.subtotal_eur, issued => when(i.issued_at),
            }
        })
        .collect();
    let ctx = context! {
        layout => member.layout("billing"),
        credits => card,
        subscription => subscription,
        buy => buy(state, member),
        error => error,
        notice => notice,
        ledger => ledger,
        next => next,
        first_page => after.is_none(),
        invoices => invoices,
    };
    render(status, "billing.html", ctx)
}

/// The "buy credits" form.
#[derive(Debug, serde::Deserialize)]
pub struct BuyForm {
    #[serde(default)]
    eur: String,
}

/// `POST /console/billing/checkout`: creates the Stripe Checkout Session for the live
/// balance and sends the member to Stripe's page.
pub async fn checkout(state: AppState, member: Member, Form(form): Form<BuyForm>) -> Response {
    let result = async {
        member.require(Scope::BillingRead)?;
        member.caller.require_action(Action::ManageBilling)?;
        if !member.mode.is_live() {
            return Err(ApiError::invalid(
                "mode",
                "Credits are bought for live mode; switch to live mode first. Test mode charges nothing.",
            ));
        }
        let eur: u64 = form.eur.trim().parse().map_err(|_| {
            ApiError::invalid("eur", "Choose an amount in whole euros.")
        })?;
        let top_up = TopUp {
            account_id: &member.account.id,
            email: &member.user.email,
            eur,
        };
        checkout::create_session(&state, top_up, member.caller.audit()).await
    }
    .await;
    match result {
        Ok((_, url)) => {
            let stripe = &state.config.payments.stripe;
            let eur = form.eur.trim();
            let credits = eur
                .parse::<u64>()
                .unwrap_or(0)
                .saturating_mul(stripe.credits_per_eur);
            let ctx = context! {
                layout => member.layout("billing"), url => url, eur => eur, credits => credits,
            };
            render(StatusCode::OK, "to_stripe.html", ctx)
        }
        Err(e) if e.code.status() == StatusCode::FORBIDDEN => forbidden(&member, e),
        Err(e) => {
            let status = e.code.status();
            let message = e.message.into_owned();
            billing_page(
                &state,
                &member,
                Paging::default(),
                status,
                Some(message),
                None,
            )
            .await
        }
    }
}

/// `GET /console/invoices/{id}/pdf`.
pub async fn invoice_pdf(state: AppState, member: Member, Path(id): Path<String>) -> Response {
    let found = async {
        member.require(Scope::BillingRead)?;
        check_id(&id)?;
        state
            .store
            .get_invoice(&member.account.id, member.mode, &id)
            .await
            .or_not_found("invoice", &id)
    }
    .await;
    match found {
        Ok(invoice) => pdf_response(&invoice),
        Err(e) if e.code.status() == StatusCode::FORBIDDEN => forbidden(&member, e),
        Err(e) => e.into_response(),
    }
}
