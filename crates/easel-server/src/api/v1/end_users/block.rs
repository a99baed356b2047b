//! `POST /v1/end_users/{user}/block`.

use axum::Json;
use axum::extract::Path;

use super::dto::{BlockEndUserRequest, EndUserObject};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, OptionalJson};
use crate::services::generations::check_user;
use crate::services::text;

/// Block an end user
///
/// Refuses every later generation request naming this `user` with 403
/// `end_user_blocked`, on every node at once. Blocking twice keeps the first time and
/// updates the reason. Needs `generations:write`.
#[utoipa::path(
    post,
    path = "/v1/end_users/{user}/block",
    tag = tags::MODERATION,
    operation_id = "block_end_user",
    security(("api_key" = [])),
    params(("user" = String, Path, description = "The end user's id (the `user` of requests), URL-encoded")),
    request_body(content = BlockEndUserRequest, description = "Optional; `{}` or no body is fine"),
    responses(
        (status = 200, description = "The blocked end user", body = EndUserObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn block_end_user(
    state: AppState,
    caller: Caller,
    Path(user): Path<String>,
    OptionalJson(body): OptionalJson<BlockEndUserRequest>,
) -> ApiResult<Json<EndUserObject>> {
    check_user("user", &user)?;
    let reason = match body.reason {
        Some(reason) => Some(text::required("reason", &reason, 500)?),
        None => None,
    };
    let audit = caller.audit();
    let end_user = state
        .store
        .set_end_user_blocked(&caller.account_id, caller.mode, &user, Some(reason), audit)
        .await?;
    Ok(Json(end_user.into()))
}
