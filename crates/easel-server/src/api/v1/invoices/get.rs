//! `GET /v1/invoices/{id}`.

use axum::Json;
use axum::extract::Path;

use super::dto::InvoiceObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::OrNotFound;

/// Retrieve an invoice
///
/// With its lines (per model and price: quantity, unit price, amount) and totals, in EUR
/// excluding tax. Another account's invoice is 404, like a missing one.
#[utoipa::path(
    get,
    path = "/v1/invoices/{id}",
    tag = tags::BILLING,
    operation_id = "get_invoice",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The invoice id (`inv_…`)")),
    responses(
        (status = 200, description = "The invoice", body = InvoiceObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn get_invoice(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<InvoiceObject>> {
    super::check_id(&id)?;
    let invoice = state
        .store
        .get_invoice(&caller.account_id, caller.mode, &id)
        .await
        .or_not_found("invoice", &id)?;
    Ok(Json(InvoiceObject::from(invoice)))
}
