//! `DELETE /v1/account/members/{user_id}`.

use axum::Json;
use axum::extract::Path;

use super::dto::DeletedMember;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::accounts;

/// Remove a member
///
/// Their API keys are revoked at once. Only an owner can remove an owner; the last owner
/// cannot be removed.
#[utoipa::path(
    delete,
    path = "/v1/account/members/{user_id}",
    tag = tags::MEMBERS,
    operation_id = "remove_member",
    security(("api_key" = [])),
    params(("user_id" = String, Path, description = "The member's user id (`user_…`)")),
    responses(
        (status = 200, description = "The member was removed", body = DeletedMember),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn remove_member(
    state: AppState,
    caller: Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<DeletedMember>> {
    let current = accounts::find_member(&state, &caller.account_id, &user_id).await?;
    accounts::check_owner_rights(caller.role, Some(current.role), current.role)?;
    accounts::remove_member(&state, &caller.account_id, &user_id, caller.audit()).await?;
    Ok(Json(DeletedMember {
        object: "member",
        user_id,
        deleted: true,
    }))
}
