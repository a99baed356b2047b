//! `GET /v1/ledger`.

use axum::Json;
use easel_core::ids::IdKind;
use easel_db::LedgerFilter;

use super::dto::{LedgerEntryObject, ListLedgerParams};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Query};
use crate::http::pagination::{List, ListParams};

/// List ledger entries
///
/// Every movement of the account's credits in the key's mode, newest first: grants,
/// purchases, plan allowances, holds, captures, releases, fees, refunds, adjustments.
/// Filter by `type` and by time (`from`, `to`, unix seconds).
#[utoipa::path(
    get,
    path = "/v1/ledger",
    tag = tags::BILLING,
    operation_id = "list_ledger",
    security(("api_key" = [])),
    params(ListLedgerParams),
    responses(
        (status = 200, description = "A page of ledger entries", body = List<LedgerEntryObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_ledger(
    state: AppState,
    caller: Caller,
    Query(params): Query<ListLedgerParams>,
) -> ApiResult<Json<List<LedgerEntryObject>>> {
    let page = ListParams {
        limit: params.limit,
        starting_after: params.starting_after,
    }
    .page(IdKind::LedgerEntry)?;
    let secs_to_ms = |param: &'static str, secs: Option<i64>| -> ApiResult<Option<i64>> {
        match secs {
            None => Ok(None),
            Some(s) if (0..=253_402_300_799).contains(&s) => Ok(Some(s * 1000)),
            Some(_) => Err(ApiError::invalid(
                param,
                format!("`{param}` is a unix time in seconds."),
            )),
        }
    };
    let filter = LedgerFilter {
        entry_type: params.entry_type,
        from: secs_to_ms("from", params.from)?,
        to: secs_to_ms("to", params.to)?,
    };
    let limit = page.limit;
    let rows = state
        .store
        .list_ledger(&caller.account_id, caller.mode, filter, page)
        .await?;
    Ok(Json(List::from_rows(
        rows,
        limit,
        |e| e.id.clone(),
        LedgerEntryObject::from,
    )))
}
