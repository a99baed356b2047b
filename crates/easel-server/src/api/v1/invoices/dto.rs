//! The invoice object.

use easel_core::time::ms_to_secs;
use easel_db::{Invoice, InvoiceBuyer, InvoiceLine, InvoiceLineKind, InvoiceSeller};
use serde::Serialize;
use utoipa::ToSchema;

/// What a line bills.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceLineKindObject {
    /// Succeeded generations of one model at one price.
    Generation,
    /// Requests refused as invalid and charged the invalid-input fee.
    InvalidInputFee,
}

/// One line: `quantity` × unit price = amount, exactly. Euros have three decimals
/// (1 credit = €0.001) and exclude VAT.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceLineObject {
    pub kind: InvoiceLineKindObject,
    /// The model of a generation line; null for fees.
    pub model: Option<String>,
    /// Succeeded generations (or charged requests).
    pub quantity: i64,
    pub unit_price_credits: i64,
    /// Decimal string, e.g. `"0.015"`.
    pub unit_price_eur: String,
    pub amount_credits: i64,
    pub amount_eur: String,
}

/// The operator selling, as printed on the invoice.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceSellerObject {
    pub name: String,
    pub address: String,
    /// Empty if the operator has none.
    pub vat_id: String,
    pub email: String,
}

/// The account billed, with its details as they were when the invoice was issued.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceBuyerObject {
    pub account_id: String,
    pub name: String,
    pub legal_name: Option<String>,
    pub email: String,
    pub address: Option<String>,
    pub country: Option<String>,
}

/// A monthly invoice in EUR excluding tax: the account's succeeded generations (and any
/// invalid-input fees) of one UTC calendar month. Issued once, after the month closed,
/// and never changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceObject {
    /// Always `invoice`.
    #[schema(value_type = String, example = "invoice")]
    pub object: &'static str,
    /// `inv_…`
    pub id: String,
    /// Sequential without gaps across the installation, per year: `EASEL-2026-000001`.
    pub number: String,
    /// `issued`.
    pub status: String,
    pub livemode: bool,
    /// Always `eur`.
    #[schema(value_type = String, example = "eur")]
    pub currency: &'static str,
    /// The month billed, `YYYY-MM` (UTC).
    pub period: String,
    /// Unix seconds: the month's first instant.
    pub period_start: i64,
    /// Unix seconds: the next month's first instant (excluded).
    pub period_end: i64,
    pub seller: InvoiceSellerObject,
    pub buyer: InvoiceBuyerObject,
    pub lines: Vec<InvoiceLineObject>,
    pub subtotal_credits: i64,
    pub subtotal_eur: String,
    /// Equal to the subtotal: amounts exclude VAT and no tax is added.
    pub total_credits: i64,
    pub total_eur: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// `GET` it (with the same key) for the PDF.
    pub pdf_url: String,
}

impl From<Invoice> for InvoiceObject {
    fn from(i: Invoice) -> Self {
        InvoiceObject {
            object: "invoice",
            pdf_url: format!("/v1/invoices/{}/pdf", i.id),
            id: i.id,
            number: i.number,
            status: i.status,
            livemode: i.mode.is_live(),
            currency: "eur",
            period: i.period,
            period_start: ms_to_secs(i.period_start),
            period_end: ms_to_secs(i.period_end),
            seller: seller(i.seller),
            buyer: buyer(i.buyer),
            lines: i.lines.into_iter().map(line).collect(),
            subtotal_credits: i.subtotal_credits,
            total_credits: i.subtotal_credits,
            total_eur: i.subtotal_eur.clone(),
            subtotal_eur: i.subtotal_eur,
            issued_at: ms_to_secs(i.issued_at),
        }
    }
}

fn seller(s: InvoiceSeller) -> InvoiceSellerObject {
    InvoiceSellerObject {
        name: s.name,
        address: s.address,
        vat_id: s.vat_id,
        email: s.email,
    }
}

fn buyer(b: InvoiceBuyer) -> InvoiceBuyerObject {
    InvoiceBuyerObject {
        account_id: b.account_id,
        name: b.name,
        legal_name: b.legal_name,
        email: b.email,
        address: b.address,
        country: b.country,
    }
}

fn line(l: InvoiceLine) -> InvoiceLineObject {
    InvoiceLineObject {
        kind: match l.kind {
            InvoiceLineKind::Generation => InvoiceLineKindObject::Generation,
            InvoiceLineKind::InvalidInputFee => InvoiceLineKindObject::InvalidInputFee,
        },
        model: l.model,
        quantity: l.quantity,
        unit_price_credits: l.unit_price_credits,
        unit_price_eur: l.unit_price_eur,
        amount_credits: l.amount_credits,
        amount_eur: l.amount_eur,
    }
}
