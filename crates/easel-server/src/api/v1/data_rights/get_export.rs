//! `GET /v1/account/exports/{id}`.

use axum::Json;
use axum::extract::Path;
use easel_core::ids::IdKind;
use easel_core::roles::Action;
use easel_core::time::now_ms;

use super::dto::ExportObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::data_rights::require_owner;
use crate::http::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::OrNotFound;

/// Retrieve an export
///
/// Its status and, once `ready`, a fresh signed `download_url`.
#[utoipa::path(
    get,
    path = "/v1/account/exports/{id}",
    tag = tags::ACCOUNT,
    operation_id = "get_account_export",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The export id (`exp_…`)")),
    responses(
        (status = 200, description = "The export", body = ExportObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn get_account_export(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ExportObject>> {
    require_owner(&caller, Action::ExportData)?;
    if !IdKind::Export.is_valid(&id) {
        return Err(ApiError::not_found("export", &id));
    }
    let export = state
        .store
        .get_export(&caller.account_id, &id)
        .await
        .or_not_found("export", &id)?;
    Ok(Json(ExportObject::new(&state, export, now_ms())))
}
