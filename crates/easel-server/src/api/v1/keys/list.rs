//! `GET /v1/keys`: the account's keys in the caller's mode, newest first.

use axum::Json;
use easel_core::ids::IdKind;

use super::dto::ApiKeyObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Query};
use crate::http::pagination::{List, ListParams};

/// List API keys
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = tags::KEYS,
    operation_id = "list_keys",
    security(("api_key" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of keys", body = List<ApiKeyObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_keys(
    state: AppState,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<List<ApiKeyObject>>> {
    let page = params.page(IdKind::ApiKey)?;
    let limit = page.limit;
    let rows = state
        .store
        .list_keys(&caller.account_id, Some(caller.mode), page)
        .await?;
    Ok(Json(List::from_rows(
        rows,
        limit,
        |k| k.id.clone(),
        ApiKeyObject::from,
    )))
}
