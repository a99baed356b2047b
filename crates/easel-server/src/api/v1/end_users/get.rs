//! `GET /v1/end_users/{user}`.

use axum::Json;
use axum::extract::Path;

use super::dto::EndUserObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::OrNotFound;
use crate::services::generations::check_user;

/// Retrieve an end user
///
/// An end user that was struck or blocked, with its strike count. Needs `logs:read`.
#[utoipa::path(
    get,
    path = "/v1/end_users/{user}",
    tag = tags::MODERATION,
    operation_id = "get_end_user",
    security(("api_key" = [])),
    params(("user" = String, Path, description = "The end user's id (the `user` of requests), URL-encoded")),
    responses(
        (status = 200, description = "The end user", body = EndUserObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn get_end_user(
    state: AppState,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<EndUserObject>> {
    check_user("user", &user)?;
    let end_user = state
        .store
        .get_end_user(&caller.account_id, caller.mode, &user)
        .await
        .or_not_found("end_user", &user)?;
    Ok(Json(end_user.into()))
}
