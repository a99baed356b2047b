//! `GET /v1/webhook_endpoints`.

use axum::Json;
use easel_core::ids::IdKind;

use super::dto::WebhookEndpointObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Query};
use crate::http::pagination::{List, ListParams};

/// List webhook endpoints
///
/// The caller's endpoints in its mode, newest first, without secrets. Needs
/// `webhooks:read`.
#[utoipa::path(
    get,
    path = "/v1/webhook_endpoints",
    tag = tags::WEBHOOKS,
    operation_id = "list_webhook_endpoints",
    security(("api_key" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of endpoints", body = List<WebhookEndpointObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_webhook_endpoints(
    state: AppState,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<List<WebhookEndpointObject>>> {
    let page = params.page(IdKind::WebhookEndpoint)?;
    let limit = page.limit;
    let rows = state
        .store
        .list_webhook_endpoints(&caller.account_id, caller.mode, page)
        .await?;
    Ok(Json(List::from_rows(
        rows,
        limit,
        |e| e.id.clone(),
        WebhookEndpointObject::from,
    )))
}
