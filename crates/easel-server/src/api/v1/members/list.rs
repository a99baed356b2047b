//! `GET /v1/account/members`.

use axum::Json;

use super::dto::MemberObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::http::pagination::List;

/// List members
///
/// Every member of the organisation with their role, oldest first, in one page.
#[utoipa::path(
    get,
    path = "/v1/account/members",
    tag = tags::MEMBERS,
    operation_id = "list_members",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The members", body = List<MemberObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_members(state: AppState, caller: Caller) -> ApiResult<Json<List<MemberObject>>> {
    let members = state.store.list_members(&caller.account_id).await?;
    let data = members.into_iter().map(MemberObject::from).collect();
    Ok(Json(List {
        object: "list",
        data,
        has_more: false,
        next_cursor: None,
    }))
}
