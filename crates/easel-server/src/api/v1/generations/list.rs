//! `GET /v1/generations`.

use axum::Json;
use easel_core::ids::IdKind;
use easel_core::jobs::JobStatus;
use easel_db::GenerationFilter;

use super::dto::{GenerationObject, ListGenerationsParams};
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Query};
use crate::http::pagination::{List, ListParams};
use crate::services::generations;

/// List generations
///
/// The caller's mode's generations, newest first, without deleted ones; filter by
/// `status` and `model`.
#[utoipa::path(
    get,
    path = "/v1/generations",
    tag = tags::GENERATIONS,
    operation_id = "list_generations",
    security(("api_key" = [])),
    params(ListGenerationsParams),
    responses(
        (status = 200, description = "A page of generations", body = List<GenerationObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_generations(
    state: AppState,
    caller: Caller,
    Query(params): Query<ListGenerationsParams>,
) -> ApiResult<Json<List<GenerationObject>>> {
    let page = ListParams {
        limit: params.limit,
        starting_after: params.starting_after,
    }
    .page(IdKind::Generation)?;
    let status = match params.status.as_deref() {
        None => None,
        Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "`status` is one of queued, running, succeeded, failed, canceled, expired.",
            )
        })?),
    };
    let limit = page.limit;
    let filter = GenerationFilter {
        status,
        model: params.model,
    };
    let rows = state
        .store
        .list_generations(&caller.account_id, caller.mode, filter, page)
        .await?;
    let mut page = List::from_rows(rows, limit, |g| g.id.clone(), |g| g);
    let rows = std::mem::take(&mut page.data);
    let mut data = Vec::with_capacity(rows.len());
    for g in rows {
        let standing = generations::queue_standing(&state, &g).await;
        data.push(GenerationObject::build(&state, g, standing));
    }
    Ok(Json(page.with_data(data)))
}
