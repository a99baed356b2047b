//! `PATCH /v1/account/members/{user_id}`.

use axum::extract::Path;

use super::dto::{MemberObject, UpdateMemberRequest};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Json};
use crate::services::accounts;

/// Change a member's role
///
/// Their keys' rights change with it, at once. Only an owner can make someone an owner or
/// change an owner's role; the last owner cannot be demoted.
#[utoipa::path(
    patch,
    path = "/v1/account/members/{user_id}",
    tag = tags::MEMBERS,
    operation_id = "update_member",
    security(("api_key" = [])),
    params(("user_id" = String, Path, description = "The member's user id (`user_…`)")),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "The member", body = MemberObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn update_member(
    state: AppState,
    caller: Caller,
    Path(user_id): Path<String>,
    Json(body): Json<UpdateMemberRequest>,
) -> ApiResult<axum::Json<MemberObject>> {
    let current = accounts::find_member(&state, &caller.account_id, &user_id).await?;
    accounts::check_owner_rights(caller.role, Some(current.role), body.role)?;
    let member = accounts::set_role(
        &state,
        &caller.account_id,
        &user_id,
        body.role,
        caller.audit(),
    )
    .await?;
    Ok(axum::Json(member.into()))
}
