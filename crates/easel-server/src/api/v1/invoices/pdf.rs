//! `GET /v1/invoices/{id}/pdf`.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::OrNotFound;
use crate::services::invoices::pdf;

/// Download an invoice as PDF
///
/// The invoice as a document: number, dates, seller and buyer, one row per line, subtotal
/// and total in EUR excluding VAT. Rendered from the stored invoice, so it never changes.
#[utoipa::path(
    get,
    path = "/v1/invoices/{id}/pdf",
    tag = tags::BILLING,
    operation_id = "download_invoice_pdf",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The invoice id (`inv_…`)")),
    responses(
        (status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn download_invoice_pdf(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    super::check_id(&id)?;
    let invoice = state
        .store
        .get_invoice(&caller.account_id, caller.mode, &id)
        .await
        .or_not_found("invoice", &id)?;
    Ok(pdf_response(&invoice))
}

/// The invoice as its PDF (the developer console's download too).
pub fn pdf_response(invoice: &easel_db::Invoice) -> Response {
    let bytes = pdf::render(invoice);
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{}.pdf\"", invoice.number)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
