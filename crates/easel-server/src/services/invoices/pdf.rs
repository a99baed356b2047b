//! An invoice as a PDF: number and dates, seller and buyer, one table row per line, the
//! subtotal and the total in EUR excluding VAT.
//!
//! Written with `pdf-writer` in the two standard Helvetica faces with WinAnsiEncoding, so
//! nothing is embedded and every reader (and `pdftotext`) shows the same text; characters
//! outside Windows-1252 print as `?`. Widths come from Helvetica's metrics, for wrapping
//! text and right-aligning amounts. A4, as many pages as the lines need.

use easel_db::{Invoice, InvoiceLine, InvoiceLineKind};
use pdf_writer::{Content, Name, Pdf, Rect, Ref, Str, TextStr};
use time::OffsetDateTime;

use super::fonts::{width, win_ansi, wrap};

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 56.0;
const TOP: f32 = PAGE_HEIGHT - MARGIN;
/// Room kept free at the bottom for the page footer.
const BOTTOM: f32 = MARGIN + 24.0;
const RIGHT: f32 = PAGE_WIDTH - MARGIN;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// Table columns: description (left edge), then the right edges of the numbers.
const COL_DESCRIPTION: f32 = MARGIN;
const COL_QUANTITY: f32 = 340.0;
const COL_UNIT: f32 = 440.0;
const COL_AMOUNT: f32 = RIGHT;
const DESCRIPTION_WIDTH: f32 = 260.0;

/// Renders `invoice`.
pub fn render(invoice: &Invoice) -> Vec<u8> {
    let mut doc = Layout::new();
    header(&mut doc, invoice);
    parties(&mut doc, invoice);
    table(&mut doc, invoice);
    totals(&mut doc, invoice);
    doc.finish(&invoice.number)
}

fn header(doc: &mut Layout, invoice: &Invoice) {
    doc.text(MARGIN, doc.y - 20.0, BOLD, 20.0, "INVOICE");
    doc.y -= 40.0;
    let last_day = invoice.period_end - 86_400_000;
    let facts = [
        ("Invoice number", invoice.number.clone()),
        ("Issue date", date(invoice.issued_at)),
        (
            "Billing period",
            format!("{} to {}", date(invoice.period_start), date(last_day)),
        ),
        ("Currency", "EUR".to_string()),
    ];
    for (label, value) in facts {
        doc.text(MARGIN, doc.y, BOLD, 10.0, label);
        doc.text(MARGIN + 100.0, doc.y, REGULAR, 10.0, &value);
        doc.y -= 14.0;
    }
    doc.y -= 16.0;
}

fn parties(doc: &mut Layout, invoice: &Invoice) {
    let s = &invoice.seller;
    let mut seller: Vec<String> = vec![s.name.clone()];
    seller.extend(s.address.lines().map(str::to_string));
    if !s.vat_id.is_empty() {
        seller.push(format!("VAT ID: {}", s.vat_id));
    }
    seller.push(s.email.clone());
    let b = &invoice.buyer;
    let mut buyer: Vec<String> = vec![b.legal_name.clone().unwrap_or_else(|| b.name.clone())];
    if b.legal_name.as_deref().is_some_and(|legal| legal != b.name) {
        buyer.push(b.name.clone());
    }
    buyer.extend(b.address.iter().flat_map(|a| a.lines()).map(str::to_string));
    buyer.extend(b.country.clone());
    buyer.push(b.email.clone());
    buyer.push(format!("Account: {}", b.account_id));
    let half = (RIGHT - MARGIN) / 2.0;
    let wrap_all = |lines: Vec<String>| -> Vec<String> {
        lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .flat_map(|l| wrap(l.trim(), 10.0, half - 16.0))
            .collect()
    };
    let (seller, buyer) = (wrap_all(seller), wrap_all(buyer));
    doc.need(14.0 * (1 + seller.len().max(buyer.len())) as f32);
    doc.text(MARGIN, doc.y, BOLD, 10.0, "Seller");
    doc.text(MARGIN + half, doc.y, BOLD, 10.0, "Bill to");
    let top = doc.y - 14.0;
    for (i, line) in seller.iter().enumerate() {
        doc.text(MARGIN, top - 13.0 * i as f32, REGULAR, 10.0, line);
    }
    for (i, line) in buyer.iter().enumerate() {
        doc.text(MARGIN + half, top - 13.0 * i as f32, REGULAR, 10.0, line);
    }
    doc.y = top - 13.0 * seller.len().max(buyer.len()) as f32 - 24.0;
}

fn table_head(doc: &mut Layout) {
    doc.text(COL_DESCRIPTION, doc.y, BOLD, 10.0, "Description");
    doc.text_right(COL_QUANTITY, doc.y, BOLD, 10.0, "Quantity");
    doc.text_right(COL_UNIT, doc.y, BOLD, 10.0, "Unit price (EUR)");
    doc.text_right(COL_AMOUNT, doc.y, BOLD, 10.0, "Amount (EUR)");
    doc.rule(doc.y - 5.0);
    doc.y -= 20.0;
}

fn table(doc: &mut Layout, invoice: &Invoice) {
    doc.need(60.0);
    table_head(doc);
    for line in &invoice.lines {
        let description = wrap(&describe(line), 10.0, DESCRIPTION_WIDTH);
        let height = 13.0 * description.len() as f32 + 5.0;
        if doc.need(height) {
            table_head(doc);
        }
        for (i, part) in description.iter().enumerate() {
            doc.text(
                COL_DESCRIPTION,
                doc.y - 13.0 * i as f32,
                REGULAR,
                10.0,
                part,
            );
        }
        doc.text_right(
            COL_QUANTITY,
            doc.y,
            REGULAR,
            10.0,
            &line.quantity.to_string(),
        );
        doc.text_right(COL_UNIT, doc.y, REGULAR, 10.0, &line.unit_price_eur);
        doc.text_right(COL_AMOUNT, doc.y, REGULAR, 10.0, &line.amount_eur);
        doc.y -= height;
    }
    doc.rule(doc.y + 8.0);
    doc.y -= 10.0;
}

fn totals(doc: &mut Layout, invoice: &Invoice) {
    doc.need(90.0);
    doc.text(COL_QUANTITY - 60.0, doc.y, REGULAR, 10.0, "Subtotal");
    doc.text_right(COL_AMOUNT, doc.y, REGULAR, 10.0, &invoice.subtotal_eur);
    doc.y -= 16.0;
    doc.text(
        COL_QUANTITY - 60.0,
        doc.y,
        BOLD,
        11.0,
        "Total excluding VAT",
    );
    let total = format!("EUR {}", invoice.subtotal_eur);
    doc.text_right(COL_AMOUNT, doc.y, BOLD, 11.0, &total);
    doc.y -= 30.0;
    let notes = [
        "All amounts are in euros (EUR) and exclude VAT; no VAT has been charged on this invoice."
            .to_string(),
        format!(
            "Usage is billed in credits (1 credit = EUR 0.001): {} credits in total.",
            invoice.subtotal_credits
        ),
    ];
    for note in notes {
        for part in wrap(&note, 9.0, RIGHT - MARGIN) {
            doc.need(12.0);
            doc.text(MARGIN, doc.y, REGULAR, 9.0, &part);
            doc.y -= 12.0;
        }
    }
}

/// The description of a line on paper.
fn describe(line: &InvoiceLine) -> String {
    match (line.kind, &line.model) {
        (InvoiceLineKind::Generation, Some(model)) => format!("Generations: {model}"),
        (InvoiceLineKind::Generation, None) => "Generations".to_string(),
        (InvoiceLineKind::InvalidInputFee, _) => "Fees for requests refused as invalid".to_string(),
    }
}

/// Unix ms as `YYYY-MM-DD` (UTC).
fn date(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_default()
}

/// Pages being drawn, top to bottom.
struct Layout {
    done: Vec<Content>,
    page: Content,
    /// The baseline of the next line on the current page.
    y: f32,
}

impl Layout {
    fn new() -> Layout {
        Layout {
            done: Vec::new(),
            page: Content::new(),
            y: TOP,
        }
    }

    /// Starts a new page unless `height` still fits on this one; says whether it did.
    fn need(&mut self, height: f32) -> bool {
        if self.y - height >= BOTTOM {
            return false;
        }
        let full = std::mem::replace(&mut self.page, Content::new());
        self.done.push(full);
        self.y = TOP;
        true
    }

    fn text(&mut self, x: f32, y: f32, font: Name<'_>, size: f32, text: &str) {
        self.page.begin_text();
        self.page.set_font(font, size);
        self.page.next_line(x, y);
        self.page.show(Str(&win_ansi(text)));
        self.page.end_text();
    }

    fn text_right(&mut self, right: f32, y: f32, font: Name<'_>, size: f32, text: &str) {
        self.text(right - width(text, size), y, font, size, text);
    }

    fn rule(&mut self, y: f32) {
        self.page.set_line_width(0.5);
        self.page.move_to(MARGIN, y);
        self.page.line_to(RIGHT, y);
        self.page.stroke();
    }

    /// The whole document, with "page i of n" at the foot of each page.
    fn finish(mut self, number: &str) -> Vec<u8> {
        self.done.push(self.page);
        let count = self.done.len();
        let mut pdf = Pdf::new();
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let regular = Ref::new(3);
        let bold = Ref::new(4);
        let info = Ref::new(5);
        let refs: Vec<(Ref, Ref)> = (0..count)
            .map(|i| {
                let first = 6 + 2 * i32::try_from(i).unwrap_or(0);
                (Ref::new(first), Ref::new(first + 1))
            })
            .collect();
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree)
            .kids(refs.iter().map(|(page, _)| *page))
            .count(i32::try_from(count).unwrap_or(1));
        for (i, (mut content, (page_ref, content_ref))) in
            self.done.into_iter().zip(&refs).enumerate()
        {
            let footer = format!("{number}, page {} of {count}", i + 1);
            content.begin_text();
            content.set_font(REGULAR, 8.0);
            content.next_line(RIGHT - width(&footer, 8.0), MARGIN);
            content.show(Str(&win_ansi(&footer)));
            content.end_text();
            let mut page = pdf.page(*page_ref);
            page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT));
            page.parent(tree);
            page.contents(*content_ref);
            {
                let mut resources = page.resources();
                let mut fonts = resources.fonts();
                fonts.pair(REGULAR, regular);
                fonts.pair(BOLD, bold);
            }
            drop(page);
            pdf.stream(*content_ref, &content.finish());
        }
        for (id, face) in [(regular, &b"Helvetica"[..]), (bold, &b"Helvetica-Bold"[..])] {
            pdf.type1_font(id)
                .base_font(Name(face))
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        let title = format!("Invoice {number}");
        pdf.document_info(info)
            .title(TextStr(&title))
            .producer(TextStr("Easel"));
        pdf.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_invoices_continue_on_more_pages() {
        let line = |idx: u32| InvoiceLine {
            idx,
            kind: InvoiceLineKind::Generation,
            model: Some(format!("model-{idx}")),
            quantity: 1,
            unit_price_credits: 5,
            unit_price_eur: "0.005".into(),
            amount_credits: 5,
            amount_eur: "0.005".into(),
        };
        let invoice = Invoice {
            id: "inv_x".into(),
            number: "T-2026-000001".into(),
            account_id: "acct_x".into(),
            mode: easel_core::mode::Mode::Live,
            period: "2026-10".into(),
            period_start: 1_790_812_800_000,
            period_end: 1_793_491_200_000,
            seller: Default::default(),
            buyer: Default::default(),
            subtotal_credits: 500,
            subtotal_eur: "0.500".into(),
            status: "issued".into(),
            issued_at: 1_793_491_200_000,
            lines: (0..100).map(line).collect(),
        };
        let pdf = render(&invoice);
        let raw = String::from_utf8_lossy(&pdf);
        assert!(raw.starts_with("%PDF-"));
        let pages: usize = raw
            .split("/Count ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        assert!(pages > 2, "100 lines take several pages, not {pages}");
        assert!(raw.contains(&format!("page {pages} of {pages})")));
        assert!(raw.contains("(Generations: model-99)"));
    }
}
