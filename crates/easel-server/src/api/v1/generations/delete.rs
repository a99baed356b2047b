//! `DELETE /v1/generations/{id}`.

use axum::Json;
use axum::extract::Path;

use super::dto::GenerationObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;

/// Delete a generation
///
/// Deletes its outputs at once (their URLs stop working) and marks it deleted; a queued or
/// running generation is canceled first. Deleting twice is 404.
#[utoipa::path(
    delete,
    path = "/v1/generations/{id}",
    tag = tags::GENERATIONS,
    operation_id = "delete_generation",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The generation id (`gen_…`)")),
    responses(
        (status = 200, description = "The deleted generation, without outputs", body = GenerationObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn delete_generation(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<GenerationObject>> {
    super::check_id(&id)?;
    let g = crate::services::generations::delete(&state, &caller, &id).await?;
    Ok(Json(GenerationObject::build(
        &state,
        g,
        crate::services::generations::Standing::default(),
    )))
}
