//! `GET /v1/invoices`.

use axum::Json;
use easel_core::ids::IdKind;

use super::dto::InvoiceObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Query};
use crate::http::pagination::{List, ListParams};

/// List invoices
///
/// The account's monthly invoices in the key's mode (live; test mode is never billed),
/// newest first, each with its lines and totals.
#[utoipa::path(
    get,
    path = "/v1/invoices",
    tag = tags::BILLING,
    operation_id = "list_invoices",
    security(("api_key" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of invoices", body = List<InvoiceObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_invoices(
    state: AppState,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<List<InvoiceObject>>> {
    let page = params.page(IdKind::Invoice)?;
    let limit = page.limit;
    let rows = state
        .store
        .list_invoices(&caller.account_id, caller.mode, page)
        .await?;
    Ok(Json(List::from_rows(
        rows,
        limit,
        |i| i.id.clone(),
        InvoiceObject::from,
    )))
}
