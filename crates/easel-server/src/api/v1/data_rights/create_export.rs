//! `POST /v1/account/exports`.

use axum::Json;
use axum::http::StatusCode;
use easel_core::roles::Action;
use easel_core::time::now_ms;

use super::dto::ExportObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::data_rights::{export, require_owner};
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;

/// Export the account's data
///
/// Starts building an archive of everything Easel holds about the account (both modes):
/// the account, members, keys (never secrets), generations with their inputs and outputs'
/// metadata, ledger, invoices, events, request and audit logs, webhook endpoints and
/// deliveries, end users, sessions, strikes and abuse reports. Poll the export until its
/// `status` is `ready`, then download it once from its `download_url`. Only an owner, with
/// a key that holds every scope; one export at a time (409 `export_in_progress`).
#[utoipa::path(
    post,
    path = "/v1/account/exports",
    tag = tags::ACCOUNT,
    operation_id = "create_account_export",
    security(("api_key" = [])),
    responses(
        (status = 202, description = "The export, being built", body = ExportObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn create_account_export(
    state: AppState,
    caller: Caller,
) -> ApiResult<(StatusCode, Json<ExportObject>)> {
    require_owner(&caller, Action::ExportData)?;
    let created =
        export::request(&state, &caller.account_id, &caller.user_id, caller.audit()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ExportObject::new(&state, created, now_ms())),
    ))
}
