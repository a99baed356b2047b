//! `/console/billing`: the ledger (every movement of credits, newest first, a page at a
//! time) and the monthly invoices with their PDFs (`/console/invoices/{id}/pdf`, the API's
//! own rendering). Both read `billing:read`, as `GET /v1/ledger` and `/v1/invoices` do.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use easel_core::ids::IdKind;
use easel_core::roles::Scope;
use easel_db::{LedgerFilter, Page};
use minijinja::context;

use super::keys::forbidden;
use super::member::Member;
use crate::api::v1::invoices::{check_id, pdf::pdf_response};
use crate::app::AppState;
use crate::console::pages::render;
use crate::http::error::ApiError;
use crate::services::OrNotFound;

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

/// `GET /console/billing`.
pub async fn page(state: AppState, member: Member, Query(paging): Query<Paging>) -> Response {
    if let Err(e) = member.require(Scope::BillingRead) {
        return forbidden(&member, e);
    }
    let after = paging.after.filter(|id| IdKind::LedgerEntry.is_valid(id));
    let page = Page {
        limit: PER_PAGE,
        starting_after: after.clone(),
    };
    let account = member.account.id.as_str();
    let (mut entries, invoices) = match tokio::try_join!(
        state
            .store
            .list_ledger(account, member.mode, LedgerFilter::default(), page),
        state
            .store
            .list_invoices(account, member.mode, Page::first(100))
    ) {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
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
        ledger => ledger,
        next => next,
        first_page => after.is_none(),
        invoices => invoices,
    };
    render(StatusCode::OK, "billing.html", ctx)
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
