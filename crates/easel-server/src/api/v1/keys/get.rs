//! `GET /v1/keys/{id}`.

use axum::Json;
use axum::extract::Path;
use easel_core::ids::IdKind;

use super::dto::ApiKeyObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::OrNotFound;

/// Retrieve an API key
#[utoipa::path(
    get,
    path = "/v1/keys/{id}",
    tag = tags::KEYS,
    operation_id = "get_key",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The key id (`key_…`)")),
    responses(
        (status = 200, description = "The key", body = ApiKeyObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn get_key(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKeyObject>> {
    if !IdKind::ApiKey.is_valid(&id) {
        return Err(ApiError::not_found("api_key", &id));
    }
    let key = state
        .store
        .get_key(&caller.account_id, Some(caller.mode), &id)
        .await
        .or_not_found("api_key", &id)?;
    Ok(Json(key.into()))
}
