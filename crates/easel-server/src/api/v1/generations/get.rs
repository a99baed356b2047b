//! `GET /v1/generations/{id}`.

use axum::Json;
use axum::extract::Path;

use super::dto::GenerationObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::{OrNotFound, generations};

/// Retrieve a generation
///
/// With fresh signed output URLs; while queued, with its queue position and ETA.
#[utoipa::path(
    get,
    path = "/v1/generations/{id}",
    tag = tags::GENERATIONS,
    operation_id = "get_generation",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The generation id (`gen_…`)")),
    responses(
        (status = 200, description = "The generation", body = GenerationObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn get_generation(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<GenerationObject>> {
    super::check_id(&id)?;
    let g = state
        .store
        .get_generation(&caller.account_id, caller.mode, &id)
        .await
        .or_not_found("generation", &id)?;
    let standing = generations::queue_standing(&state, &g).await;
    Ok(Json(GenerationObject::build(&state, g, standing)))
}
