//! `GET /v1/account/exports`.

use axum::Json;
use easel_core::roles::Action;
use easel_core::time::now_ms;

use super::dto::{ExportList, ExportObject};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::data_rights::require_owner;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;

/// List the account's exports
///
/// The 20 most recent exports, newest first, each ready one with a fresh download URL.
#[utoipa::path(
    get,
    path = "/v1/account/exports",
    tag = tags::ACCOUNT,
    operation_id = "list_account_exports",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The exports", body = ExportList),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_account_exports(state: AppState, caller: Caller) -> ApiResult<Json<ExportList>> {
    require_owner(&caller, Action::ExportData)?;
    let exports = state.store.list_exports(&caller.account_id, 20).await?;
    let now = now_ms();
    Ok(Json(ExportList {
        object: "list",
        data: exports
            .into_iter()
            .map(|e| ExportObject::new(&state, e, now))
            .collect(),
    }))
}
