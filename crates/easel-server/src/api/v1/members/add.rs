//! `POST /v1/account/members`.

use axum::http::StatusCode;

use super::dto::{AddMemberRequest, MemberObject};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Json};
use crate::services::accounts::{self, UserSpec};

/// Add a member
///
/// Needs `members:write` (owners and admins). Only an owner can add another owner.
#[utoipa::path(
    post,
    path = "/v1/account/members",
    tag = tags::MEMBERS,
    operation_id = "add_member",
    security(("api_key" = [])),
    request_body = AddMemberRequest,
    responses(
        (status = 201, description = "The new member", body = MemberObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn add_member(
    state: AppState,
    caller: Caller,
    Json(body): Json<AddMemberRequest>,
) -> ApiResult<(StatusCode, axum::Json<MemberObject>)> {
    accounts::check_owner_rights(caller.role, None, body.role)?;
    let user = UserSpec {
        email: body.email,
        ..Default::default()
    };
    let member =
        accounts::add_member(&state, &caller.account_id, user, body.role, caller.audit()).await?;
    Ok((StatusCode::CREATED, axum::Json(member.into())))
}
