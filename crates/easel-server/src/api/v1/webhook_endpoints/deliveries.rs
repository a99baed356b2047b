//! `GET /v1/webhook_endpoints/{id}/deliveries`.

use axum::Json;
use axum::extract::Path;
use easel_core::ids::IdKind;

use crate::api::v1::tags;
use crate::api::v1::webhook_deliveries::dto::WebhookDeliveryObject;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Query};
use crate::http::pagination::{List, ListParams};
use crate::services::OrNotFound;
use crate::services::webhooks::check_endpoint_id;

/// List an endpoint's deliveries
///
/// The delivery log: every event sent (or being sent) to the endpoint, newest first, each
/// with its attempts (time, status code, latency, response body excerpt, error). Deleted
/// endpoints keep their log. Needs `webhooks:read`.
#[utoipa::path(
    get,
    path = "/v1/webhook_endpoints/{id}/deliveries",
    tag = tags::WEBHOOKS,
    operation_id = "list_webhook_deliveries",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint id (`whk_…`)"), ListParams),
    responses(
        (status = 200, description = "A page of deliveries", body = List<WebhookDeliveryObject>),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn list_webhook_deliveries(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<List<WebhookDeliveryObject>>> {
    check_endpoint_id(&id)?;
    let page = params.page(IdKind::WebhookDelivery)?;
    let limit = page.limit;
    let rows = state
        .store
        .list_webhook_deliveries(&caller.account_id, caller.mode, &id, page)
        .await
        .or_not_found("webhook_endpoint", &id)?;
    Ok(Json(List::from_rows(
        rows,
        limit,
        |d| d.id.clone(),
        WebhookDeliveryObject::from,
    )))
}
