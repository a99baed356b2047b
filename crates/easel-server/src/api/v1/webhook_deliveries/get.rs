//! `GET /v1/webhook_deliveries/{id}`.

use axum::Json;
use axum::extract::Path;

use super::dto::WebhookDeliveryObject;
use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Caller;
use crate::services::OrNotFound;
use crate::services::webhooks::check_delivery_id;

/// Retrieve a webhook delivery
///
/// With every attempt: time, status code, latency, the start of the response body, and
/// the error. Needs `webhooks:read`.
#[utoipa::path(
    get,
    path = "/v1/webhook_deliveries/{id}",
    tag = tags::WEBHOOKS,
    operation_id = "get_webhook_delivery",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The delivery id (`whd_…`)")),
    responses(
        (status = 200, description = "The delivery", body = WebhookDeliveryObject),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn get_webhook_delivery(
    state: AppState,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookDeliveryObject>> {
    check_delivery_id(&id)?;
    let delivery = state
        .store
        .get_webhook_delivery(&caller.account_id, caller.mode, &id)
        .await
        .or_not_found("webhook_delivery", &id)?;
    Ok(Json(delivery.into()))
}
