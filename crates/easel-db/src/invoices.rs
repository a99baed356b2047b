//! Invoices as the store reads and writes them: monthly, per account and mode, in EUR
//! excluding tax, issued once and never changed.
//!
//! Amounts are whole credits and, beside them, exact euros as decimal strings
//! (1 credit = €0.001, so three decimals, never a float), both fixed when the invoice is
//! issued.

use easel_core::mode::Mode;
use serde::{Deserialize, Serialize};

/// The seller's details printed on an invoice: the operator's, from `[invoicing]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSeller {
    pub name: String,
    pub address: String,
    /// VAT identification number; empty if the operator has none.
    pub vat_id: String,
    pub email: String,
}

/// The buyer's details as the account had them when the invoice was issued.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceBuyer {
    pub account_id: String,
    pub name: String,
    pub legal_name: Option<String>,
    pub email: String,
    pub address: Option<String>,
    pub country: Option<String>,
}

/// What an invoice line bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceLineKind {
    /// Succeeded generations of one model at one price (what their captures took).
    Generation,
    /// Requests refused as invalid and charged the fee, at one charge.
    InvalidInputFee,
}

impl InvoiceLineKind {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            InvoiceLineKind::Generation => "generation",
            InvoiceLineKind::InvalidInputFee => "invalid_input_fee",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<InvoiceLineKind> {
        match s {
            "generation" => Some(InvoiceLineKind::Generation),
            "invalid_input_fee" => Some(InvoiceLineKind::InvalidInputFee),
            _ => None,
        }
    }
}

/// One line: `quantity` × `unit_price_credits` = `amount_credits`, exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    /// Position on the invoice, from 0.
    pub idx: u32,
    pub kind: InvoiceLineKind,
    /// The model of a generation line; `None` for fees.
    pub model: Option<String>,
    /// Succeeded generations (or charged requests).
    pub quantity: i64,
    pub unit_price_credits: i64,
    pub unit_price_eur: String,
    pub amount_credits: i64,
    pub amount_eur: String,
}

/// An issued invoice with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// `inv_…`
    pub id: String,
    /// Sequential across the installation within its series: `EASEL-2026-000001`.
    pub number: String,
    pub account_id: String,
    pub mode: Mode,
    /// The UTC calendar month billed, `YYYY-MM`.
    pub period: String,
    /// The month's first instant (ms).
    pub period_start: i64,
    /// The next month's first instant (ms, excluded).
    pub period_end: i64,
    pub seller: InvoiceSeller,
    pub buyer: InvoiceBuyer,
    /// The sum of the lines; the total too, as no tax is charged.
    pub subtotal_credits: i64,
    pub subtotal_eur: String,
    /// Always `issued` for now.
    pub status: String,
    pub issued_at: i64,
    pub lines: Vec<InvoiceLine>,
}

/// An invoice to issue for one account, mode and period, if it has anything to bill.
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub id: String,
    pub account_id: String,
    pub mode: Mode,
    /// `YYYY-MM`
    pub period: String,
    /// Billed: generations that succeeded, and fees charged, in [`period_start`, `period_end`).
    pub period_start: i64,
    pub period_end: i64,
    /// The numbering series, e.g. `EASEL-2026`; the number is `<series>-<000001>`.
    pub series: String,
    pub seller: InvoiceSeller,
    pub now: i64,
}

/// What [`crate::InvoiceStore::issue_invoice`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceIssue {
    /// A new invoice, with its number and its `invoice.created` event.
    Issued(Invoice),
    /// The period was invoiced before (here or by another node); nothing was written.
    AlreadyIssued(Invoice),
    /// Nothing was billed in the period: no invoice, no number used.
    NothingToInvoice,
}
