//! Invoice rows as the drivers decode them, the lines of a new invoice, and the snapshot
//! its `invoice.created` event carries; used by `invoice_store.rs`.

#[derive(sqlx::FromRow)]
pub(crate) struct InvoiceRow {
    id: String,
    number: String,
    account_id: String,
    mode: String,
    period: String,
    period_start: i64,
    period_end: i64,
    seller: String,
    buyer: String,
    subtotal_credits: i64,
    subtotal_eur: String,
    status: String,
    issued_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct InvoiceLineRow {
    pub(crate) invoice_id: String,
    idx: i32,
    kind: String,
    model: Option<String>,
    quantity: i64,
    unit_price_credits: i64,
    unit_price_eur: String,
    amount_credits: i64,
    amount_eur: String,
}

fn corrupt(what: &str, value: &str) -> crate::DbError {
    crate::DbError::Corrupt(format!("unexpected {what} `{value}`"))
}

/// A snapshot as stored (JSON text).
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> crate::DbResult<String> {
    serde_json::to_string(value)
        .map_err(|e| crate::DbError::Corrupt(format!("unserialisable snapshot: {e}")))
}

impl InvoiceRow {
    /// The invoice's id.
    pub(crate) fn id(&self) -> String {
        self.id.clone()
    }

    /// The invoice with `lines` (already in order).
    pub(crate) fn into_invoice(
        self,
        lines: Vec<InvoiceLineRow>,
    ) -> crate::DbResult<crate::Invoice> {
        let lines = lines
            .into_iter()
            .map(|l| {
                Ok(crate::InvoiceLine {
                    idx: u32::try_from(l.idx)
                        .map_err(|_| corrupt("line index", &l.idx.to_string()))?,
                    kind: crate::InvoiceLineKind::parse(&l.kind)
                        .ok_or_else(|| corrupt("line kind", &l.kind))?,
                    model: l.model,
                    quantity: l.quantity,
                    unit_price_credits: l.unit_price_credits,
                    unit_price_eur: l.unit_price_eur,
                    amount_credits: l.amount_credits,
                    amount_eur: l.amount_eur,
                })
            })
            .collect::<crate::DbResult<Vec<_>>>()?;
        Ok(crate::Invoice {
            mode: easel_core::mode::Mode::parse(&self.mode)
                .ok_or_else(|| corrupt("mode", &self.mode))?,
            seller: serde_json::from_str(&self.seller)
                .map_err(|_| corrupt("invoice seller", &self.seller))?,
            buyer: serde_json::from_str(&self.buyer)
                .map_err(|_| corrupt("invoice buyer", &self.buyer))?,
            id: self.id,
            number: self.number,
            account_id: self.account_id,
            period: self.period,
            period_start: self.period_start,
            period_end: self.period_end,
            subtotal_credits: self.subtotal_credits,
            subtotal_eur: self.subtotal_eur,
            status: self.status,
            issued_at: self.issued_at,
            lines,
        })
    }
}

/// The lines of a new invoice: generations by model and price, then fees by charge.
pub(crate) fn build_lines(
    generations: Vec<(String, i64, i64, i64)>,
    fees: Vec<(i64, i64, i64)>,
) -> Vec<crate::InvoiceLine> {
    use easel_core::models::credits_to_eur;
    let generation_lines = generations
        .into_iter()
        .map(|(model, unit, quantity, amount)| {
            (
                crate::InvoiceLineKind::Generation,
                Some(model),
                unit,
                quantity,
                amount,
            )
        });
    let fee_lines = fees.into_iter().map(|(unit, quantity, amount)| {
        (
            crate::InvoiceLineKind::InvalidInputFee,
            None,
            unit,
            quantity,
            amount,
        )
    });
    (0u32..)
        .zip(generation_lines.chain(fee_lines))
        .map(
            |(idx, (kind, model, unit, quantity, amount))| crate::InvoiceLine {
                idx,
                kind,
                model,
                quantity,
                unit_price_credits: unit,
                unit_price_eur: credits_to_eur(unit),
                amount_credits: amount,
                amount_eur: credits_to_eur(amount),
            },
        )
        .collect()
}

/// An invoice as its `invoice.created` event carries it (the API object without URLs).
pub(crate) fn invoice_snapshot(i: &crate::Invoice) -> serde_json::Value {
    let secs = |ms: i64| ms.div_euclid(1000);
    let lines: Vec<serde_json::Value> = i
        .lines
        .iter()
        .map(|l| {
            serde_json::json!({
                "kind": l.kind.as_str(),
                "model": l.model,
                "quantity": l.quantity,
                "unit_price_credits": l.unit_price_credits,
                "unit_price_eur": l.unit_price_eur,
                "amount_credits": l.amount_credits,
                "amount_eur": l.amount_eur,
            })
        })
        .collect();
    serde_json::json!({
        "object": "invoice",
        "id": i.id,
        "number": i.number,
        "status": i.status,
        "livemode": i.mode.is_live(),
        "currency": "eur",
        "period": i.period,
        "period_start": secs(i.period_start),
        "period_end": secs(i.period_end),
        "seller": i.seller,
        "buyer": i.buyer,
        "lines": lines,
        "subtotal_credits": i.subtotal_credits,
        "subtotal_eur": i.subtotal_eur,
        "total_credits": i.subtotal_credits,
        "total_eur": i.subtotal_eur,
        "issued_at": secs(i.issued_at),
    })
}
