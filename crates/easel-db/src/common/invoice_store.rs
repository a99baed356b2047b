//! `InvoiceStore`: monthly invoices, issued once per account, mode and period, numbered
//! without gaps.
//!
//! Issuing reads the month's lines (nothing to bill: done), then in one write transaction
//! takes the next number of the series from its counter row, inserts the invoice (or finds
//! that another issuer got there first and rolls back, number included), its lines and its
//! `invoice.created` event. The
//! counter row serialises issuers on every node (PostgreSQL locks it at the UPDATE until
//! commit; SQLite has one writer), so numbers follow commit order with no gaps. The SQL
//! lives here rather than in `sql.rs` so the invoicing rules read in one place.

/// Lines from succeeded generations finished in [`$3`, `$4`): by model and what each was
/// charged, so that quantity × unit price is the amount exactly. The same rows and
/// `credits_charged` as `sql::USAGE_BY_DAY`, so invoices, usage and the ledger's captures
/// agree.
pub(crate) const GENERATION_LINES: &str = "SELECT model, COALESCE(credits_charged, 0) AS unit_price, \
     COUNT(*) AS quantity, CAST(COALESCE(SUM(credits_charged), 0) AS BIGINT) AS amount FROM generations \
     WHERE account_id = $1 AND mode = $2 AND status = 'succeeded' AND finished_at >= $3 AND finished_at < $4 \
     GROUP BY model, COALESCE(credits_charged, 0) ORDER BY model, unit_price";

/// Lines from invalid-input fees charged in [`$3`, `$4`), by charge (a fee may be cut to
/// what was available).
pub(crate) const FEE_LINES: &str = "SELECT -amount AS unit_price, COUNT(*) AS quantity, \
     CAST(SUM(-amount) AS BIGINT) AS amount FROM ledger_entries \
     WHERE account_id = $1 AND mode = $2 AND type = 'invalid_input_fee' AND created_at >= $3 AND created_at < $4 \
     GROUP BY amount ORDER BY unit_price";

pub(crate) const BUYER: &str =
    "SELECT name, legal_name, contact_email, address, country FROM accounts WHERE id = $1";

/// Takes the next number of series `$1`: creates the counter at 1, or moves it on. On
/// PostgreSQL the row stays locked until the transaction ends, which is what keeps the
/// numbers gapless: a second issuer waits here and then sees the first one's outcome.
pub(crate) const NEXT_NUMBER: &str = "INSERT INTO invoice_counters (series, next_number) VALUES ($1, 2) \
     ON CONFLICT (series) DO UPDATE SET next_number = invoice_counters.next_number + 1 \
     RETURNING next_number - 1";

/// No row if the account already has an invoice for the period.
pub(crate) const INSERT_INVOICE: &str = "INSERT INTO invoices (id, number, account_id, mode, period, period_start, \
     period_end, currency, seller, buyer, subtotal_credits, subtotal_eur, status, issued_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'eur', $8, $9, $10, $11, 'issued', $12) \
     ON CONFLICT (account_id, mode, period) DO NOTHING RETURNING id";

pub(crate) const INSERT_LINE: &str = "INSERT INTO invoice_lines (invoice_id, idx, kind, model, quantity, \
     unit_price_credits, unit_price_eur, amount_credits, amount_eur) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) const INVOICES_FROM: &str = "SELECT id, number, account_id, mode, period, period_start, period_end, \
     seller, buyer, subtotal_credits, subtotal_eur, status, issued_at FROM invoices";

pub(crate) const LINES_FROM: &str = "SELECT invoice_id, idx, kind, model, quantity, unit_price_credits, \
     unit_price_eur, amount_credits, amount_eur FROM invoice_lines";

macro_rules! impl_invoice_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            /// The lines of an invoice page, grouped by invoice id, each in order.
            async fn invoice_lines(
                &self,
                ids: &[&str],
            ) -> $crate::DbResult<
                std::collections::HashMap<
                    String,
                    Vec<$crate::common::invoice_rows::InvoiceLineRow>,
                >,
            > {
                let mut by_invoice: std::collections::HashMap<String, Vec<_>> =
                    std::collections::HashMap::new();
                if ids.is_empty() {
                    return Ok(by_invoice);
                }
                let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
                let sql = format!(
                    "{} WHERE invoice_id IN ({}) ORDER BY invoice_id, idx",
                    $crate::common::invoice_store::LINES_FROM,
                    placeholders.join(", ")
                );
                let mut query =
                    sqlx::query_as::<_, $crate::common::invoice_rows::InvoiceLineRow>(&sql);
                for id in ids {
                    query = query.bind(*id);
                }
                for line in query.fetch_all(self.read()).await? {
                    by_invoice
                        .entry(line.invoice_id.clone())
                        .or_default()
                        .push(line);
                }
                Ok(by_invoice)
            }

            /// One invoice of an account and mode by a condition on `$3` (id or period).
            async fn find_invoice(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                column: &str,
                value: &str,
            ) -> $crate::DbResult<Option<$crate::Invoice>> {
                let sql = format!(
                    "{} WHERE account_id = $1 AND mode = $2 AND {column} = $3",
                    $crate::common::invoice_store::INVOICES_FROM
                );
                let row = sqlx::query_as::<_, $crate::common::invoice_rows::InvoiceRow>(&sql)
                    .bind(account_id)
                    .bind(mode.as_str())
                    .bind(value)
                    .fetch_optional(self.read())
                    .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let id = row.id();
                let mut lines = self.invoice_lines(&[id.as_str()]).await?;
                row.into_invoice(lines.remove(&id).unwrap_or_default())
                    .map(Some)
            }
        }

        #[async_trait::async_trait]
        impl $crate::InvoiceStore for $Store {
            async fn issue_invoice(
                &self,
                new: $crate::NewInvoice,
            ) -> $crate::DbResult<$crate::InvoiceIssue> {
                use $crate::common::invoice_store as q;
                if new.period_end <= new.period_start || new.series.is_empty() {
                    return Err(easel_core::DomainError::invalid(
                        "period",
                        "period_invalid",
                        "an invoice covers a non-empty period of a named series",
                    )
                    .into());
                }
                let mode = new.mode.as_str();
                if let Some(existing) = self
                    .find_invoice(&new.account_id, new.mode, "period", &new.period)
                    .await?
                {
                    return Ok($crate::InvoiceIssue::AlreadyIssued(existing));
                }
                // Lines and buyer are read before the write transaction: a closed month no
                // longer changes, and an account with nothing to bill (most of them, in a
                // sweep) then never takes SQLite's write lock.
                let generations: Vec<(String, i64, i64, i64)> = sqlx::query_as(q::GENERATION_LINES)
                    .bind(&new.account_id)
                    .bind(mode)
                    .bind(new.period_start)
                    .bind(new.period_end)
                    .fetch_all(self.read())
                    .await?;
                let fees: Vec<(i64, i64, i64)> = sqlx::query_as(q::FEE_LINES)
                    .bind(&new.account_id)
                    .bind(mode)
                    .bind(new.period_start)
                    .bind(new.period_end)
                    .fetch_all(self.read())
                    .await?;
                let lines = $crate::common::invoice_rows::build_lines(generations, fees);
                let subtotal: i64 = lines.iter().map(|l| l.amount_credits).sum();
                let buyer: Option<(
                    String,
                    Option<String>,
                    String,
                    Option<String>,
                    Option<String>,
                )> = sqlx::query_as(q::BUYER)
                    .bind(&new.account_id)
                    .fetch_optional(self.read())
                    .await?;
                let Some((name, legal_name, email, address, country)) = buyer else {
                    return Err($crate::DbError::NotFound);
                };
                if subtotal <= 0 {
                    return Ok($crate::InvoiceIssue::NothingToInvoice);
                }
                let mut tx = self.begin_write().await?;
                let (n,): (i64,) = sqlx::query_as(q::NEXT_NUMBER)
                    .bind(&new.series)
                    .fetch_one(&mut *tx)
                    .await?;
                let invoice = $crate::Invoice {
                    id: new.id,
                    number: format!("{}-{n:06}", new.series),
                    account_id: new.account_id.clone(),
                    mode: new.mode,
                    period: new.period,
                    period_start: new.period_start,
                    period_end: new.period_end,
                    seller: new.seller,
                    buyer: $crate::InvoiceBuyer {
                        account_id: new.account_id,
                        name,
                        legal_name,
                        email,
                        address,
                        country,
                    },
                    subtotal_credits: subtotal,
                    subtotal_eur: easel_core::models::credits_to_eur(subtotal),
                    status: "issued".into(),
                    issued_at: new.now,
                    lines,
                };
                let inserted: Option<(String,)> = sqlx::query_as(q::INSERT_INVOICE)
                    .bind(&invoice.id)
                    .bind(&invoice.number)
                    .bind(&invoice.account_id)
                    .bind(mode)
                    .bind(&invoice.period)
                    .bind(invoice.period_start)
                    .bind(invoice.period_end)
                    .bind($crate::common::invoice_rows::to_json(&invoice.seller)?)
                    .bind($crate::common::invoice_rows::to_json(&invoice.buyer)?)
                    .bind(invoice.subtotal_credits)
                    .bind(&invoice.subtotal_eur)
                    .bind(invoice.issued_at)
                    .fetch_optional(&mut *tx)
                    .await?;
                if inserted.is_none() {
                    // Another issuer committed it between our check and the counter: roll
                    // back, which gives the number back, and answer theirs.
                    tx.rollback().await?;
                    return match self
                        .find_invoice(&invoice.account_id, invoice.mode, "period", &invoice.period)
                        .await?
                    {
                        Some(existing) => Ok($crate::InvoiceIssue::AlreadyIssued(existing)),
                        None => Err($crate::DbError::NotFound),
                    };
                }
                for line in &invoice.lines {
                    sqlx::query(q::INSERT_LINE)
                        .bind(&invoice.id)
                        .bind(i64::from(line.idx))
                        .bind(line.kind.as_str())
                        .bind(line.model.as_deref())
                        .bind(line.quantity)
                        .bind(line.unit_price_credits)
                        .bind(&line.unit_price_eur)
                        .bind(line.amount_credits)
                        .bind(&line.amount_eur)
                        .execute(&mut *tx)
                        .await?;
                }
                let data = $crate::common::invoice_rows::invoice_snapshot(&invoice);
                Self::insert_event_row(
                    &mut tx,
                    &invoice.account_id,
                    mode,
                    "invoice.created",
                    &data,
                    invoice.issued_at,
                )
                .await?;
                tx.commit().await?;
                Ok($crate::InvoiceIssue::Issued(invoice))
            }

            async fn list_invoices(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                page: $crate::Page,
            ) -> $crate::DbResult<Vec<$crate::Invoice>> {
                let (keyset, limit) = page.keyset("id", 3);
                let sql = format!(
                    "{} WHERE account_id = $1 AND mode = $2{keyset} ORDER BY id DESC {limit}",
                    $crate::common::invoice_store::INVOICES_FROM
                );
                let mut query = sqlx::query_as::<_, $crate::common::invoice_rows::InvoiceRow>(&sql)
                    .bind(account_id)
                    .bind(mode.as_str());
                if let Some(cursor) = &page.starting_after {
                    query = query.bind(cursor);
                }
                let rows = query.bind(page.fetch()).fetch_all(self.read()).await?;
                let ids: Vec<String> = rows
                    .iter()
                    .map($crate::common::invoice_rows::InvoiceRow::id)
                    .collect();
                let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                let mut lines = self.invoice_lines(&id_refs).await?;
                rows.into_iter()
                    .zip(ids)
                    .map(|(row, id)| row.into_invoice(lines.remove(&id).unwrap_or_default()))
                    .collect()
            }

            async fn get_invoice(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
            ) -> $crate::DbResult<$crate::Invoice> {
                self.find_invoice(account_id, mode, "id", id)
                    .await?
                    .ok_or($crate::DbError::NotFound)
            }
        }
    };
}
