//! `DELETE /v1/generations/{id}`.

use axum::Json;
use axum::extract::Path;
use easel_core::time::now_ms;

use super::dto::GenerationObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::OrNotFound;

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
    let g = state
        .store
        .delete_generation(&caller.account_id, caller.mode, &id, now_ms())
        .await
        .or_not_found("generation", &id)?;
    if let Some(jobs) = state.jobs.get() {
        jobs.cancel_local(&g.job_id);
    }
    // The rows already say deleted, so the URLs answer 404 from here on; the objects go
    // now. A failure leaves an orphan file that no URL can reach, logged for the operator.
    let mut paths: Vec<String> = g.outputs.iter().map(|o| o.path.clone()).collect();
    if let Some(path) = g
        .input
        .pointer("/input_image/path")
        .and_then(|p| p.as_str())
    {
        paths.push(path.to_string());
    }
    for path in paths {
        if let Err(e) = state.outputs.delete(&path).await {
            tracing::error!(generation.id = %g.id, error = %format!("{e:#}"), "could not delete an output object");
        }
    }
    Ok(Json(GenerationObject::build(
        &state,
        g,
        crate::services::generations::Standing::default(),
    )))
}
