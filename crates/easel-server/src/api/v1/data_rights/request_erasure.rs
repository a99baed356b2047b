//! `POST /v1/account/erasure`.

use axum::Json;
use axum::http::StatusCode;
use easel_core::roles::Action;

use super::dto::{ErasureObject, RequestErasureRequest};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::data_rights::{erasure, require_owner};
use crate::http::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Json as JsonBody};

/// Ask for the account's erasure
///
/// Schedules the erasure of the account and its data at the end of the operator's
/// cooling-off period (`due_at`). The account is suspended at once (every API call then
/// answers 403 `account_suspended`); until `due_at` an owner can cancel the request on the
/// console's Account page, which lifts the suspension. Then outputs, inputs, prompts, logs,
/// sessions and keys are deleted and personal data is replaced with placeholders; invoices
/// and the ledger are kept, as the law requires. Only an owner, with a key that holds every
/// scope; `confirm` must repeat the account's id.
#[utoipa::path(
    post,
    path = "/v1/account/erasure",
    tag = tags::ACCOUNT,
    operation_id = "request_account_erasure",
    security(("api_key" = [])),
    request_body = RequestErasureRequest,
    responses(
        (status = 202, description = "The erasure, scheduled", body = ErasureObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn request_account_erasure(
    state: AppState,
    caller: Caller,
    JsonBody(body): JsonBody<RequestErasureRequest>,
) -> ApiResult<(StatusCode, Json<ErasureObject>)> {
    require_owner(&caller, Action::DeleteAccount)?;
    if body.confirm != caller.account_id {
        return Err(ApiError::invalid(
            "confirm",
            "`confirm` must be the account's id: erasure is final once it runs.",
        ));
    }
    let scheduled =
        erasure::request(&state, &caller.account_id, &caller.user_id, caller.audit()).await?;
    Ok((StatusCode::ACCEPTED, Json(scheduled.into())))
}
