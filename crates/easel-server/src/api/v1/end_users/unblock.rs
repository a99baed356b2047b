//! `POST /v1/end_users/{user}/unblock`.

use axum::Json;
use axum::extract::Path;

use super::dto::EndUserObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::OrNotFound;
use crate::services::generations::check_user;

/// Unblock an end user
///
/// Lets the end user's requests through again; its strikes stay on record. Unblocking
/// an end user that is not blocked is fine. Needs `generations:write`.
#[utoipa::path(
    post,
    path = "/v1/end_users/{user}/unblock",
    tag = tags::MODERATION,
    operation_id = "unblock_end_user",
    security(("api_key" = [])),
    params(("user" = String, Path, description = "The end user's id (the `user` of requests), URL-encoded")),
    responses(
        (status = 200, description = "The end user", body = EndUserObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn unblock_end_user(
    state: AppState,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<EndUserObject>> {
    check_user("user", &user)?;
    let audit = caller.audit();
    let end_user = state
        .store
        .set_end_user_blocked(&caller.account_id, caller.mode, &user, None, audit)
        .await
        .or_not_found("end_user", &user)?;
    Ok(Json(end_user.into()))
}
