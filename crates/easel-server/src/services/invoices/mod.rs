//! Monthly invoices: one per account with live usage in a UTC calendar month, in EUR
//! excluding tax, issued once the month has closed.
//!
//! Every node's sweep issues the last closed month ([`issue_due`]) and operators can issue
//! any closed month by hand (`easel admin invoices issue`); the store makes both idempotent
//! and numbers invoices without gaps, so it does not matter how many nodes try, or when.

mod fonts;
pub mod pdf;

use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_db::{Invoice, InvoiceIssue, InvoiceSeller, NewInvoice, Page};
use serde::Serialize;
use time::{Date, Month, OffsetDateTime};

use crate::app::App;
use crate::config::Config;
use crate::http::error::{ApiError, ApiResult};
use crate::services::OrNotFound;

/// A UTC calendar month: the period one invoice bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    year: i32,
    month: Month,
}

impl Period {
    /// Parses `YYYY-MM` strictly (years 2000 to 9999).
    pub fn parse(s: &str) -> Option<Period> {
        let (y, m) = s.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
        (2000..=9999)
            .contains(&year)
            .then_some(Period { year, month })
    }

    /// The month containing `now_ms`.
    pub fn containing(now_ms: i64) -> Period {
        let t = OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Period {
            year: t.year(),
            month: t.month(),
        }
    }

    /// The month before.
    pub fn previous(self) -> Period {
        match self.month {
            Month::January => Period {
                year: self.year - 1,
                month: Month::December,
            },
            m => Period {
                year: self.year,
                month: m.previous(),
            },
        }
    }

    /// The month after.
    pub fn next(self) -> Period {
        match self.month {
            Month::December => Period {
                year: self.year + 1,
                month: Month::January,
            },
            m => Period {
                year: self.year,
                month: m.next(),
            },
        }
    }

    /// Its first instant, Unix ms.
    pub fn start_ms(self) -> i64 {
        Date::from_calendar_date(self.year, self.month, 1)
            .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
            .unwrap_or_default()
    }

    /// The first instant of the next month (excluded), Unix ms.
    pub fn end_ms(self) -> i64 {
        self.next().start_ms()
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

/// The seller block of new invoices, from `[invoicing]`.
pub fn seller(config: &Config) -> InvoiceSeller {
    let c = &config.invoicing;
    InvoiceSeller {
        name: c.seller_name.trim().to_string(),
        address: c.seller_address.trim().to_string(),
        vat_id: c.seller_vat_id.trim().to_string(),
        email: c.seller_email.trim().to_string(),
    }
}

/// When the invoices of `period` may be issued: its end plus `invoicing.issue_delay_seconds`
/// (so generations that finished just before midnight have been recorded).
pub fn issuable_from(config: &Config, period: Period) -> i64 {
    let delay = i64::try_from(config.invoicing.issue_delay_seconds).unwrap_or(0);
    period.end_ms().saturating_add(delay.saturating_mul(1000))
}

/// Issues one account's live invoice for `period` at `now` (Unix ms), once: a period
/// already invoiced answers the stored invoice, one with nothing to bill no invoice.
pub async fn issue(
    app: &App,
    account_id: &str,
    period: Period,
    now: i64,
) -> ApiResult<InvoiceIssue> {
    let issued_year = Period::containing(now).year;
    let new = NewInvoice {
        id: IdKind::Invoice.generate(),
        account_id: account_id.to_string(),
        mode: Mode::Live,
        period: period.to_string(),
        period_start: period.start_ms(),
        period_end: period.end_ms(),
        series: format!("{}-{issued_year}", app.config.invoicing.number_prefix),
        seller: seller(&app.config),
        now,
    };
    app.store
        .issue_invoice(new)
        .await
        .or_not_found("account", account_id)
}

/// What issuing a period for every account did.
#[derive(Debug, Default, Serialize)]
pub struct IssueReport {
    /// `YYYY-MM`
    pub period: String,
    /// Invoices issued by this run, in issue order.
    pub issued: Vec<IssuedInvoice>,
    /// Accounts whose invoice for the period existed already.
    pub already_issued: u64,
    /// Accounts with nothing to bill in the period.
    pub nothing_to_invoice: u64,
}

/// One invoice of an [`IssueReport`].
#[derive(Debug, Serialize)]
pub struct IssuedInvoice {
    pub id: String,
    pub number: String,
    pub account_id: String,
    pub total_credits: i64,
    pub total_eur: String,
}

impl From<&Invoice> for IssuedInvoice {
    fn from(i: &Invoice) -> Self {
        IssuedInvoice {
            id: i.id.clone(),
            number: i.number.clone(),
            account_id: i.account_id.clone(),
            total_credits: i.subtotal_credits,
            total_eur: i.subtotal_eur.clone(),
        }
    }
}

/// Issues `period`'s invoices for every account (all states: a terminated account still
/// owes what it used). Refuses a period that has not closed (see [`issuable_from`]).
/// Idempotent, so a run cut short is simply run again.
pub async fn issue_period(app: &App, period: Period, now: i64) -> ApiResult<IssueReport> {
    let from = issuable_from(&app.config, period);
    if now < from {
        let when = OffsetDateTime::from_unix_timestamp(from.div_euclid(1000))
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        return Err(ApiError::invalid(
            "period",
            format!("{period} has not closed yet: its invoices can be issued from {when}."),
        ));
    }
    let mut report = IssueReport {
        period: period.to_string(),
        ..IssueReport::default()
    };
    let mut page = Page::first(500);
    loop {
        let accounts = app.store.list_accounts(page.clone()).await?;
        let more = accounts.len() > page.limit as usize;
        for account in accounts.iter().take(page.limit as usize) {
            match issue(app, &account.id, period, now).await? {
                InvoiceIssue::Issued(invoice) => {
                    tracing::info!(invoice.id = %invoice.id, invoice.number = %invoice.number, account.id = %account.id, "issued an invoice");
                    report.issued.push(IssuedInvoice::from(&invoice));
                }
                InvoiceIssue::AlreadyIssued(_) => report.already_issued += 1,
                InvoiceIssue::NothingToInvoice => report.nothing_to_invoice += 1,
            }
        }
        match (more, accounts.get(page.limit as usize - 1)) {
            (true, Some(last)) => page.starting_after = Some(last.id.clone()),
            _ => break,
        }
    }
    if !report.issued.is_empty() && app.config.invoicing.seller_name.trim().is_empty() {
        tracing::warn!("invoices were issued without a seller name: set invoicing.seller_name");
    }
    Ok(report)
}

/// For the sweep: the last closed month, once it may be issued at `now`.
pub fn due(config: &Config, now: i64) -> Option<Period> {
    let last = Period::containing(now).previous();
    (now >= issuable_from(config, last)).then_some(last)
}

/// For the sweep: issues the last closed month's invoices once `due`, remembering in
/// `done` that this node did (other nodes doing it too is harmless). A failure is logged
/// and retried on the next pass.
pub async fn sweep(app: &App, done: &mut Option<Period>, now: i64) {
    let Some(period) = due(&app.config, now) else {
        return;
    };
    if *done == Some(period) {
        return;
    }
    match issue_period(app, period, now).await {
        Ok(report) => {
            if !report.issued.is_empty() {
                tracing::info!(period = %period, invoices = report.issued.len(), "issued the month's invoices");
            }
            *done = Some(period);
        }
        Err(e) => {
            tracing::warn!(period = %period, error = ?e.message, "could not issue invoices; will retry")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Period;

    #[test]
    fn periods_parse_strictly_and_span_their_month() {
        let p = Period::parse("2026-10").unwrap_or_else(|| panic!("parses"));
        assert_eq!(p.to_string(), "2026-10");
        assert_eq!(p.start_ms(), 1_790_812_800_000); // 2026-10-01T00:00Z
        assert_eq!(p.end_ms(), 1_793_491_200_000); // 2026-11-01T00:00Z
        assert_eq!(Period::containing(1_793_491_199_999), p);
        assert_eq!(Period::containing(1_793_491_200_000).previous(), p);
        let dec = Period::parse("2025-12").unwrap_or_else(|| panic!("parses"));
        assert_eq!(dec.next().to_string(), "2026-01");
        assert_eq!(dec.next().previous(), dec);
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-10",
            "2026-10-01",
            "1999-12",
            "abcd-ef",
            "",
            "+026-10",
        ] {
            assert!(Period::parse(bad).is_none(), "{bad}");
        }
    }
}
