//! `GET /v1/models`.

use axum::Json;

use super::dto::ModelObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::http::pagination::List;

/// List models
///
/// Every enabled model with the sizes, counts and durations it accepts and the exact price
/// in credits of each call shape (live mode; test mode is free). `available_on_plan` says
/// whether the caller's plan may use it; `workers_online`, for a model run by remote GPU
/// workers, how many serve it now.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = tags::MODELS,
    operation_id = "list_models",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The models", body = List<ModelObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_models(state: AppState, caller: Caller) -> ApiResult<Json<List<ModelObject>>> {
    let markup = state.config.markup();
    let serving = state
        .workers
        .serving(state.store.as_ref(), &state.config)
        .await;
    let data = state
        .config
        .models
        .iter()
        .filter(|(_, m)| m.enabled)
        .map(|(id, m)| {
            let mut model = ModelObject::new(id, m, &caller.plan, markup);
            if m.engine == crate::workers::ENGINE {
                model.workers_online = Some(serving.get(id).copied().unwrap_or(0));
            }
            model
        })
        .collect();
    Ok(Json(List {
        object: "list",
        data,
        has_more: false,
        next_cursor: None,
    }))
}
